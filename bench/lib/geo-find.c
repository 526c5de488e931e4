/*
 * bench/lib/geo-find DB COUNTRY: print one public IPv4 address that DB places in COUNTRY
 * (GeoIP2 shape country.iso_code, or the flat shape's country_code), so every contender
 * of bench/run looks up an address the database really knows. Tries seeded random
 * addresses for a bounded number of attempts; exit 1 if none is found.
 */
#include <maxminddb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int country_is(MMDB_lookup_result_s *res, const char *want)
{
    MMDB_entry_data_s d;
    if (MMDB_get_value(&res->entry, &d, "country", "iso_code", NULL) != MMDB_SUCCESS || !d.has_data) {
        if (MMDB_get_value(&res->entry, &d, "country_code", NULL) != MMDB_SUCCESS || !d.has_data)
            return 0;
    }
    return d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == strlen(want) &&
           memcmp(d.utf8_string, want, d.data_size) == 0;
}

int main(int argc, char **argv)
{
    MMDB_s mmdb;
    if (argc != 3) {
        fprintf(stderr, "usage: geo-find DB COUNTRY\n");
        return 2;
    }
    if (MMDB_open(argv[1], MMDB_MODE_MMAP, &mmdb) != MMDB_SUCCESS) {
        fprintf(stderr, "geo-find: cannot open %s\n", argv[1]);
        return 2;
    }
    uint64_t s = 12345;
    for (int i = 0; i < 5000000; ++i) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t a = (uint32_t)(s >> 32);
        unsigned o1 = a >> 24;
        if (o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224 || o1 == 100 || o1 == 169 || o1 == 172 || o1 == 192 ||
            o1 == 198)
            continue; /* keep clear of special-purpose ranges */
        char ip[16];
        snprintf(ip, sizeof ip, "%u.%u.%u.%u", o1, (a >> 16) & 255, (a >> 8) & 255, a & 255);
        int gai, err;
        MMDB_lookup_result_s res = MMDB_lookup_string(&mmdb, ip, &gai, &err);
        if (gai == 0 && err == MMDB_SUCCESS && res.found_entry && country_is(&res, argv[2])) {
            printf("%s\n", ip);
            MMDB_close(&mmdb);
            return 0;
        }
    }
    MMDB_close(&mmdb);
    fprintf(stderr, "geo-find: no %s address found in %s\n", argv[2], argv[1]);
    return 1;
}
