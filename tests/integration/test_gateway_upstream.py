#!/usr/bin/env python3
"""The upstream client (src/gateway/forward.c) against storage nodes that misbehave on purpose
(hardening.BadBackend, on r-alpha: where SMALL_RULES send a German client's content).

- A kept-alive connection that the node closes as the next request arrives (it reads the request
  and closes without a byte of answer): a GET is sent once more on a fresh connection and succeeds;
  a POST is not sent again (the node saw it exactly once) and the client gets 503.
- upstream.max_connections: 4 with 200 concurrent streams (two worker threads): the node never
  has more than 4 connections from the gateway; with a long queue_timeout every request is served,
  with a short one the waiting request gets 503 node_busy with Retry-After.
- upstream.first_byte_timeout: a node that accepts and never answers gives 503 after it, while the
  single worker thread keeps serving others.
- A 100 MiB download streams (Content-Length over h2c, chunked over HTTP/1.1): the bytes arrive
  intact and the gateway's peak RSS grows by far less than the body; a client that stops reading
  stops the node's bytes too (back-pressure).
- https:// nodes: a certificate for the node's address or name, from upstream.tls_ca, works; one for
  another name, or one no trusted CA signed, is refused before any request reaches the node.
- RFC 9112 details: interim 1xx answers are dropped and the final one passes, 204 has no body,
  HEAD gets the length without a body, fields named in the node's Connection header are not passed.

Figures are printed as `# FIGURE name = value`."""
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

MIB = 1024 * 1024
_n = [0]


def gateway(t, d, rules, backends, alpha_nodes, upstream=None, threads=1, extra=None):
    """SMALL_RULES with r-alpha on alpha_nodes (and its cluster's upstream keys), an admin listener."""
    clusters = H.small_clusters(backends)
    for c in clusters:
        if c["region"] == "r-alpha":
            c["nodes"] = list(alpha_nodes)
            if upstream:
                c["upstream"] = upstream
    admin = H.free_port()
    ex = {"admin": {"listen": "127.0.0.1:%d" % admin}}
    ex.update(extra or {})
    cfg = H.base_config(d, rules, backends, clusters=clusters, extra=ex)
    cfg["threads"] = threads
    _n[0] += 1
    gw = H.Gateway(d, cfg, name="gateway-%d" % _n[0]).start()
    gw.admin = admin
    return gw


def metric(gw, name):
    return X.metric(X.admin_get(gw.admin, "/metrics")[1], name)


def stop(t, gw):
    gw.signal(15)
    t.eq(gw.wait_exit(20), 0, "%s: drains and exits 0" % gw.name)


def resend(t, d, rules, backends, de):
    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url])
    port = gw.listener("clear")[1]
    hdr = {"X-Forwarded-For": de}

    r = H.curl(port, "/v1/sync/arm-1-%s" % H.uid(), "GET", hdr, proto="h1c")
    t.eq(r.status, 200, "a first GET opens a connection that stays alive")
    victim = "/v1/sync/victim-get-%s" % H.uid()
    r = H.curl(port, victim, "GET", hdr, proto="h1c")
    t.ok(r.status == 200 and r.body == b"fine\n",
         "the node closes the kept-alive connection as the next GET arrives: it is sent once more and answered", r)
    t.eq(bad.count(victim), 2, "the GET reached the node twice: on the closed connection and on a fresh one")
    t.eq(metric(gw, "domicile_upstream_resent_total"), 1.0, "domicile_upstream_resent_total counts it")

    r = H.curl(port, "/v1/sync/arm-2-%s" % H.uid(), "GET", hdr, proto="h1c")
    t.eq(r.status, 200, "another GET arms the (fresh) kept-alive connection")
    post = "/v1/sync/victim-post-%s" % H.uid()
    r = H.curl(port, post, "POST", hdr, b"write once", proto="h1c")
    t.ok(r.status == 503 and (r.json() or {}).get("reason") == "region_unavailable" and r.header("retry-after"),
         "the node closes as a POST arrives: the client gets 503 region_unavailable with Retry-After", r)
    t.eq(bad.count(post), 1, "the POST is never sent again: the node saw it exactly once")
    t.eq(metric(gw, "domicile_upstream_resent_total"), 1.0, "nothing more was resent")
    reused = metric(gw, "domicile_upstream_reused_total")
    t.ok(reused is not None and reused >= 2, "both victims went out on kept-alive connections", reused)
    stop(t, gw)
    bad.stop()


def bounded(t, d, rules, backends, de):
    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url], threads=2,
                 upstream={"max_connections": 4, "queue_timeout": "20s"})
    port = gw.listener("clear")[1]
    t0 = time.monotonic()
    r = H.h2load("http://127.0.0.1:%d/v1/sync/slow-20-%s" % (port, H.uid()), n=200, c=2, m=100,
                 headers={"x-forwarded-for": de}, timeout=90)
    took = time.monotonic() - t0
    t.eq(r.get("2xx"), 200, "200 concurrent streams, max_connections 4, queue_timeout 20 s: every request served")
    t.ok(bad.max_open <= 4, "the node never had more than 4 connections open at once", bad.max_open)
    t.ok(bad.accepted <= 4, "kept alive: no more than 4 connections were ever opened", bad.accepted)
    queued = metric(gw, "domicile_upstream_queued_total")
    t.ok(queued is not None and queued >= 100, "most requests waited in the queue", queued)
    t.note("FIGURE upstream.bounded = 200 streams of 20 ms each through max_connections 4: %d connections at "
           "most (%d opened), %.0f queued, %.1f s" % (bad.max_open, bad.accepted, queued or 0, took))
    stop(t, gw)
    bad.stop()

    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url], threads=1,
                 upstream={"max_connections": 4, "queue_timeout": "300ms"})
    port = gw.listener("clear")[1]
    slow = "/v1/sync/slow-3000-%s" % H.uid()
    load = threading.Thread(target=H.h2load, kwargs=dict(url="http://127.0.0.1:%d%s" % (port, slow), n=8, c=1, m=8,
                                                         headers={"x-forwarded-for": de}, timeout=60), daemon=True)
    load.start()
    H.wait_until(lambda: bad.count(slow) >= 4, 10, what="4 slow requests at the node")
    r, took = X.timed(H.curl, port, "/v1/sync/queued-%s" % H.uid(), "GET", {"X-Forwarded-For": de}, proto="h2c")
    t.ok(r.status == 503 and (r.json() or {}).get("reason") == "node_busy" and r.header("retry-after") == "5",
         "every connection busy past queue_timeout: 503 node_busy with Retry-After", r)
    t.ok(0.25 <= took < 2.5, "... after queue_timeout (300 ms), not at once and not after the slow answers", took)
    t.ok(bad.max_open <= 4, "still never more than 4 connections", bad.max_open)
    load.join(30)
    t.ok((metric(gw, "domicile_upstream_queue_timeouts_total") or 0) >= 1, "queue timeouts are counted")
    stop(t, gw)
    bad.stop()


def stalled(t, d, rules, backends, de):
    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url], upstream={"first_byte_timeout": "1s"})
    port = gw.listener("clear")[1]
    out = []
    th = threading.Thread(target=lambda: out.append(X.timed(H.curl, port, "/v1/sync/stall-1-%s" % H.uid(), "GET",
                                                            {"X-Forwarded-For": de}, None, "h2c")), daemon=True)
    th.start()
    H.wait_until(lambda: bad.count("/v1/sync/stall-") >= 1, 10, what="the stalled request at the node")
    others = []
    while th.is_alive() and len(others) < 20:
        r, dt = X.timed(H.curl, port, "/v1/sync/meanwhile-%s" % H.uid(), "PUT", {"X-Forwarded-For": X.UNKNOWN},
                        b"m", "h2c")
        others.append((r.status, dt))
    th.join(20)
    (r, took), = out
    t.ok(r.status == 503 and (r.json() or {}).get("reason") == "region_unavailable",
         "a node that never answers: 503 region_unavailable", r)
    t.ok(0.9 <= took < 3, "... after upstream.first_byte_timeout (1 s)", took)
    t.ok(others and all(s == 200 for s, _ in others) and max(dt for _, dt in others) < 1.0,
         "meanwhile the one worker thread serves other requests promptly", others)
    stop(t, gw)
    bad.stop()


def stream_hash(argv, timeout=120):
    """Runs a client that writes the body to stdout: (exit code, bytes, sha256)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    h, n = hashlib.sha256(), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = p.stdout.read(MIB)
        if not b:
            break
        h.update(b)
        n += len(b)
    p.stdout.close()
    return p.wait(timeout=10), n, h.hexdigest()


def big(t, d, rules, backends, de):
    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url])
    port = gw.listener("clear")[1]
    pid = gw.proc.pid
    want = hashlib.sha256(X.BIG_BLOCK * 100).hexdigest()
    # warm up (first connection, first buffers), then measure from here
    H.curl(port, "/v1/sync/big-1-%s" % H.uid(), "GET", {"X-Forwarded-For": de}, proto="h2c")
    for proto, path in (("h2c", "big"), ("h1c", "bigchunked")):
        base = X.reset_peak_rss(pid)
        url = "http://127.0.0.1:%d/v1/sync/%s-100-%s" % (port, path, H.uid())
        argv = ["curl", "-sS", "--max-time", "100", "-H", "X-Forwarded-For: " + de, "-o", "-", url]
        argv.insert(1, "--http2-prior-knowledge" if proto == "h2c" else "--http1.1")
        (rc, n, digest), took = X.timed(stream_hash, argv)
        peak = X.peak_rss_kib(pid)
        t.ok(rc == 0 and n == 100 * MIB and digest == want,
             "100 MiB %s over %s arrive whole and intact" % ("(Content-Length)" if path == "big" else "(chunked)", proto),
             (rc, n, digest))
        grew = (peak - base) / 1024.0
        t.note("FIGURE upstream.download_%s = 100 MiB in %.1f s; gateway RSS %.1f MiB before, peak +%.1f MiB"
               % (proto, took, base / 1024.0, grew))
        if not X.SANITIZED:
            t.ok(grew < 24, "the gateway's peak RSS grew by %.1f MiB for a 100 MiB body (< 24 MiB: streamed)" % grew)

    # a client that stops reading: the node is no longer read either
    base = X.reset_peak_rss(pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(("GET /v1/sync/big-100-%s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\n\r\n"
               % (H.uid(), de)).encode())
    got = 0
    while got < MIB:
        got += len(s.recv(65536))
    time.sleep(1.5)  # the node could send the other 99 MiB meanwhile, if nothing held it back
    peak = X.peak_rss_kib(pid)
    grew = (peak - base) / 1024.0
    t.note("FIGURE upstream.stalled_reader = 1 MiB read, then 1.5 s still: gateway peak RSS +%.1f MiB" % grew)
    if not X.SANITIZED:
        t.ok(grew < 16, "a client that stops reading holds the node back: the gateway grew by %.1f MiB" % grew)
    s.close()
    H.wait_until(lambda: bad.open_now == 0 or metric(gw, "domicile_upstream_connections_opened_total") is not None,
                 10, what="the gateway to notice the client left")
    X.still_serves(t, gw, backends, "after the downloads")
    stop(t, gw)
    bad.stop()


def openssl(*args):
    H.run(["openssl"] + list(args), timeout=30, check=True)


def certs(d):
    """A CA, and node certificates: for 127.0.0.1, for localhost, for another name (all from the CA),
    and a self-signed one for 127.0.0.1 (no trusted CA)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    openssl("req", "-x509", *key, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=domicile test CA")
    out = {"ca": ca}
    for name, san in (("ip", "IP:127.0.0.1"), ("dns", "DNS:localhost"), ("wrong", "DNS:wrong.example")):
        k, csr, crt, ext = (os.path.join(d, "%s.%s" % (name, s)) for s in ("key", "csr", "pem", "ext"))
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % san)
        openssl("req", *key, "-keyout", k, "-out", csr, "-subj", "/CN=node-%s" % name)
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
                "-days", "2", "-extfile", ext)
        out[name] = (crt, k)
    k, crt = os.path.join(d, "self.key"), os.path.join(d, "self.pem")
    openssl("req", "-x509", *key, "-keyout", k, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1")
    out["self"] = (crt, k)
    return out


def https(t, d, rules, backends, de):
    c = certs(H.tmpdir())
    cases = [("ip", "127.0.0.1", True), ("dns", "localhost", True), ("wrong", "127.0.0.1", False),
             ("self", "127.0.0.1", False)]
    for name, host, valid in cases:
        bad = X.BadBackend(tls=c[name])
        url = "https://%s:%d" % (host, bad.port)
        gw = gateway(t, d, rules, backends, [{"url": url, "upstream": {"tls_ca": c["ca"]}}])
        path = "/v1/sync/tls-%s-%s" % (name, H.uid())
        r = H.curl(gw.listener("clear")[1], path, "GET", {"X-Forwarded-For": de}, proto="h2c")
        if valid:
            t.ok(r.status == 200 and r.body == b"fine\n" and bad.count(path) == 1,
                 "https node with a certificate for its %s from upstream.tls_ca: served" % name, (r, bad.seen))
        else:
            t.ok(r.status == 503 and (r.json() or {}).get("reason") == "region_unavailable",
                 "https node with a %s certificate: 503, refused at the handshake" % name, r)
            t.eq(bad.count("/"), 0, "... and no request reached that node")
            # the node's thread counts the failed handshake after the gateway has already answered: wait for it
            try:
                H.wait_until(lambda: bad.handshake_failures >= 1, 10, what="the node to see the failed handshake")
            except H.TestFailure:
                pass
            t.ok(bad.handshake_failures >= 1, "... whose TLS handshake the gateway broke off", bad.handshake_failures)
        stop(t, gw)
        bad.stop()


def rfc9112(t, d, rules, backends, de):
    bad = X.BadBackend()
    gw = gateway(t, d, rules, backends, [bad.url])
    hdr = {"X-Forwarded-For": de}
    for proto in ("h2c", "h1c"):
        port = gw.listener("clear")[1]
        r = H.curl(port, "/v1/sync/interim-%s" % H.uid(), "GET", hdr, proto=proto)
        t.ok(r.status == 200 and r.body == b"ok", "%s: 103 and 100 from the node are dropped, its 200 passes" % proto, r)
        r = H.curl(port, "/v1/sync/nocontent-%s" % H.uid(), "GET", hdr, proto=proto)
        t.ok(r.status == 204 and r.body == b"" and r.header("x-node") == "yes" and r.error is None,
             "%s: 204 passes without a body" % proto, r)
        # curl -I writes the head where the body would go: no "fine" may follow it
        r = H.curl(port, "/v1/sync/head-%s" % H.uid(), "HEAD", hdr, proto=proto, extra=("-I",))
        t.ok(r.status == 200 and r.header("content-length") == "5" and b"fine" not in r.body and r.error is None,
             "%s: HEAD gets the node's length, no body" % proto, r)
        r = H.curl(port, "/v1/sync/hopbyhop-%s" % H.uid(), "GET", hdr, proto=proto)
        t.ok(r.status == 200 and r.body == b"hop" and r.header("x-public") == "yes" and r.header("x-secret") is None
             and r.header("keep-alive") is None,
             "%s: fields the node's Connection header names (and Keep-Alive) stay between node and gateway" % proto, r)
    t.eq(bad.accepted, 1, "all of them on one kept-alive connection to the node")
    stop(t, gw)
    bad.stop()


def main(t):
    H.require_tools("curl", "h2load", "openssl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    de = H.geo_addr("DE")
    resend(t, d, rules, backends, de)
    bounded(t, d, rules, backends, de)
    stalled(t, d, rules, backends, de)
    big(t, d, rules, backends, de)
    https(t, d, rules, backends, de)
    rfc9112(t, d, rules, backends, de)


if __name__ == "__main__":
    H.run_test("gateway_upstream", main, timeout=170)
