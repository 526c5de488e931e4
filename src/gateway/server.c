/* STUB: replaced by the gateway. */
int dom__gateway_stub;
