#!/usr/bin/env python3
"""A corrupt geo database at reload keeps the old one. The gateway runs on a copy of
geo-test.mmdb and watches it (geo.reload_poll 100ms); each corrupt fixture is renamed over
that file (as geoipupdate does). The gateway must keep running, count the refused reload
(admin /status: geo.reload_failures; readiness is polled there, never slept for) and keep
routing with the old data (a DE address still goes to r-alpha). Finally a *good* new database (the
DE network remapped to CN, written here with MaxMind's writer) is renamed in:
the gateway must pick it up, which shows the refusals above were refusals, not a reload
that never happens."""
import os
import json
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

CORRUPT = ["geo-truncated.mmdb", "geo-truncated-meta.mmdb", "geo-flipped-tree.mmdb", "geo-flipped-data.mmdb",
           "geo-bad-metadata.mmdb", "geo-empty.mmdb", "geo-not-mmdb.mmdb"]

REMAP_PL = r"""
use strict; use warnings; use MaxMind::DB::Writer::Tree;
my $t = MaxMind::DB::Writer::Tree->new(ip_version => 6, record_size => 28, database_type => 'GeoIP2-City',
    languages => ['en'], description => {en => 'domicile reload test'}, remove_reserved_networks => 0,
    map_key_type_callback => sub { { country => 'map', iso_code => 'utf8_string' }->{$_[0]} });
$t->insert_network('5.1.0.0/16', { country => { iso_code => 'CN' } });
open my $fh, '>:raw', $ARGV[0] or die; $t->write_tree($fh); close $fh;
"""


def install(src_bytes, dest):
    tmp = dest + ".new"
    with open(tmp, "wb") as f:
        f.write(src_bytes)
    os.replace(tmp, dest)


def main(t):
    H.require_tools("curl", "perl")
    d = H.tmpdir()
    geo = os.path.join(d, "live.mmdb")
    with open(H.GEO_DB, "rb") as f:
        good = f.read()
    install(good, geo)
    _, rules = H.small_rules(d)
    admin = H.free_port()
    d, backends, gw = X.small_gateway(t, threads=2, d=d, rules=rules,
                                      extra={"geo": {"database": geo, "reload_poll": "100ms"},
                                             "admin": {"listen": "127.0.0.1:%d" % admin}})

    def geo_status():
        st, body = X.admin_get(admin, "/status")
        try:
            return json.loads(body)["geo"] if st == 200 else None
        except (ValueError, KeyError):
            return None

    H.wait_until(geo_status, 10, what="admin /status")
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")

    def de_write():
        path = "/v1/sync/geo-reload-%s" % H.uid()
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": de}, b"g" * 16, proto="h2c", timeout=10)
        recs = [x for x in H.all_records(backends) if x["path"] == path]
        return r, recs

    r, recs = de_write()
    t.ok(r.status == 200 and recs and recs[0]["region"] == "r-alpha", "before: DE content write → r-alpha", (r, recs))

    for name in CORRUPT:
        before = len(gw.stderr())  # before the install: the watcher may report at once
        with open(os.path.join(H.FIXTURES, name), "rb") as f:
            install(f.read(), geo)
        try:
            H.wait_until(lambda: gw.proc.poll() is not None or geo in gw.stderr()[before:], 10,
                         what="the gateway's report of the refused reload on stderr")
            t.ok("keeping the previous" in gw.stderr()[before:], "%s: the gateway reports it keeps the previous "
                 "database" % name, gw.stderr()[before:])
        except H.TestFailure as e:
            t.ok(False, "%s: the gateway reports the refused reload" % name, str(e))
        t.ok(gw.proc.poll() is None, "%s: the gateway survives the reload attempt" % name, gw.stderr()[-800:])
        if gw.proc.poll() is not None:
            raise H.TestFailure("the gateway died on a corrupt geo database (exit %s)" % gw.proc.returncode)
        r, recs = de_write()
        t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-alpha"
             and recs[0]["headers"].get("x-domicile-jurisdiction") == "T-EU",
             "%s: the old database is kept (DE write still T-EU → r-alpha)" % name, (r, recs))
        t.note("FIGURE geo_reload.%s = %s" % (name, gw.stderr()[before:].strip().replace("\n", " | ")[:200]))

    st = geo_status() or {}
    t.eq(st.get("reload_failures"), len(CORRUPT), "admin /status counts every refused reload (geo.reload_failures)")
    t.note("FIGURE geo_reload.status = %s" % json.dumps(st))

    # a good new database is picked up
    remap = os.path.join(d, "remap.mmdb")
    H.run(["perl", "-e", REMAP_PL, remap], timeout=60, check=True)
    with open(remap, "rb") as f:
        install(f.read(), geo)

    def now_cn():
        path = "/v1/sync/geo-reload-%s" % H.uid()
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": de}, b"g" * 16, proto="h2c", timeout=10)
        return r if r.status == 451 else None

    try:
        r = H.wait_until(now_cn, 10, interval=0.2, what="the remapped database to take effect")
        t.ok((r.json() or {}).get("jurisdiction") == "T-CN",
             "a good new database is loaded on reload (5.1.2.3 is now CN: 451)", r)
    except H.TestFailure as e:
        t.ok(False, "a good new database is loaded on reload", str(e))


if __name__ == "__main__":
    H.run_test("fault_geo_reload", main, timeout=120)
