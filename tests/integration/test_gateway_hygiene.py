#!/usr/bin/env python3
"""Header hygiene: client-sent decision headers never reach upstream and change nothing;
forwarding headers from an untrusted peer change nothing; anonymized classes reach upstream
without identity headers or the client's address.

One gateway trusts only 127.0.0.2/32: curl --interface 127.0.0.2 is the trusted proxy,
127.0.0.1 an ordinary (untrusted, private, so unknown-location) client."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

PROXY = "127.0.0.2"
SPOOF = {
    "X-Domicile-Region": "r-gamma",
    "X-Domicile-Jurisdiction": "T-CN",
    "X-Domicile-Class": "telemetry",
    "X-Domicile-Rule-Version": "spoofed-version",
    "X-Domicile-Anything": "spoofed-anything",
    "X-Residency-Region": "r-gamma",
    "X-Residency-Override": "spoofed-override",
}
IDENTITY = ("cookie", "authorization", "x-forwarded-for", "forwarded", "x-real-ip", "x-user-id", "x-device-id")


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    cfg = H.base_config(d, rules, backends, trusted=(PROXY + "/32",), clusters=H.small_clusters(backends))
    gw = H.Gateway(d, cfg).start()
    tls_port = gw.listener("tls")[1]
    clear_port = gw.listener("clear")[1]
    de, cn = H.geo_addr("DE"), H.geo_addr("CN")

    def send(proto, method, path, body, headers, interface=PROXY):
        port = clear_port if proto in ("h2c", "h1c") else tls_port
        return H.curl(port, path, method=method, headers=headers, body=body, proto=proto, interface=interface)

    def one_record(path):
        recs = [r for r in H.all_records(backends) if r["path"] == path]
        return recs[0] if len(recs) == 1 else None, recs

    # A. Spoofed decision headers from a trusted proxy's client.
    for proto in ("h2", "h1", "h2c"):
        for cls, base, region in (("account", "/v1/account", "r-alpha"), ("content", "/v1/sync", "r-alpha")):
            path = "%s/spoof-%s" % (base, H.uid())
            body = H.random_body()
            r = send(proto, "PUT", path, body, dict(SPOOF, **{"X-Forwarded-For": de}))
            rec, recs = one_record(path)
            label = "%s %s write with spoofed X-Domicile-*/X-Residency-*" % (proto, cls)
            if not t.ok(r.status == 200 and rec is not None, "%s: routed as without them" % label, (r, recs)):
                continue
            h = rec["headers"]
            t.eq(rec["region"], region, "%s: same region as the rules say" % label)
            t.eq(h.get("x-domicile-region"), region, "%s: upstream X-Domicile-Region is the gateway's" % label)
            t.eq(h.get("x-domicile-jurisdiction"), "T-EU", "%s: upstream X-Domicile-Jurisdiction is the gateway's"
                 % label)
            t.eq(h.get("x-domicile-class"), cls, "%s: upstream X-Domicile-Class is the gateway's" % label)
            t.eq(h.get("x-domicile-rule-version"), "t-2026-01", "%s: upstream rule version is the gateway's" % label)
            leaked = {k: v for k, v in h.items() if k.startswith("x-residency-") or k == "x-domicile-anything"
                      or "spoofed" in v or "T-CN" in v or "r-gamma" in v}
            t.eq(leaked, {}, "%s: no client-sent decision header or value upstream" % label)
            t.eq(rec["body_sha256"], H.sha256(body), "%s: body intact" % label)
    # spoofing cannot turn a refusal into a route
    path = "/v1/sync/spoof-cn-%s" % H.uid()
    r = send("h2", "PUT", path, H.random_body(),
             {"X-Forwarded-For": cn, "X-Domicile-Jurisdiction": "T-EU", "X-Domicile-Region": "r-alpha"})
    t.eq(r.status, 451, "CN content write with spoofed T-EU/r-alpha headers is still refused (451)")
    t.eq(one_record(path)[1], [], "the spoofed refused write reached no backend")

    # B. Forwarding headers from an untrusted peer (127.0.0.1) are ignored: the peer is the
    #    client, a private address, so the default rule applies whatever the headers claim.
    fwd_variants = [
        {"X-Forwarded-For": de},
        {"Forwarded": "for=%s" % de},
        {"X-Real-IP": de},
        {"X-Forwarded-For": de, "Forwarded": 'for="%s";proto=https' % de},
    ]
    for proto in ("h2", "h1", "h2c"):
        for hdrs in fwd_variants:
            label = "%s untrusted peer with %s" % (proto, ", ".join(hdrs))
            path = "/v1/account/untrusted-%s" % H.uid()
            r = send(proto, "PUT", path, H.random_body(), hdrs, interface="127.0.0.1")
            j = r.json() or {}
            t.ok(r.status == 451 and j.get("jurisdiction") == "T-DEFAULT" and j.get("reason") == "unknown_location",
                 "%s: account write gets the default rule's 451" % label, r)
            t.eq(one_record(path)[1], [], "%s: refused account write reached no backend" % label)
            path = "/v1/sync/untrusted-%s" % H.uid()
            body = H.random_body()
            r = send(proto, "PUT", path, body, hdrs, interface="127.0.0.1")
            rec, recs = one_record(path)
            if t.ok(r.status == 200 and rec is not None, "%s: content write routed by the default rule" % label,
                    (r, recs)):
                t.eq(rec["region"], "r-beta", "%s: default rule's region (not DE's r-alpha)" % label)
                t.eq(rec["headers"].get("x-domicile-jurisdiction"), "T-DEFAULT", "%s: jurisdiction T-DEFAULT" % label)
                t.eq(rec["headers"].get("x-forwarded-for"), "127.0.0.1",
                     "%s: upstream X-Forwarded-For is the peer, the client's claim dropped" % label)
                t.ok(de not in " ".join(rec["headers"].values()),
                     "%s: the claimed address appears nowhere upstream" % label, rec["headers"])
    # control: the same claims from the trusted proxy are honoured
    path = "/v1/account/trusted-%s" % H.uid()
    r = send("h2", "PUT", path, H.random_body(), {"X-Forwarded-For": de})
    rec, recs = one_record(path)
    t.ok(r.status == 200 and rec is not None and rec["region"] == "r-alpha"
         and rec["headers"].get("x-forwarded-for") == de,
         "control: the trusted proxy's X-Forwarded-For routes DE's account write to r-alpha", (r, recs))
    path = "/v1/account/trusted-fwd-%s" % H.uid()
    r = send("h2", "PUT", path, H.random_body(), {"Forwarded": "for=%s" % de})
    rec, recs = one_record(path)
    t.ok(r.status == 200 and rec is not None and rec["region"] == "r-alpha",
         "control: the trusted proxy's Forwarded routes DE's account write to r-alpha", (r, recs))

    # Malformed or hidden forwarding claims from the trusted proxy: never guessed, fail closed.
    for hdrs, label in (({"X-Forwarded-For": "not-an-address"}, "malformed X-Forwarded-For"),
                        ({"X-Forwarded-For": "5.1.2.3.4"}, "five-part X-Forwarded-For"),
                        ({"X-Forwarded-For": "010.001.002.003"}, "loose-form X-Forwarded-For"),
                        ({"Forwarded": "for=_hidden"}, "obfuscated Forwarded hop"),
                        ({"Forwarded": "for=unknown"}, "unknown Forwarded hop")):
        path = "/v1/account/claim-%s" % H.uid()
        r = send("h2", "PUT", path, H.random_body(), hdrs)
        j = r.json() or {}
        t.ok(r.status == 451 and j.get("jurisdiction") == "T-DEFAULT",
             "trusted proxy with %s: unknown location, the default rule's 451" % label, r)
        t.eq(one_record(path)[1], [], "trusted proxy with %s: nothing reached a backend" % label)

    # C. Anonymized classes (telemetry) lose identity headers and every trace of the client address.
    ident = {
        "Cookie": "session=secret-cookie",
        "Authorization": "Bearer secret-token",
        "X-Forwarded-For": de,
        "Forwarded": "for=%s" % de,
        "X-Real-IP": de,
        "X-User-Id": "user-1234",
        "X-Device-Id": "device-5678",
    }
    for proto in ("h2", "h1", "h2c"):
        for method, base in (("POST", "/v1/crash"), ("PUT", "/v1/crash/report")):
            path = "%s/anon-%s" % (base, H.uid())
            body = H.random_body()
            r = send(proto, method, path, body, ident)
            rec, recs = one_record(path)
            label = "%s telemetry %s %s" % (proto, method, base)
            if not t.ok(r.status == 200 and rec is not None, "%s: routed" % label, (r, recs)):
                continue
            h = rec["headers"]
            t.eq([k for k in IDENTITY if k in h], [], "%s: no identity headers upstream" % label)
            vals = " ".join("%s: %s" % kv for kv in h.items())
            for needle in (de, PROXY, "secret-cookie", "secret-token", "user-1234", "device-5678"):
                t.ok(needle not in vals, "%s: %r appears nowhere upstream" % (label, needle), h)
            t.eq(rec["body_sha256"], H.sha256(body), "%s: body intact" % label)
            t.eq(h.get("x-domicile-class"), "telemetry", "%s: class telemetry" % label)
    # not anonymized: the same headers pass for account data (the service needs them)
    path = "/v1/account/ident-%s" % H.uid()
    r = send("h2", "PUT", path, H.random_body(), ident)
    rec, recs = one_record(path)
    if t.ok(r.status == 200 and rec is not None, "account write with identity headers routed", (r, recs)):
        t.eq(rec["headers"].get("authorization"), "Bearer secret-token",
             "account (not anonymized) keeps Authorization: stripping is per class")
        t.eq(rec["headers"].get("x-forwarded-for"), de, "account: X-Forwarded-For is the resolved client")
    t.ok(gw.proc.poll() is None, "gateway still running at the end", gw.stderr()[-2000:])


if __name__ == "__main__":
    H.run_test("gateway_hygiene", main, timeout=90)
