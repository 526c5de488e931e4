#!/usr/bin/env python3
"""PROXY protocol on a proxy_protocol listener, read by domicile before TLS and h2o.

Good headers decide the client: v2 PROXY over IPv4 and IPv6 (with TLVs, sent in one write and
byte by byte), v2 LOCAL (the sender itself, as a load balancer's health check), v1 TCP4/TCP6 and
UNKNOWN, and v2 in front of TLS (HAProxy send-proxy-v2 to a TLS listener, which h2o alone fails).

Bad ones each close the connection without an HTTP answer, route nothing and are counted in
domicile_proxy_protocol_refused_total by reason: no header, a wrong v2 signature, a TLS
ClientHello straight away, truncated v1/v2, an oversized v2 length, a TLV running past the header,
an unknown or UNIX family, a malformed v1 line, a header from a sender outside trusted_proxies,
and a slow header past limits.proxy_header_timeout (slowloris)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import proxyhdr as P  # noqa: E402

HEADER_TIMEOUT_S = 1.0


def main(t):
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    admin = H.free_port()
    cert, key = H.tls_cert()
    # only 127.0.0.1 may send PROXY headers: 127.0.0.2 is an untrusted sender
    cfg = H.base_config(d, rules, backends, listeners=("proxy",), trusted=("127.0.0.1/32",),
                        clusters=H.small_clusters(backends),
                        extra={"admin": {"listen": "127.0.0.1:%d" % admin},
                               "limits": {"proxy_header_timeout": "%dms" % int(HEADER_TIMEOUT_S * 1000)}})
    tls_port = H.free_port()
    cfg["listen"].append({"address": "127.0.0.1:%d" % tls_port, "tls": {"certificate": cert, "key": key},
                          "proxy_protocol": True})
    gw = H.Gateway(d, cfg).start()
    _, port = gw.listener("proxy")
    de4, de6, fr = H.geo_addr("DE"), H.geo_addr("DE", family=6), H.geo_addr("FR")

    def metrics():
        return P.admin_get(admin, "/metrics")[1]

    def routed(label, r, path, src):
        recs = [x for x in H.all_records(backends) if x["path"] == path]
        t.eq(r.status, 200, "%s: 200" % label)
        if t.eq(len(recs), 1, "%s: one record" % label) and recs:
            t.eq(recs[0]["region"], "r-alpha", "%s: stored in r-alpha (T-EU account)" % label)
            t.eq(recs[0]["headers"].get("x-forwarded-for"), src, "%s: the header's source is the client" % label)

    # ---- good headers ----
    before = metrics()
    body = b"proxied " + os.urandom(8)
    path = "/v1/account/pp-v2-4-%s" % H.uid()
    routed("v2 PROXY TCP4, header and request in one write",
           H.http1_raw("127.0.0.1", port, P.v2(de4) + P.put_request(path, body)), path, de4)
    path = "/v1/account/pp-v2-6-%s" % H.uid()
    tlvs = P.tlv(0x01, b"h2") + P.tlv(0x04, b"\0" * 3) + P.tlv(0xEA, b"\x01vpce-0123456789abcdef") + P.tlv(0x20, b"")
    routed("v2 PROXY TCP6 with TLVs, byte by byte",
           P.request_after(port, P.v2(de6, "::1", tlvs=tlvs), P.put_request(path, body), chunks=200), path, de6)
    path = "/v1/account/pp-v1-%s" % H.uid()
    routed("v1 TCP4", P.request_after(port, P.v1(de4), P.put_request(path, body)), path, de4)
    path = "/v1/account/pp-v1-6-%s" % H.uid()
    routed("v1 TCP6", P.request_after(port, P.v1(de6, "::1"), P.put_request(path, body)), path, de6)
    path = "/v1/account/pp-tls-%s" % H.uid()
    routed("v2 then TLS (HAProxy send-proxy-v2 to a TLS listener)",
           P.request_after(tls_port, P.v2(de4), P.put_request(path, body), tls=True), path, de4)
    # LOCAL / UNKNOWN: the sender (127.0.0.1, trusted) is the peer: its X-Forwarded-For is believed ...
    path = "/v1/account/pp-local-%s" % H.uid()
    routed("v2 LOCAL: the trusted sender's X-Forwarded-For decides",
           P.request_after(port, P.v2(cmd=P.CMD_LOCAL), P.put_request(path, body, {"X-Forwarded-For": de4})),
           path, de4)
    # ... and without one the location is the sender's own (loopback: unknown, the default rule denies account)
    path = "/v1/account/pp-unknown-%s" % H.uid()
    r = P.request_after(port, b"PROXY UNKNOWN\r\n", P.put_request(path, body))
    t.eq(r.status, 451, "v1 UNKNOWN without X-Forwarded-For: the sender's location (unknown): 451")
    t.eq([x for x in H.all_records(backends) if x["path"] == path], [], "v1 UNKNOWN: nothing stored")
    after = metrics()
    for version, command, n in (("2", "proxy", 3), ("1", "proxy", 2), ("2", "local", 1), ("1", "local", 1)):
        got = (P.sample(after, "domicile_proxy_protocol_headers_total", version=version, command=command) or 0) - \
              (P.sample(before, "domicile_proxy_protocol_headers_total", version=version, command=command) or 0)
        t.eq(got, n, "metrics: %s v%s %s headers accepted" % (n, version, command))

    # ---- bad headers: closed without an answer, nothing routed, counted by reason ----
    refused_path = "/v1/account/pp-bad-%s" % H.uid()
    req = P.put_request(refused_path, b"x")
    good4 = P.v2(fr)
    cases = [
        ("no header (HTTP straight away)", port, req, None, "no_header", False),
        ("TLS ClientHello straight away", tls_port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32),
         None, "no_header", False),
        ("wrong v2 signature", port, b"\r\n\r\n\x00\r\nQUXT\n" + good4[12:] + req, None, "no_header", False),
        ("truncated v2 (closed after 14 bytes)", port, good4[:14], None, "truncated", True),
        ("truncated v1 (closed mid-line)", port, b"PROXY TCP4 5.1.2.3 127.0", None, "truncated", True),
        ("oversized v2 length (65535)", port, P.SIG + b"\x21\x11\xff\xff" + b"\0" * 64, None, "too_long", False),
        ("TLV length past the header", port, P.v2(fr, tlvs=b"\x04\x00\x40" + b"\0" * 8) + req, None, "bad_tlv",
         False),
        ("unknown family 0x41", port, P.v2(fr, fam=0x41) + req, None, "unsupported", False),
        ("UNIX family", port, P.v2(payload=b"\0" * 216, fam=0x31) + req, None, "unsupported", False),
        ("UDP over IPv4", port, P.v2(fr, fam=0x12) + req, None, "unsupported", False),
        ("v1 with a bad port", port, b"PROXY TCP4 5.2.2.3 127.0.0.1 99999 80\r\n" + req, None, "malformed", False),
        ("v1 longer than 107 bytes", port, b"PROXY UNKNOWN " + b"f" * 120, None, "too_long", False),
        ("v2 version 1", port, P.SIG + b"\x11\x11\x00\x0c" + b"\0" * 12 + req, None, "malformed", False),
        ("valid header from an untrusted sender", port, P.v2(fr) + req, "127.0.0.2", "untrusted", False),
    ]
    figures = []
    for label, cport, data, source, reason, half_close in cases:
        m0 = metrics()
        s = P.connect(cport, source)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(1)  # SHUT_WR: the sender gives up mid-header
        except OSError:
            pass  # the gateway may close first (untrusted: at once)
        closed, got, waited = P.closed_without_answer(s, 5)
        t.ok(closed and got == b"", "%s: closed without an answer" % label, (closed, got[:80], waited))
        want = (P.sample(m0, "domicile_proxy_protocol_refused_total", reason=reason) or 0) + 1
        H.wait_until(lambda: P.sample(metrics(), "domicile_proxy_protocol_refused_total", reason=reason) >= want, 5,
                     what="%s counted" % reason)
        t.eq(P.sample(metrics(), "domicile_proxy_protocol_refused_total", reason=reason), want,
             "%s: counted once as %s" % (label, reason))
        figures.append("%s=%s(%.0fms)" % (reason, "closed" if closed else "open", waited * 1000))

    # slowloris: a valid beginning, then nothing: closed after the header timeout, counted as timeout
    m0 = metrics()
    s = P.connect(port)
    s.sendall(good4[:10])
    closed, got, waited = P.closed_without_answer(s, HEADER_TIMEOUT_S + 5)
    t.ok(closed and got == b"", "slow header: closed without an answer", (closed, got, waited))
    t.ok(HEADER_TIMEOUT_S - 0.2 <= waited <= HEADER_TIMEOUT_S + 2,
         "slow header: closed after limits.proxy_header_timeout (%.1fs), not before" % HEADER_TIMEOUT_S, waited)
    want = (P.sample(m0, "domicile_proxy_protocol_refused_total", reason="timeout") or 0) + 1
    t.eq(P.sample(metrics(), "domicile_proxy_protocol_refused_total", reason="timeout"), want,
         "slow header: counted as timeout")
    figures.append("timeout=%.2fs" % waited)

    t.eq([x for x in H.all_records(backends) if x["path"] == refused_path], [], "no refused connection stored anything")
    t.ok(gw.proc.poll() is None, "gateway still running", gw.stderr()[-2000:])
    path = "/v1/account/pp-after-%s" % H.uid()
    routed("a good header after all the bad ones", P.request_after(port, P.v2(de4), P.put_request(path, body)),
           path, de4)
    t.note("FIGURE proxy_refusals = " + " ".join(figures))

    # the config keys: a bad timeout is refused with file:line:col
    bad = dict(cfg, limits=dict(cfg["limits"], proxy_header_timeout="0s"))
    with open(os.path.join(d, "bad.yaml"), "w") as f:
        f.write(H.to_yaml(bad) + "\n")
    r = H.run([H.BIN, "serve", "--check", "-c", os.path.join(d, "bad.yaml")], timeout=30)
    t.ok(r.returncode != 0 and "proxy_header_timeout" in r.stderr, "limits.proxy_header_timeout: 0s is refused",
         r.stderr[-500:])


if __name__ == "__main__":
    H.run_test("abuse_proxy_headers", main, timeout=90)
