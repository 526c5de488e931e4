#!/usr/bin/env python3
"""Writes from every jurisdiction of the shipped rule set land only on backends of regions
those rules allow, bodies intact, over h2/TLS, HTTP/1.1/TLS and h2c; via X-Forwarded-For
from a trusted proxy and via residency pins. Expected regions come from `domicile explain`;
a few hand-stated facts are asserted on top so a wrong rule set cannot agree with itself."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

PROTOS = ("h2", "h1", "h2c")
CLASS_PATHS = {"account": "/v1/account/itest", "content": "/v1/sync/itest"}


def send(gw, proto, method, path, body, headers):
    port = gw.listener("clear" if proto == "h2c" else "tls")[1]
    return H.curl(port, path, method=method, headers=headers, body=body, proto=proto)


def records_for(backends, path):
    return [r for r in H.all_records(backends) if r["path"] == path]


def check_routed(t, backends, resp, path, body, dec, label, want_xff=None, want_jur=None):
    """Checks one request the rules route: 200, exactly one record, allowed region, headers."""
    recs = records_for(backends, path)
    allowed = H.region_names(dec)
    jur = want_jur or H.jname(dec)
    if not t.ok(resp.status == 200, "%s: routed (200)" % label, "got %r; explain: %s" % (resp, dec)):
        return None
    j = resp.json() or {}
    t.eq(j.get("body_sha256"), H.sha256(body), "%s: backend saw the body intact (client side)" % label)
    if not t.eq(len(recs), 1, "%s: exactly one backend record" % label):
        return None
    rec = recs[0]
    h = rec["headers"]
    t.isin(rec["region"], allowed, "%s: landed in an allowed region" % label)
    t.eq(rec["region"], allowed[0] if allowed else None, "%s: first allowed region (all healthy)" % label)
    t.eq(rec["body_sha256"], H.sha256(body), "%s: body sha256 equal upstream" % label)
    t.eq(rec["body_len"], len(body), "%s: body length equal upstream" % label)
    t.eq(h.get("x-domicile-jurisdiction"), jur, "%s: X-Domicile-Jurisdiction" % label)
    t.eq(h.get("x-domicile-region"), rec["region"], "%s: X-Domicile-Region names the region used" % label)
    if dec.get("class"):
        t.eq(h.get("x-domicile-class"), dec.get("class"), "%s: X-Domicile-Class" % label)
    else:
        t.ok(bool(h.get("x-domicile-class")), "%s: X-Domicile-Class present" % label)
    t.eq(h.get("x-domicile-rule-version"), dec.get("rule_version"), "%s: X-Domicile-Rule-Version" % label)
    t.ok(bool(h.get("x-request-id")), "%s: X-Request-Id upstream" % label, h)
    if want_xff is not None:
        t.eq(h.get("x-forwarded-for"), want_xff, "%s: upstream X-Forwarded-For is the resolved client" % label)
        fwd = h.get("forwarded")
        if fwd is not None:
            fors = [p.strip() for p in fwd.replace(",", ";").split(";") if p.strip().lower().startswith("for=")]
            want = ['for="[%s]"' % want_xff if ":" in want_xff else "for=%s" % want_xff]
            t.eq(fors, want, "%s: upstream Forwarded names only the resolved client" % label)
    dr = resp.header("domicile-region")
    t.eq(dr, rec["region"], "%s: response Domicile-Region (expose_decision_headers)" % label)
    return rec


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    rules = H.compile_rules(out_dir=d)
    regions = H.rules_regions()
    t.require(len(regions) >= 3, "shipped rule set declares storage regions", regions)
    backends = H.start_backends(d, regions)
    secret = os.urandom(32)
    keys = H.write_pin_keys(d, {"itest1": secret})
    gw = H.Gateway(d, H.base_config(d, rules, backends, pin_keys=keys)).start()

    rows = H.geo_table()
    t.require(len(rows) >= 20, "geo fixture table has the documented rows", len(rows))

    # 1. X-Forwarded-For from a trusted proxy (127.0.0.1 is in trusted_proxies).
    by_jur = {}
    routed = 0
    method_cycle = ("PUT", "POST")
    n = 0
    for row in rows:
        addr = row["address"]
        for cls, base in CLASS_PATHS.items():
            dec = H.explain(rules, addr, "PUT", base)
            by_jur.setdefault(H.jname(dec), (row, dec))
            for proto in PROTOS:
                n += 1
                method = method_cycle[n % 2]
                path = "%s/%s" % (base, H.uid())
                body = H.random_body()
                label = "%s %s %s(%s) %s" % (proto, method, addr, row["country"] + (
                    "/" + row["subdivision"] if row["subdivision"] else ""), cls)
                resp = send(gw, proto, method, path, body, {"X-Forwarded-For": addr})
                if dec["action"] == "route":
                    if check_routed(t, backends, resp, path, body, dec, label, want_xff=addr):
                        routed += 1
                else:
                    t.eq(resp.status, dec["status"], "%s: refused with explain's status" % label)
                    t.eq(records_for(backends, path), [], "%s: refused request reached no backend" % label)
    t.ok(routed >= 30, "most fixture locations route some writes (%d routed)" % routed)
    t.ok(len(by_jur) >= 4, "the fixture reaches several jurisdictions: %s" % sorted(map(str, by_jur)))

    # 2. Hand-stated facts, from the backends' own records (not from explain).
    def land(country, path_base, sub=None):
        addr = H.geo_addr(country, sub)
        path = "%s/fact-%s" % (path_base, H.uid())
        body = H.random_body()
        resp = send(gw, "h2", "PUT", path, body, {"X-Forwarded-For": addr})
        recs = records_for(backends, path)
        return resp, recs, body

    resp, recs, body = land("DE", "/v1/account")
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"].startswith("eu-"),
         "fact: a DE account write lands on an eu-* backend", (resp, recs))
    t.ok(bool(recs) and recs[0]["body_sha256"] == H.sha256(body), "fact: DE account body intact")
    resp, recs, _ = land("FR", "/v1/sync")
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"].startswith("eu-"),
         "fact: a FR content write lands on an eu-* backend", (resp, recs))
    resp, recs, _ = land("CN", "/v1/sync")
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"].startswith("cn-"),
         "fact: a CN content write lands on a cn-* backend", (resp, recs))
    resp, recs, _ = land("RU", "/v1/sync")
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"].startswith("ru-"),
         "fact: a RU content write lands on a ru-* backend", (resp, recs))
    resp, recs, _ = land("RU", "/v1/account")
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"].startswith("ru-"),
         "fact: a RU account write lands on a ru-* backend", (resp, recs))

    # 3. X-Forwarded-For chains: the rightmost untrusted hop is the client, and upstream gets
    #    exactly that address (replaced, not appended).
    de, us = H.geo_addr("DE"), H.geo_addr("US", "US-NY")
    dec = H.explain(rules, de, "PUT", CLASS_PATHS["content"])
    for xff, label in ((us + ", " + de, "untrusted hop left of the client"),
                       (de + ", 127.0.0.9", "trusted hop right of the client")):
        path = "%s/xff-%s" % (CLASS_PATHS["content"], H.uid())
        body = H.random_body()
        resp = send(gw, "h2", "POST", path, body, {"X-Forwarded-For": xff})
        check_routed(t, backends, resp, path, body, dec, "XFF %r (%s)" % (xff, label), want_xff=de)

    # 4. Pins: a valid pin names the user's home jurisdiction; from a location under another law both apply
    #    (issue 12: the intersection, or 451 conflict_of_laws), from an unknown location the pin alone.
    jurs = [j for j in by_jur if j]
    other_row = rows[0]
    for jur in jurs:
        row, dec0 = by_jur[jur]
        pin = H.mint_pin(keys, "itest1", jur)
        # send from a location that geolocates to a different jurisdiction, if there is one
        src = next((r for r in rows if H.jname(H.explain(rules, r["address"], "PUT", CLASS_PATHS["content"])) != jur),
                   other_row)
        for cls, base in CLASS_PATHS.items():
            dec = H.explain(rules, src["address"], "PUT", base, extra=("--pin-keys", keys, "--pin", pin))
            for proto in PROTOS:
                path = "%s/pin-%s" % (base, H.uid())
                body = H.random_body()
                label = "pin %s from %s %s %s" % (jur, src["country"], proto, cls)
                resp = send(gw, proto, "PUT", path, body, {"X-Forwarded-For": src["address"], "domicile-pin": pin})
                if dec["action"] == "route":
                    check_routed(t, backends, resp, path, body, dec, label, want_xff=src["address"])
                else:
                    t.eq(resp.status, dec["status"], "%s: refused like its jurisdiction" % label)
                    t.eq(records_for(backends, path), [], "%s: refused request reached no backend" % label)

    # 5. Global invariant over everything recorded in this run.
    bad = []
    for rec in H.all_records(backends):
        if not rec["path"].startswith("/v1/"):
            continue
        jur = rec["headers"].get("x-domicile-jurisdiction")
        if rec["headers"].get("x-domicile-region") != rec["region"]:
            bad.append(rec)
        if jur not in by_jur:
            bad.append(rec)
    t.eq(bad, [], "every record carries its own region and a known jurisdiction")
    t.ok(gw.proc.poll() is None, "gateway still running at the end", gw.stderr()[-2000:])


if __name__ == "__main__":
    H.run_test("gateway_routing", main, timeout=90)
