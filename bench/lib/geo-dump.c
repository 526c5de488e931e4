/*
 * bench/lib/geo-dump DB: print every IPv4 network of DB with its country, one "a.b.c.d/len CC" line
 * each (GeoIP2 shape country.iso_code, or the flat shape's country_code; networks without a country
 * are left out). bench/run turns the lines into HAProxy's map_ip file, so that HAProxy routes by the
 * same database as domicile and nginx+geoip2. Walks the search tree with MMDB_read_node.
 */
#include <maxminddb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static MMDB_s mmdb;
static unsigned long printed;

static void print_entry(uint32_t net, unsigned len, MMDB_entry_s *entry)
{
    MMDB_entry_data_s d;
    if ((MMDB_get_value(entry, &d, "country", "iso_code", NULL) != MMDB_SUCCESS || !d.has_data) &&
        (MMDB_get_value(entry, &d, "country_code", NULL) != MMDB_SUCCESS || !d.has_data))
        return;
    if (d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
        return;
    printf("%u.%u.%u.%u/%u %.2s\n", net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, len, d.utf8_string);
    ++printed;
}

static void walk(uint32_t node, uint32_t net, unsigned depth)
{
    MMDB_search_node_s n;
    if (depth > 32 || MMDB_read_node(&mmdb, node, &n) != MMDB_SUCCESS)
        return;
    for (int bit = 0; bit < 2; ++bit) {
        uint32_t sub = bit ? net | (UINT32_C(1) << (31 - depth)) : net;
        uint8_t type = bit ? n.right_record_type : n.left_record_type;
        if (type == MMDB_RECORD_TYPE_SEARCH_NODE)
            walk(bit ? (uint32_t)n.right_record : (uint32_t)n.left_record, sub, depth + 1);
        else if (type == MMDB_RECORD_TYPE_DATA)
            print_entry(sub, depth + 1, bit ? &n.right_record_entry : &n.left_record_entry);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: geo-dump DB\n");
        return 2;
    }
    if (MMDB_open(argv[1], MMDB_MODE_MMAP, &mmdb) != MMDB_SUCCESS) {
        fprintf(stderr, "geo-dump: cannot open %s\n", argv[1]);
        return 2;
    }
    uint32_t node = 0;
    if (mmdb.metadata.ip_version == 6) {
        /* IPv4 lives under ::/96: 96 left turns from the root */
        for (int i = 0; i < 96; ++i) {
            MMDB_search_node_s n;
            if (MMDB_read_node(&mmdb, node, &n) != MMDB_SUCCESS || n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE) {
                fprintf(stderr, "geo-dump: no IPv4 subtree in %s\n", argv[1]);
                return 1;
            }
            node = (uint32_t)n.left_record;
        }
    }
    walk(node, 0, 0);
    MMDB_close(&mmdb);
    fprintf(stderr, "geo-dump: %lu IPv4 networks\n", printed);
    return printed != 0 ? 0 : 1;
}
