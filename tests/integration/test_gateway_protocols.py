#!/usr/bin/env python3
"""Listeners and protocols: h2 over TLS via ALPN, HTTP/1.1 over TLS, h2c prior knowledge,
h2c upgrade, an IPv6 listener, PROXY protocol v1; and `domicile serve --check` on a good
config (exit 0, a warning for a region without a cluster) and on broken ones (non-zero,
file:line:col messages)."""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def main(t):
    H.require_tools("curl", "nghttp")
    has6 = ipv6_loopback()
    t.require(has6, "the loopback interface has ::1 (IPv6 listener test)")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    cfg = H.base_config(d, rules, backends, listeners=("tls", "clear", "tls6", "clear6", "proxy"),
                        clusters=H.small_clusters(backends))
    gw = H.Gateway(d, cfg).start()
    tls_port = gw.listener("tls")[1]
    clear_port = gw.listener("clear")[1]
    de, fr = H.geo_addr("DE"), H.geo_addr("FR")

    def one_record(path):
        recs = [r for r in H.all_records(backends) if r["path"] == path]
        return recs[0] if len(recs) == 1 else None, recs

    def routed(label, r, path, body, region="r-alpha", xff=None):
        rec, recs = one_record(path)
        ok = t.ok(r.status == 200 and rec is not None and rec["region"] == region,
                  "%s: routed to %s" % (label, region), (r, recs))
        if ok and body is not None:
            t.eq(rec["body_sha256"], H.sha256(body), "%s: body intact" % label)
        if ok and xff is not None:
            t.eq(rec["headers"].get("x-forwarded-for"), xff, "%s: client address %s" % (label, xff))
        return rec

    # h2 over TLS (ALPN), HTTP/1.1 over TLS, h2c prior knowledge: a write on each, version checked.
    for proto, host, port, want in (("h2", "127.0.0.1", tls_port, "2"), ("h1", "127.0.0.1", tls_port, "1.1"),
                                    ("h2c", "127.0.0.1", clear_port, "2"), ("h1c", "127.0.0.1", clear_port, "1.1")):
        path = "/v1/account/proto-%s" % H.uid()
        body = H.random_body()
        r = H.curl(port, path, method="PUT", body=body, headers={"X-Forwarded-For": de}, proto=proto, host=host)
        t.eq(r.http_version, want, "%s: curl negotiated HTTP/%s" % (proto, want))
        routed("%s write" % proto, r, path, body, xff=de)

    # h2c upgrade (curl --http2 against http://): a GET, which curl upgrades.
    path = "/v1/account/upgrade-%s" % H.uid()
    r = H.curl(clear_port, path, method="GET", headers={"X-Forwarded-For": de}, proto="h2c-upgrade")
    t.eq(r.http_version, "2", "h2c upgrade: the answer came over HTTP/2")
    routed("h2c upgrade read", r, path, None, xff=de)

    # nghttp (a second HTTP/2 implementation) over TLS and h2c.
    for scheme, port in (("https", tls_port), ("http", clear_port)):
        path = "/v1/sync/nghttp-%s" % H.uid()
        body_file = os.path.join(d, "nghttp-body")
        body = H.random_body()
        with open(body_file, "wb") as f:
            f.write(body)
        res = H.run(["nghttp", "-v", "-d", body_file, "-H", ":method: PUT", "-H", "x-forwarded-for: %s" % fr,
                     "%s://127.0.0.1:%d%s" % (scheme, port, path)], timeout=20)
        m = re.search(r":status: (\d+)", res.stdout)
        t.ok(m is not None and m.group(1) == "200", "nghttp %s PUT: :status 200" % scheme, res.stdout[-1500:])
        routed("nghttp %s PUT" % scheme, H.Response(200 if m and m.group(1) == "200" else 0, [], b""), path, body,
               xff=fr)

    # IPv6 listeners: TLS and cleartext on [::1]; ::1 is a trusted proxy, the client an IPv6 DE address.
    de6 = H.geo_addr("DE", family=6)
    for kind, proto in (("tls6", "h2"), ("clear6", "h2c")):
        host6, port6 = None, None
        for li in cfg["listen"]:
            if li["address"].startswith("[::1]") and (("tls" in li) == (kind == "tls6")):
                host6, port6 = "::1", int(li["address"].rsplit(":", 1)[1])
        path = "/v1/account/v6-%s" % H.uid()
        body = H.random_body()
        r = H.curl(port6, path, method="PUT", body=body, headers={"X-Forwarded-For": de6}, proto=proto, host=host6)
        t.eq(r.http_version, "2", "[::1] %s: HTTP/2" % proto)
        routed("[::1] %s write from %s" % (proto, de6), r, path, body, xff=de6)
    # ...and the peer ::1 itself (no XFF) is a private address: the default rule
    path = "/v1/account/v6peer-%s" % H.uid()
    port6 = int([li for li in cfg["listen"] if li["address"].startswith("[::1]") and "tls" not in li][0]
                ["address"].rsplit(":", 1)[1])
    r = H.curl(port6, path, method="PUT", body=b"x", proto="h2c", host="::1")
    t.eq(r.status, 451, "[::1] peer without XFF: unknown location, default rule denies account writes")

    # PROXY protocol v1: the header's source is the client (its sender 127.0.0.1 is trusted).
    phost, pport = gw.listener("proxy")
    for src, region, label in ((de, "r-alpha", "DE"), (fr, "r-alpha", "FR")):
        path = "/v1/account/proxy-%s" % H.uid()
        body = b"proxied body " + os.urandom(8)
        req = ("PROXY TCP4 %s 127.0.0.1 1234 80\r\n" % src).encode()
        req += ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (path, len(body))).encode() + body
        r = H.http1_raw(phost, pport, req)
        rec = routed("PROXY v1 from %s" % label, r, path, body, region=region, xff=src)
        if rec:
            t.eq(rec["headers"].get("x-domicile-jurisdiction"), "T-EU", "PROXY v1 from %s: jurisdiction T-EU" % label)
    # a CN source through PROXY protocol gets CN's refusal: the header decided, not the peer
    path = "/v1/sync/proxy-cn-%s" % H.uid()
    req = ("PROXY TCP4 %s 127.0.0.1 1234 80\r\n" % H.geo_addr("CN")).encode()
    req += ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx" % path).encode()
    r = H.http1_raw(phost, pport, req)
    t.eq(r.status, 451, "PROXY v1 from a CN source: 451 (CN denies content)")
    # a proxy_protocol listener without the PROXY line must not serve the request as if it had one
    path = "/v1/account/proxy-missing-%s" % H.uid()
    try:
        r = H.http1_raw(phost, pport, ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n"
                                       "\r\nx" % path).encode(), timeout=5)
        status = r.status
    except OSError:
        status = 0
    t.ok(status != 200 and one_record(path)[1] == [], "PROXY listener: a request without the PROXY line is not routed",
         status)
    t.ok(gw.proc.poll() is None, "gateway still running", gw.stderr()[-2000:])

    # serve --check on a good config: exit 0, a warning naming the region without a cluster (r-nocl).
    r = H.run([H.BIN, "serve", "--check", "-c", gw.cfg_path], timeout=30)
    out = r.stdout + r.stderr
    t.eq(r.returncode, 0, "serve --check on the running config: exit 0")
    t.ok(re.search(r"warning.*r-nocl|r-nocl.*warning", out, re.I) is not None,
         "serve --check warns that region r-nocl has no cluster", out)

    # broken configs: each non-zero with a file:line:col message pointing at the fault.
    def broken(label, text, line, needle):
        p = os.path.join(d, "broken-%s.yaml" % H.uid())
        with open(p, "w") as f:
            f.write(text)
        r = H.run([H.BIN, "serve", "--check", "-c", p], timeout=30)
        out = r.stdout + r.stderr
        t.ok(r.returncode != 0, "serve --check %s: non-zero exit" % label, out)
        pat = r"%s:%s:\d+:" % (re.escape(p), r"\d+" if line is None else str(line))
        t.ok(re.search(pat, out) is not None, "serve --check %s: message at %s:%s:col" % (label, os.path.basename(p),
                                                                                         line or "LINE"), out)
        if needle:
            t.ok(needle.lower() in out.lower(), "serve --check %s: message mentions %r" % (label, needle), out)

    good = H.to_yaml(cfg) + "\n"
    lines = good.split("\n")
    # a cluster whose region the rules do not know
    bad_region = good.replace("region: r-alpha", "region: mars-north", 1)
    ln = next(i for i, s in enumerate(bad_region.split("\n"), 1) if "mars-north" in s)
    broken("cluster with an unknown region", bad_region, ln, "mars-north")
    # an unknown key
    ln = next(i for i, s in enumerate(lines, 1) if s.startswith("consent_header:"))
    broken("unknown key", "\n".join(lines[:ln - 1] + ["consent_headr: domicile-consent"] + lines[ln:]), ln,
           "consent_headr")
    # malformed YAML (an unclosed flow sequence)
    ln = next(i for i, s in enumerate(lines, 1) if s.startswith("trusted_proxies:"))
    # (libyaml notices the missing "]" where the next token starts, so any line will do)
    broken("malformed YAML", "\n".join(lines[:ln - 1] + ['trusted_proxies: ["127.0.0.0/8", "::1/128"'] + lines[ln:]),
           None, None)
    # a trusted proxy CIDR with host bits set
    ln = next(i for i, s in enumerate(lines, 1) if s.startswith("trusted_proxies:"))
    broken("CIDR with host bits", "\n".join(lines[:ln - 1] + ['trusted_proxies: ["127.0.0.1/8"]'] + lines[ln:]), ln,
           "127.0.0.1/8")
    # a bad size
    ln = next(i for i, s in enumerate(lines, 1) if s.strip().startswith("max_body:"))
    broken("bad size", "\n".join(lines[:ln - 1] + ["  max_body: lots"] + lines[ln:]), ln, "lots")


if __name__ == "__main__":
    H.run_test("gateway_protocols", main, timeout=90)
