#!/usr/bin/env python3
"""Every refusal the gateway makes, with a small rule set written here so the expected
answers are known exactly: 451 (class denied; unknown location; no compliant region),
403 consent_required, 400/401 for pins, 503 + Retry-After, 413. Each error body is JSON
of one shape, and 451s carry Link: <policy>; rel="blocked-by"."""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

PROTOS = ("h2", "h1", "h2c")
SHAPE = ("status", "reason", "jurisdiction", "rule_version", "class", "request_id")


def send(gw, proto, method, path, body=None, headers=None):
    port = gw.listener("clear" if proto == "h2c" else "tls")[1]
    return H.curl(port, path, method=method, headers=headers or {}, body=body, proto=proto)


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    secret = os.urandom(32)
    keys = H.write_pin_keys(d, {"k1": secret})
    cfg = H.base_config(d, rules, backends, pin_keys=keys, clusters=H.small_clusters(backends),
                        extra={"limits": {"max_body": "4k", "class_max_body": {"content": "64k"}},
                               # the unsigned class-name header, kept as an explicit opt-in (consent tokens:
                               # test_consent_tokens.py)
                               "consent": {"mode": "header"}})
    gw = H.Gateway(d, cfg).start()
    t.ok("consent.mode: header: consent is whatever the client's header says" in gw.stderr(),
         "the opt-in header mode is warned about at start", gw.stderr()[-1500:])

    de, cn, no, is_ = H.geo_addr("DE"), H.geo_addr("CN"), H.geo_addr("NO"), H.geo_addr("IS")

    def recorded(path):
        return [r for r in H.all_records(backends) if r["path"] == path]

    request_ids = []

    def refused(label, resp, path, status, reason=None, jur=None, version=None, cls=None, policy=None):
        """Asserts one refusal: status, the JSON shape, the expected fields, nothing upstream."""
        t.eq(resp.status, status, "%s: status %d" % (label, status))
        j = resp.json()
        if not t.ok(isinstance(j, dict), "%s: body is a JSON object" % label, resp.body[:300]):
            return j
        request_ids.append(j.get("request_id"))
        missing = [k for k in SHAPE if k not in j]
        t.eq(missing, [], "%s: body has every field of the error shape" % label)
        t.eq(j.get("status"), status, "%s: body status equals the HTTP status" % label)
        t.ok(isinstance(j.get("request_id"), str) and len(j.get("request_id")) >= 8,
             "%s: body carries a request_id" % label, j)
        rid = resp.header("x-request-id")
        if rid is not None:
            t.eq(j.get("request_id"), rid, "%s: request_id equals the X-Request-Id response header" % label)
        t.ok("json" in (resp.header("content-type") or ""), "%s: Content-Type is JSON" % label,
             resp.header("content-type"))
        if reason is not None:
            t.eq(j.get("reason"), reason, "%s: reason" % label)
        if jur is not None:
            t.eq(j.get("jurisdiction"), jur, "%s: jurisdiction" % label)
        if version is not None:
            t.eq(j.get("rule_version"), version, "%s: rule_version" % label)
        if cls is not None:
            t.eq(j.get("class"), cls, "%s: class" % label)
        if status == 451:
            links = resp.headers_all("link")
            want = "<%s>" % policy if policy else "<"
            t.ok(any(want in v and 'rel="blocked-by"' in v for v in links),
                 "%s: Link: %s; rel=\"blocked-by\"" % (label, want), links)
        if path is not None:
            t.eq(recorded(path), [], "%s: nothing reached a backend" % label)
        return j

    for proto in PROTOS:
        # 451: a class the jurisdiction denies (content from CN), with its own reason code.
        path = "/v1/sync/deny-%s" % H.uid()
        r = send(gw, proto, "PUT", path, H.random_body(), {"X-Forwarded-For": cn})
        refused("%s CN content write" % proto, r, path, 451, "export_controlled", "T-CN", "t-cn-1", "content",
                "https://example.test/privacy#t-cn")

        # 451: unknown location (a private address) → the default rule, which denies account writes.
        for xff in ("10.20.30.40", None):
            path = "/v1/account/unknown-%s" % H.uid()
            hdrs = {"X-Forwarded-For": xff} if xff else {}
            r = send(gw, proto, "POST", path, H.random_body(), hdrs)
            refused("%s account write from %s" % (proto, xff or "127.0.0.1 (peer)"), r, path, 451,
                    "unknown_location", "T-DEFAULT", "t-default-1", "account", "https://example.test/privacy#unknown")

        # 451 no_compliant_region: the only allowed region (r-nocl) has no cluster.
        path = "/v1/account/nocl-%s" % H.uid()
        r = send(gw, proto, "PUT", path, H.random_body(), {"X-Forwarded-For": no})
        refused("%s NO account write (no cluster for r-nocl)" % proto, r, path, 451, "no_compliant_region", "T-NO",
                "t-no-1", "account", "https://example.test/privacy#t-no")

        # 503 + Retry-After: the allowed region's only node refuses connections; never another region.
        path = "/v1/sync/down-%s" % H.uid()
        r = send(gw, proto, "PUT", path, H.random_body(), {"X-Forwarded-For": is_})
        refused("%s IS content write (node down)" % proto, r, path, 503, None, "T-IS", "t-is-1", "content")
        ra = r.header("retry-after")
        t.ok(ra is not None and ra.strip().isdigit(), "%s 503 has a Retry-After of seconds" % proto, ra)

        # 403 consent_required, then the same write with consent is routed.
        path = "/v1/notifications/c-%s" % H.uid()
        r = send(gw, proto, "POST", path, H.random_body(), {"X-Forwarded-For": de})
        refused("%s marketing without consent" % proto, r, path, 403, "consent_required", "T-EU", "t-2026-01",
                "marketing")
        path = "/v1/notifications/c-%s" % H.uid()
        r = send(gw, proto, "POST", path, H.random_body(), {"X-Forwarded-For": de, "domicile-consent": "content"})
        refused("%s marketing with consent for another class" % proto, r, path, 403, "consent_required")
        for consent in ("marketing", "Content, Marketing", "*"):
            path = "/v1/notifications/c-%s" % H.uid()
            body = H.random_body()
            r = send(gw, proto, "POST", path, body, {"X-Forwarded-For": de, "domicile-consent": consent})
            recs = recorded(path)
            t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-alpha"
                 and recs[0]["body_sha256"] == H.sha256(body),
                 "%s marketing with consent %r routed to r-alpha" % (proto, consent), (r, recs))

        # Pins: malformed 400; bad signature, unknown key, expired 401. Never geolocation instead.
        now = int(time.time())
        good = H.forge_pin(secret, "k1", "T-EU", now + 3600)
        bad_sig = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
        cases = [
            ("malformed pin", "v1.k1.T-EU.notanumber.xyz", 400, "pin_malformed"),
            ("truncated pin", "v1.k1", 400, "pin_malformed"),
            ("bad signature", bad_sig, 401, "pin_bad_signature"),
            ("unknown key", H.forge_pin(os.urandom(32), "k9", "T-EU", now + 3600), 401, "pin_unknown_key"),
            ("expired", H.forge_pin(secret, "k1", "T-EU", now - 60), 401, "pin_expired"),
        ]
        for label, pin, status, reason in cases:
            path = "/v1/sync/pin-%s" % H.uid()
            r = send(gw, proto, "PUT", path, H.random_body(), {"X-Forwarded-For": de, "domicile-pin": pin})
            refused("%s %s" % (proto, label), r, path, status, reason)
        # a genuine pin for T-EU from an unknown location (a private address): routed by the pin alone
        path = "/v1/account/pin-%s" % H.uid()
        body = H.random_body()
        r = send(gw, proto, "PUT", path, body, {"X-Forwarded-For": "10.9.8.7", "domicile-pin": good})
        recs = recorded(path)
        t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-alpha"
             and recs[0]["headers"].get("x-domicile-jurisdiction") == "T-EU",
             "%s valid T-EU pin from an unknown location routes to r-alpha" % proto, (r, recs))
        # from CN, T-CN (the law of the place) applies too: no region in common, 451 conflict_of_laws
        path = "/v1/account/pincn-%s" % H.uid()
        r = send(gw, proto, "PUT", path, H.random_body(), {"X-Forwarded-For": cn, "domicile-pin": good})
        refused("%s valid T-EU pin from CN" % proto, r, path, 451, "conflict_of_laws")
        # CLI-minted pin works the same
        path = "/v1/account/pincli-%s" % H.uid()
        r = send(gw, proto, "PUT", path, H.random_body(),
                 {"X-Forwarded-For": "10.9.8.7", "domicile-pin": H.mint_pin(keys, "k1", "T-EU")})
        t.ok(r.status == 200 and len(recorded(path)) == 1, "%s CLI-minted T-EU pin routes" % proto, r)

        # 413: over limits.max_body (4k) for account; content may send up to 64k.
        path = "/v1/account/big-%s" % H.uid()
        r = send(gw, proto, "PUT", path, os.urandom(8192), {"X-Forwarded-For": de})
        refused("%s 8 KiB account write over max_body" % proto, r, path, 413)
        path = "/v1/sync/big-%s" % H.uid()
        body = os.urandom(8192)
        r = send(gw, proto, "PUT", path, body, {"X-Forwarded-For": de})
        recs = recorded(path)
        t.ok(r.status == 200 and len(recs) == 1 and recs[0]["body_sha256"] == H.sha256(body),
             "%s 8 KiB content write within class_max_body routed intact" % proto, (r, recs))
        # over every limit (h2o's own hard limit): h2o refuses while the client is still uploading.
        # HTTP/2 resets the stream; HTTP/1.1 answers 413 and closes, and the kernel's RST for the
        # unread upload can destroy that 413 before curl reads it (h2o 2.2.5 has no lingering
        # close). Either way the client sees a failure, never a success, and nothing is stored.
        path = "/v1/sync/huge-%s" % H.uid()
        r = send(gw, proto, "PUT", path, os.urandom(200 * 1024), {"X-Forwarded-For": de})
        t.ok(r.status in (0, 413), "%s 200 KiB content write over class_max_body: 413 or connection error" % proto,
             r)
        t.eq(recorded(path), [], "%s 200 KiB write reached no backend" % proto)

    # Content-Length over the limit announced up front, over a raw HTTP/1.1 socket.
    host, port = gw.listener("clear")
    path = "/v1/account/cl-%s" % H.uid()
    r = H.http1_raw(host, port, ("PUT %s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Length: 10000\r\n"
                                 "Connection: close\r\n\r\n" % (path, de)).encode() + b"x" * 10000)
    t.eq(r.status, 413, "raw HTTP/1.1 10000-byte account body: 413")
    t.eq(recorded(path), [], "raw oversized body reached no backend")
    t.eq(len(set(request_ids)), len(request_ids), "every refusal has its own request_id (%d)" % len(request_ids))
    t.ok(gw.proc.poll() is None, "gateway still running at the end", gw.stderr()[-2000:])


if __name__ == "__main__":
    H.run_test("gateway_errors", main, timeout=90)
