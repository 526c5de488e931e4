#!/usr/bin/env python3
"""Issue 12 item 4: an unknown subdivision fails safe. With a geo database that gives countries
only, a Canadian client may be in Quebec: its writes go only where both CA-PIPEDA and CA-QC allow
(ca-central), never to us-east, the laxest; `explain` says so in words; `serve --check` warns.
With a database that gives subdivisions, Quebec gets CA-QC and Ontario CA-PIPEDA.

The two databases are built here with MaxMind's Perl writer (same networks, with and without
subdivisions). Real gateway, shipped rules, recording backends.
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

# 6.1.0.0/16 is Quebec, 6.2.0.0/16 Ontario, 6.3.0.0/16 Germany; the country-only database says CA, CA, DE.
WRITER_PL = r"""
use strict; use warnings; use MaxMind::DB::Writer::Tree;
my ($out, $with_subdivisions) = @ARGV;
my $t = MaxMind::DB::Writer::Tree->new(ip_version => 6, record_size => 28, database_type => 'GeoIP2-City',
    languages => ['en'], description => {en => 'domicile subdivision test'}, remove_reserved_networks => 0,
    alias_ipv6_to_ipv4 => 1,
    map_key_type_callback => sub { { country => 'map', iso_code => 'utf8_string', subdivisions => ['array', 'map'],
                                     is_in_european_union => 'boolean' }->{$_[0]} });
for my $n (['6.1.0.0/16', 'CA', 'QC'], ['6.2.0.0/16', 'CA', 'ON'], ['6.3.0.0/16', 'DE', undef]) {
    my %rec = (country => { iso_code => $n->[1] });
    $rec{country}{is_in_european_union} = 1 if $n->[1] eq 'DE';
    $rec{subdivisions} = [ { iso_code => $n->[2] } ] if $with_subdivisions && defined $n->[2];
    $t->insert_network($n->[0], \%rec);
}
open my $fh, '>:raw', $out or die; $t->write_tree($fh); close $fh;
"""
QC, ON, DE = "6.1.2.3", "6.2.2.3", "6.3.2.3"


def records_for(backends, path):
    return [r for r in H.all_records(backends) if r["path"] == path]


def put(gw, path, addr, method="PUT"):
    return H.curl(gw.listener("clear")[1], path, method=method, headers={"X-Forwarded-For": addr}, body=b"q" * 32,
                  proto="h2c")


def main(t):
    H.require_tools("curl", "perl")
    d = H.tmpdir()
    country_db, sub_db = os.path.join(d, "geo-country.mmdb"), os.path.join(d, "geo-subdivision.mmdb")
    H.run(["perl", "-e", WRITER_PL, country_db, "0"], timeout=60, check=True)
    H.run(["perl", "-e", WRITER_PL, sub_db, "1"], timeout=60, check=True)
    rules = H.compile_rules(out_dir=d)
    backends = H.start_backends(d, H.rules_regions())

    # --- the country-only database ---
    ex = H.explain(rules, QC, "PUT", "/v1/account/x", geo=country_db)
    t.ok(ex["geo"]["country"] == "CA" and not ex["geo"]["subdivision"], "country-only: CA, no subdivision", ex["geo"])
    t.ok((ex["action"], H.region_names(ex)) == ("route", ["ca-central"]),
         "country-only: a Canadian account write may go only to ca-central (CA-PIPEDA and CA-QC)", ex)
    t.eq([j["jurisdiction"] for j in ex.get("jurisdictions") or []], ["CA-PIPEDA", "CA-QC"],
         "explain names both jurisdictions")
    t.eq(ex.get("joint"), ["subdivision_unknown"], "explain says why (JSON)")
    t.eq(ex.get("on_unavailable"), "reject", "CA-QC's on_unavailable (reject) holds: never failed over to us-east")
    crash = H.explain(rules, QC, "POST", "/v1/crash", geo=country_db)
    t.eq(H.region_names(crash), ["ca-central", "us-east"], "country-only: crash reports where both allow them")
    words = H.run([H.BIN, "explain", "--rules", rules, "--geo-db", country_db, "--ip", QC, "--method", "PUT",
                   "--path", "/v1/account/x"], timeout=30).stdout
    words = words.decode() if isinstance(words, bytes) else words
    t.ok("does not say which subdivision of CA" in words and "never the laxest" in words and
         "no rule for the subdivision" not in words, "explain says it in words", words)

    cfg = H.base_config(d, rules, backends, listeners=("clear",), extra={"geo": {"database": country_db}})
    gw = H.Gateway(d, cfg, name="gateway-country").start()
    for addr in (QC, ON):
        for base in ("/v1/account", "/v1/sync", "/v1/devices"):
            path = "%s/sub-%s" % (base, H.uid())
            resp = put(gw, path, addr)
            recs = records_for(backends, path)
            t.ok(resp.status == 200 and [r["region"] for r in recs] == ["ca-central"],
                 "country-only: %s %s lands on ca-central only" % (addr, base), (resp, recs))
            if recs:
                t.eq(recs[0]["headers"].get("x-domicile-jurisdiction"), "CA-PIPEDA", "upstream: the country's rule")
    us_east = [r for r in H.all_records(backends) if r["region"] == "us-east"]
    t.eq(us_east, [], "no Canadian write reached us-east (allowed by CA-PIPEDA only)")

    # serve --check warns, with the one text of the core
    cfg_path = os.path.join(d, "check-country.yaml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        f.write(H.to_yaml(cfg))
    r = H.run([H.BIN, "serve", "-c", cfg_path, "--check"], timeout=30)
    out = (r.stdout + r.stderr) if isinstance(r.stdout, str) else (r.stdout + r.stderr).decode()
    t.ok(r.returncode == 0 and "(with warnings)" in out, "serve --check passes with warnings", out)
    t.ok("cannot say which subdivision" in out and "CA: CA-PIPEDA and CA-QC" in out and "US: US and US-CA" in out,
         "serve --check names the countries and their jurisdictions", out)

    # --- the database with subdivisions ---
    cfg2 = H.base_config(d, rules, backends, listeners=("clear",), extra={"geo": {"database": sub_db}})
    gw2 = H.Gateway(d, cfg2, name="gateway-subdivision").start()
    for addr, jur, regions in ((QC, "CA-QC", ["ca-central"]), (ON, "CA-PIPEDA", ["ca-central", "us-east"])):
        ex = H.explain(rules, addr, "PUT", "/v1/account/x", geo=sub_db)
        t.ok((ex["jurisdiction"], ex["jurisdiction_source"], H.region_names(ex), ex.get("joint")) ==
             (jur, "subdivision" if jur == "CA-QC" else "country", regions, []),
             "subdivision database: %s -> %s %s" % (addr, jur, regions), ex)
        path = "/v1/account/sub-%s" % H.uid()
        resp = put(gw2, path, addr)
        recs = records_for(backends, path)
        t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"] == "ca-central" and
             recs[0]["headers"].get("x-domicile-jurisdiction") == jur,
             "subdivision database: %s account write under %s on ca-central" % (addr, jur), (resp, recs))
    cfg_path = os.path.join(d, "check-subdivision.yaml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        f.write(H.to_yaml(cfg2))
    r = H.run([H.BIN, "serve", "-c", cfg_path, "--check"], timeout=30)
    out = (r.stdout + r.stderr) if isinstance(r.stdout, str) else (r.stdout + r.stderr).decode()
    t.ok(r.returncode == 0 and "CA: " not in out and "US: US and US-CA" in out,
         "serve --check: CA's subdivisions are known now; US (none in this database) is still named", out)
    t.ok(gw.proc.poll() is None and gw2.proc.poll() is None, "gateways still running")


if __name__ == "__main__":
    H.run_test("law_unknown_subdivision", main, timeout=150)
