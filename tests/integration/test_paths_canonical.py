#!/usr/bin/env python3
"""Path confusion cannot bypass classification: what the gateway classifies is what it forwards.

Two gateways with the same rules: one in front of recording backends that normalise the
request-target as nginx does (every %XX decoded, slashes merged, dot segments resolved), one
in front of backends that take it verbatim. More than 40 hostile targets are sent as writes
(PUT) over h2, h1 and h2c, from a known location (DE, through a trusted proxy) and an unknown
one (a private address through the same proxy). For every target, on both gateways:

- the gateway's answer is what `domicile explain` decides for the same location, method and
  target (400 non_canonical_path included: explain and serve share one canonicaliser);
- a refusal stored nothing; an accepted write was stored exactly once, and the class the
  backend computes from the path it stored (nginx-normalised or verbatim) is the class the
  gateway decided (the X-Domicile-Class it sent), and the rules of that class, for that
  location, route it (consent and location rules applied to the class the backend sees).
"""
import concurrent.futures
import os
import sys
import threading
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

PROXY = "127.0.0.2"
UNKNOWN = "10.1.2.3"  # private: the default rule

TARGETS = [
    "/v1/crash//../account/me",  # the bypass
    "//v1/marketing/x",  # the consent bypass (nginx merges slashes)
    "/v1/%2e%2e/account/x",
    "/v1/crash/%2e%2e/account/x",
    "/v1/crash/%2E%2E/account/x",
    "/v1/crash/.%2e/account/x",
    "/v1/crash/%2e./account/x",
    "/%2e%2e/v1/account",
    "/v1/account%2fme",
    "/v1/crash%2f..%2faccount%2fme",
    "/v1/crash/%5c../account/me",
    "/v1/crash\\..\\account\\me",
    "/v1/crash/./../account/me",
    "/v1/./account/me",
    "/v1/sync/./x",
    "/v1/account;v=1/me",
    "/v1/crash;x/../account/me",
    "/v1/crash/..;/account/me",
    "/v1/crash/.;/account/me",
    "/v1/%c0%ae%c0%ae/account/me",  # overlong UTF-8 "."
    "/v1/crash/%c0%ae%c0%ae/account/me",
    "/v1/crash/%e0%80%ae%e0%80%ae/account",
    "/v1/crash/..",  # a trailing ..
    "/v1/account/me/..",
    "/v1/crash/me/../../account/x",
    "/../v1/account/me",
    "/v1/../../account",
    "/v1/%41ccount/me",  # mixed-case escapes
    "/v1/%61ccount/me",
    "/v1/%61CCOUNT/me",
    "/v1/acc%6Funt/me",
    "/v1/crash/%2E%2e/account",
    "http://127.0.0.1/v1/account/me",  # absolute-form
    "127.0.0.1:443",  # authority-form
    "*",
    "/v1/sync/x%00y",
    "/v1/sync/x%0d%0aX-Injected:%201",
    "/v1/sync/%7e/x",
    "/v1/sync/x?q=/../account",
    "/v1/crash?/../account/me",
    "/v1/crash#/../account",
    "/v1/sync//x//y",
    "/v1/notifications/../marketing/x",
    "/v1//account//me",
    "/v1/crash/../../v1/account/me",
    "/v1/crash/%252e%252e/account",  # double encoding
    "/v1/sync/caf%C3%A9",
    "/v1/sync/caf\xc3\xa9",
]


def reencode(stored, kind):
    """The path a backend stored, as a target explain can take again. A verbatim backend stores the
    target as received: its path ends at the '?'. nginx's is decoded already (a '?' in it was %3F):
    the same bytes, escaped where a request-target may not carry them (route prefixes are plain ASCII)."""
    if kind == "verbatim":
        return stored.split("?", 1)[0]
    return urllib.parse.quote(stored.encode("latin-1"), safe="/;=,:@!$&'()*+~-._")


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    gws = {}
    for kind, normalise in (("nginx", "nginx"), ("verbatim", None)):
        backends = H.start_backends(d, H.SMALL_LIVE_REGIONS, normalise=normalise, prefix=kind + "-")
        cfg = H.base_config(d, rules, backends, trusted=(PROXY + "/32",), clusters=H.small_clusters(backends))
        gws[kind] = (H.Gateway(d, cfg, name="gateway-" + kind).start(), backends)
    de = H.geo_addr("DE")
    counts = {"refused_400": 0, "refused_rules": 0, "stored": 0, "undeliverable": 0}
    lock = threading.Lock()
    cases = [(target, client, kind, proto) for target in TARGETS for client in (de, UNKNOWN) for kind in gws
             for proto in ("h2", "h1", "h2c")]
    for target in TARGETS:  # explain's answers first (cached), so the workers only read them
        for client in (de, UNKNOWN):
            H.explain(rules, client, "PUT", target)

    def one(case):
        target, client, kind, proto = case
        gw, backends = gws[kind]
        want = H.explain(rules, client, "PUT", target)
        rid = "paths-%s" % H.uid()
        port = gw.listener("clear" if proto == "h2c" else "tls")[1]
        r = H.curl(port, "/", method="PUT", proto=proto, interface=PROXY, body=H.random_body(64),
                   headers={"X-Forwarded-For": client, "X-Request-Id": rid}, extra=["--request-target", target])
        recs = [x for x in H.all_records(backends) if x["headers"].get("x-request-id") == rid]
        label = "PUT %r from %s via %s/%s" % (target, "DE" if client == de else "unknown", proto, kind)
        if r.status == 0:
            # curl or h2o refused to carry it (e.g. h2 framing): then nothing may be stored
            t.eq(recs, [], "%s: not deliverable (%s), nothing stored" % (label, r.error))
            return "undeliverable"
        if r.status in (400, 403, 451, 503):
            reason = (r.json() or {}).get("reason")
            if r.status == 400 and reason is None:
                # h2o's own 400 for a request line it cannot parse: nothing was decided or stored
                t.eq(recs, [], "%s: h2o refused it (400), nothing stored" % label)
                return "undeliverable"
            t.eq((r.status, reason), (want["status"], want["reason"]), "%s: refused as explain decides" % label)
            t.eq(recs, [], "%s: refused, nothing stored" % label)
            return "refused_400" if r.status == 400 else "refused_rules"
        if not t.ok(r.status == 200 and len(recs) == 1, "%s: stored once" % label, (r, recs)):
            return "stored"
        t.eq(want["action"], "route", "%s: explain routes it too" % label)
        rec = recs[0]
        decided = rec["headers"].get("x-domicile-class")
        with lock:  # explain's cache is a plain dict
            seen = H.explain(rules, client, "PUT", reencode(rec["path"], kind))
        t.eq(seen["class"], decided, "%s: backend stored %r, class %s = decided %s" %
             (label, rec["path"], seen["class"], decided))
        t.eq(seen["action"], "route", "%s: the rules of the stored path's class route it" % label)
        t.eq(rec["region"] in want["regions"], True, "%s: stored in an allowed region" % label)
        return "stored"

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for outcome in pool.map(one, cases):
            counts[outcome] += 1
    n = len(cases)
    t.note("%d requests: %s" % (n, counts))
    t.ok(counts["refused_400"] > 100 and counts["stored"] > 50, "the table exercises both refusals and routes")


if __name__ == "__main__":
    H.run_test("paths_canonical", main, timeout=170)
