#!/usr/bin/env python3
"""Request-line and header confusion, as an attacker sends it (raw HTTP/2 frames, raw HTTP/1.1).

Every probe comes from a client the rules route (DE, through a trusted proxy), so a probe that
got through would be stored. A table: each probe, the status the gateway answered and what the
backends received; every refused probe reached no backend. The gateway decides on what it
forwards: a method that is not a token, a :path with spaces, tabs, "*" or nothing, an empty
header name, more header fields or bytes than the bounds, CONNECT and TRACE are refused with the
one JSON refusal shape before anything is decided; URL-override headers (X-Original-URL,
X-Rewrite-URL, X-HTTP-Method-Override) are stripped from a request that is forwarded.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402


def h2_probe(port, pairs, body=None):
    """One request from raw header pairs (pseudo-headers as given); returns (status or reset text, body)."""
    c = h2raw.H2Conn("127.0.0.1", port)
    try:
        sid = c.next_sid
        c.next_sid += 2
        c.streams[sid] = h2raw.Stream(sid)
        block = h2raw.encode_headers(pairs)
        chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)] or [b""]
        out = b""
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            flags = (h2raw.END_HEADERS if last else 0) | (h2raw.END_STREAM if (i == 0 and body is None) else 0)
            out += c.frame(h2raw.HEADERS if i == 0 else h2raw.CONTINUATION, flags, sid, ch)
        if body is not None:
            out += c.data_frames(sid, body, end_stream=True)
        c.send(out)
        c.pump(until=lambda c: c.closed or c.goaway is not None or c.done(sid), timeout=10)
        s = c.streams[sid]
        if s.status is not None:
            return s.status, bytes(s.data)
        if s.rst_code is not None:
            return "RST_STREAM(%s)" % h2raw.error_name(s.rst_code), b""
        if c.goaway is not None:
            return "GOAWAY(%s)" % h2raw.error_name(c.goaway[1]), b""
        return "closed", b""
    finally:
        c.close()


def reason_of(body):
    try:
        return json.loads(body.decode()).get("reason")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None


def main(t):
    d, backends, gw = X.small_gateway(t, threads=1, trusted=("127.0.0.0/8",))
    clear = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    auth = "127.0.0.1:%d" % clear
    table = []

    def base(method, path, extra=()):
        return [(":method", method), (":scheme", "http"), (":authority", auth), (":path", path),
                ("x-forwarded-for", de)] + list(extra)

    def check(label, got, body, want_status, want_reason, marker):
        recs = X.records_with(backends, marker)
        table.append((label, got, reason_of(body), len(recs)))
        ok = got == want_status and (want_reason is None or reason_of(body) == want_reason)
        t.ok(ok, "%s: %s %s" % (label, want_status, want_reason or ""), (got, body[:300]))
        t.eq(recs, [], "%s: nothing reached a backend" % label)

    # --- HTTP/2: the decision and the request line must be the same request
    m = "m-%s" % H.uid()
    got, body = h2_probe(clear, base("POST /v1/account/%s" % m, "/v1/crash/%s" % m), body=b"x")
    check(":method 'POST /v1/account/x' with :path /v1/crash/x", got, body, 400, "invalid_method", m)
    m = "m-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT\t", "/v1/sync/%s" % m), body=b"x")
    check(":method with a tab", got, body, 400, "invalid_method", m)
    for label, path in (("SP", "/v1/sync/%s x"), ("TAB", "/v1/sync/%s\tx"), ("'*'", "*"), ("empty", ""),
                        ("absolute-form", "http://example.com/v1/sync/%s")):
        m = "p-%s" % H.uid()
        got, body = h2_probe(clear, base("PUT", path % m if "%s" in path else path), body=b"x")
        if label == "empty" and isinstance(got, str):
            # h2o refuses a stream without a :path value at the framing level: nothing is decided or sent
            table.append((":path %s" % label, got, None, len(X.records_with(backends, m))))
            t.ok(got.startswith(("RST_STREAM", "GOAWAY")), ":path empty: refused by h2o", got)
            continue
        check(":path %s" % label, got, body, 400, "non_canonical_path", m)
    m = "e-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("", "yes")]), body=b"x")
    check("an empty header name", got, body, 400, "invalid_header", m)
    m = "n-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("x-h%d" % i, "v") for i in range(101)]), body=b"x")
    check("101 header fields (HTTP/2 has no count limit of its own)", got, body, 431, "header_fields_too_large", m)
    m = "b-%s" % H.uid()
    got, body = h2_probe(clear, base("PUT", "/v1/sync/%s" % m, [("x-big", "a" * 70000)]), body=b"x")
    check("70,000 bytes in one header value", got, body, 431, "header_fields_too_large", m)
    m = "t-%s" % H.uid()
    got, body = h2_probe(clear, base("TRACE", "/v1/sync/%s" % m))
    check("TRACE", got, body, 405, "method_not_allowed", m)

    # --- HTTP/1.1
    m = "c-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("CONNECT %s.example:22 HTTP/1.1\r\nHost: %s.example:22\r\n"
                                         "X-Forwarded-For: %s\r\n\r\n" % (m, m, de)).encode())
    check("CONNECT host:22", r.status, r.body, 405, "method_not_allowed", m)
    m = "r-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("POST /v1/account/%s /v1/crash/%s HTTP/1.1\r\nHost: x\r\n"
                                         "X-Forwarded-For: %s\r\nContent-Length: 1\r\n\r\nx" % (m, m, de)).encode())
    table.append(("request line 'POST /a /b HTTP/1.1'", r.status, reason_of(r.body), len(X.records_with(backends, m))))
    t.eq(r.status, 400, "request line with two targets: 400")
    t.eq(X.records_with(backends, m), [], "request line with two targets: nothing reached a backend")
    m = "f-%s" % H.uid()
    r = H.http1_raw("127.0.0.1", clear, ("PUT /v1/sync/%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n"
                                         "X-Note: a\r\n folded\r\nContent-Length: 1\r\n\r\nx" % (m, de)).encode())
    table.append(("obs-fold header line", r.status, reason_of(r.body), len(X.records_with(backends, m))))
    t.ok(r.status == 400, "obs-fold: 400 (an obs-fold line is not forwarded as an empty-name header)", r)
    t.eq(X.records_with(backends, m), [], "obs-fold: nothing reached a backend")

    # --- forwarded, with the override headers stripped
    m = "o-%s" % H.uid()
    r = H.curl(clear, "/v1/crash/%s" % m, method="PUT", body=b"x", proto="h2c",
               headers={"X-Forwarded-For": de, "X-Original-URL": "/v1/account/%s" % m,
                        "X-Rewrite-URL": "/v1/account/%s" % m, "X-HTTP-Method-Override": "DELETE"})
    recs = X.records_with(backends, m)
    table.append(("X-Original-URL / X-Rewrite-URL / X-HTTP-Method-Override", r.status, None, len(recs)))
    t.ok(r.status == 200 and len(recs) == 1, "override headers: the request is forwarded as classified", (r, recs))
    if recs:
        t.eq(sorted(k for k in recs[0]["headers"] if k in ("x-original-url", "x-rewrite-url",
                                                              "x-http-method-override")), [],
             "override headers: none reaches the backend")
        t.eq((recs[0]["path"], recs[0]["method"], recs[0]["headers"].get("x-domicile-class")),
             ("/v1/crash/%s" % m, "PUT", "telemetry"), "override headers: stored as decided")

    t.note("probe | answer | reason | backend records")
    for label, got, reason, n in table:
        t.note("%s | %s | %s | %d" % (label, got, reason, n))
    X.still_serves(t, gw, backends, "after the probes")


if __name__ == "__main__":
    H.run_test("abuse_request_line", main, timeout=120)
