/* STUB: replaced by the decision benchmark. */
int main(void)
{
    return 0;
}
