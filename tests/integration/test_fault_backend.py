#!/usr/bin/env python3
"""Backends that fail mid-response or stall.

- A node answers `200, Content-Length: 1000`, sends 10 bytes and closes. The client must see
  an error, never a short body presented as a success: over HTTP/1.1 (TLS and cleartext)
  curl exits non-zero; over HTTP/2 the stream ends with RST_STREAM, not END_STREAM (checked with curl and with h2raw).
- A node reads the request and never answers. limits.upstream_timeout (2 s here) applies:
  the client gets a refusal (503 region_unavailable, JSON) within the timeout plus a margin,
  and meanwhile the single worker thread keeps serving other requests promptly.
- A chunked answer cut after a whole chunk (no last chunk): the same, an error over every
  protocol. (h2o 2.2.5's own proxy took it as the end of the body; the gateway's upstream client,
  src/gateway/forward.c, ends a body only where its framing says it ends.)"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

TIMEOUT_S = 2


def main(t):
    H.require_tools("curl")
    bad = X.BadBackend()
    d, backends, gw = X.small_gateway(t, threads=1, alpha_nodes=[bad.url],
                                      extra={"limits": {"upstream_timeout": "%ds" % TIMEOUT_S}})
    de = H.geo_addr("DE")  # T-EU content → r-alpha first: the bad node
    tls_port, clear_port = gw.listener("tls")[1], gw.listener("clear")[1]

    # --- truncated bodies
    for proto in ("h1", "h1c", "h2", "h2c"):
        port = clear_port if proto in ("h1c", "h2c") else tls_port
        # the gateway forwards the path as is; the node acts on the /trunc- part
        path = "/v1/sync/trunc-%s-%s" % (proto, H.uid())
        r = H.curl(port, path, "GET", {"X-Forwarded-For": de}, proto=proto, timeout=15)
        t.ok(r.error is not None, "Content-Length 1000, 10 bytes, close, over %s: curl exits non-zero" % proto,
             "status %s, %d body bytes, error %r" % (r.status, len(r.body), r.error))
        t.ok(not (r.error is None and r.status == 200), "truncated over %s: never a success" % proto, r)
        t.eq(bad.count(path), 1, "truncated over %s: the request reached the node once" % proto)

    # --- a chunked body cut after a whole chunk, without the last chunk
    for proto in ("h1", "h1c", "h2", "h2c"):
        port = clear_port if proto in ("h1c", "h2c") else tls_port
        path = "/v1/sync/chunked-cut-%s-%s" % (proto, H.uid())
        r = H.curl(port, path, "GET", {"X-Forwarded-For": de}, proto=proto, timeout=15)
        t.ok(r.error is not None, "chunked, one whole chunk, close, over %s: curl exits non-zero" % proto,
             "status %s, %d body bytes, error %r" % (r.status, len(r.body), r.error))
        t.eq(bad.count(path), 1, "chunked cut over %s: the request reached the node once" % proto)

    c = h2raw.H2Conn("127.0.0.1", clear_port)
    sid = c.request("GET", "/v1/sync/chunked-cut-raw-" + H.uid(), {"x-forwarded-for": de})
    c.pump(until=lambda c: c.done(sid), timeout=15)
    st = c.streams[sid]
    t.ok(st.rst_code is not None and not st.ended,
         "h2c raw: a chunked body cut after a whole chunk ends the stream with RST_STREAM", st)
    t.note("FIGURE backend.chunked_cut_h2 = status %s, %d bytes, then RST_STREAM(%s)"
           % (st.status, len(st.data), None if st.rst_code is None else h2raw.error_name(st.rst_code)))
    c.close()

    c = h2raw.H2Conn("127.0.0.1", clear_port)
    sid = c.request("GET", "/v1/sync/trunc-raw-" + H.uid(), {"x-forwarded-for": de})
    c.pump(until=lambda c: c.done(sid), timeout=15)
    st = c.streams[sid]
    t.ok(st.rst_code is not None and not st.ended, "h2c raw: a truncated upstream body ends the stream with RST_STREAM",
         st)
    t.note("FIGURE backend.truncated_h2 = status %s, %d of 1000 bytes, then RST_STREAM(%s)"
           % (st.status, len(st.data), None if st.rst_code is None else h2raw.error_name(st.rst_code)))
    c.close()

    # --- a stalled node: the timeout applies and the worker is not blocked
    stalled = []

    def stall(i):
        path = "/v1/sync/stall-%d-%s" % (i, H.uid())
        r, dt = X.timed(H.curl, clear_port, path, "PUT", {"X-Forwarded-For": de}, b"s" * 32, "h2c", "127.0.0.1", 20)
        stalled.append((r, dt))

    threads = [threading.Thread(target=stall, args=(i,), daemon=True) for i in range(8)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    H.wait_until(lambda: bad.count("/v1/sync/stall-") >= 8, 10, what="8 stalled requests at the node")
    # while 8 requests wait on the stalled node, others are served at once
    others = []
    while time.monotonic() - t0 < TIMEOUT_S - 0.3 and len(others) < 10:
        path = "/v1/sync/meanwhile-%s" % H.uid()
        r, dt = X.timed(H.curl, clear_port, path, "PUT", {"X-Forwarded-For": X.UNKNOWN}, b"m" * 32, "h2c",
                        "127.0.0.1", 10)
        others.append((r.status, dt, path))
    for th in threads:
        th.join(30)
    recorded = {r["path"] for r in H.all_records(backends)}
    t.ok(others and all(s == 200 and p in recorded for s, _, p in others),
         "while 8 requests stall upstream, %d other writes are served and recorded" % len(others), others)
    worst_other = max([dt for _, dt, _ in others] or [99])
    t.ok(worst_other < 1.0, "other requests' worst latency meanwhile < 1 s", worst_other)
    t.note("FIGURE backend.stall_bystanders = %d writes during the stall, worst %.0f ms"
           % (len(others), worst_other * 1000))
    statuses = sorted({r.status for r, _ in stalled})
    durations = [dt for _, dt in stalled]
    t.eq(len(stalled), 8, "every stalled request was answered")
    t.eq(statuses, [503], "a stalled upstream gives 503 (region_unavailable)")
    t.ok(all(r.json() and r.json().get("reason") == "region_unavailable" for r, _ in stalled),
         "the 503 is the JSON refusal with reason region_unavailable", [r.body[:200] for r, _ in stalled][:2])
    t.ok(durations and min(durations) >= TIMEOUT_S - 0.2 and max(durations) < TIMEOUT_S + 3,
         "the answer comes after upstream_timeout (%d s), not before and not much later" % TIMEOUT_S, durations)
    t.note("FIGURE backend.stall = 8 requests, answered %s after %.2f-%.2f s (upstream_timeout %d s)"
           % (statuses, min(durations or [0]), max(durations or [0]), TIMEOUT_S))
    X.still_serves(t, gw, backends, "after the faults")
    bad.stop()


if __name__ == "__main__":
    H.run_test("fault_backend", main, timeout=120)
