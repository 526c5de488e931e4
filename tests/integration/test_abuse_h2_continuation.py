#!/usr/bin/env python3
"""CONTINUATION floods against the gateway (patches/0002-http2-continuation-limits.patch; the
CVE-2024-27316 family). Debian's unpatched libh2o 2.2.5 never closes a connection that sends
HEADERS without END_HEADERS followed by empty CONTINUATION frames (867 million frames in 25 s,
the worker at 98 % CPU), and a CONTINUATION every 5 s keeps a header block open for good.

Asserted, on one worker thread:
- empty CONTINUATION frames as fast as the client can write them: every connection is closed
  (GOAWAY ENHANCE_YOUR_CALM) within 1 s; reported: worker CPU during the flood and the p99
  latency of a legitimate h2load client running meanwhile (and without the flood);
- one CONTINUATION every 5 s: the connection is closed at the header-block deadline
  (limits.h2_header_block_timeout, 10 s), not kept open by the frames;
- a CONTINUATION that arrives after the gateway's GOAWAY of a graceful shutdown (another stream
  still running) is dropped: h2o 2.2.5 handled it again and again without end, spinning the
  worker so the drain never finished. The gateway exits within its drain timeout."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

DEADLINE_S = 10.0  # limits.h2_header_block_timeout's default
SLOW_EVERY_S = 5.0
FLOOD_S = 6.0
BATCH = 1000  # empty CONTINUATION frames per write


def open_block(port, path, xff):
    """A connection with one header block left open (HEADERS without END_HEADERS). Returns (c, sid)."""
    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_CONCURRENT_STREAMS in c.server_settings or c.closed, timeout=5)
    block = c.pseudo_headers("GET", path) + h2raw.encode_headers([("x-forwarded-for", xff)])
    sid = c.next_sid
    c.next_sid += 2
    c.open_stream(sid)
    c.send(c.frame(h2raw.HEADERS, h2raw.END_STREAM, sid, block))
    return c, sid


def flood_once(port, xff, tag):
    """Empty CONTINUATION frames until the gateway closes the connection (or 5 s pass).
    Returns (seconds from the first CONTINUATION to the close, frames sent, GOAWAY error name)."""
    c, sid = open_block(port, "/v1/sync/%s-%s" % (tag, H.uid()), xff)
    batch = c.frame(h2raw.CONTINUATION, 0, sid) * BATCH
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 5:
        if not c.send(batch):
            break
        sent += BATCH
        c.pump(timeout=0.001)
        if c.closed or c.goaway is not None:
            break
    c.pump(until=lambda c: c.closed, timeout=max(0.01, 5 - (time.monotonic() - t0)))
    dt = time.monotonic() - t0
    code = h2raw.error_name(c.goaway[1]) if c.goaway is not None else ("none, closed" if c.closed else "none, open")
    c.close()
    return dt, sent, code


def slow_block(port, xff, tag, out):
    """One CONTINUATION every 5 s; out gets (seconds from HEADERS to the close, GOAWAY, frames sent)."""
    c, sid = open_block(port, "/v1/sync/%s-%s" % (tag, H.uid()), xff)
    t0, frames = time.monotonic(), 0
    while time.monotonic() - t0 < DEADLINE_S + 2 * SLOW_EVERY_S:
        if c.pump(until=lambda c: c.closed, timeout=SLOW_EVERY_S):
            break
        if not c.send(c.frame(h2raw.CONTINUATION, 0, sid, h2raw.encode_headers([("x-slow", "%d" % frames)]))):
            c.pump(until=lambda c: c.closed, timeout=1)
            break
        frames += 1
    out.append((time.monotonic() - t0 if c.closed else None, c.goaway, frames))
    c.close()


def main(t):
    H.require_tools("h2load")
    bad = X.BadBackend()  # r-alpha (where DE reads go): its /stall- paths never answer
    d, backends, gw = X.small_gateway(t, threads=1, listeners=("clear",), alpha_nodes=[bad.url])
    pid = gw.proc.pid
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    tag = "cont-" + H.uid()
    legit = "http://127.0.0.1:%d/v1/sync/legit-%s" % (port, H.uid())
    X.still_serves(t, gw, backends, "before the floods")

    slow = []
    slow_thread = threading.Thread(target=slow_block, args=(port, de, tag, slow), daemon=True)
    slow_thread.start()

    quiet = X.BackgroundLoad(legit, 3, headers={"x-forwarded-for": de}).start().stop()
    t.note("FIGURE continuation.legit_h2load_without_flood = %s" % quiet.summary())

    load = X.BackgroundLoad(legit, int(FLOOD_S), headers={"x-forwarded-for": de}).start()
    floods = []
    cpu0, t0 = X.cpu_seconds(pid), time.monotonic()
    while time.monotonic() - t0 < FLOOD_S:
        floods.append(flood_once(port, de, tag))
    cpu_share = (X.cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    load.stop()
    worst = max(f[0] for f in floods)
    frames = sum(f[1] for f in floods)
    codes = sorted({f[2] for f in floods})
    t.note("FIGURE continuation.flood = %d connections, %d empty CONTINUATION frames written in %.1f s; closed "
           "after at most %.0f ms (%s)" % (len(floods), frames, FLOOD_S, worst * 1000, ", ".join(codes)))
    t.note("FIGURE continuation.flood_worker_cpu = %.0f%% of one core (gateway, 1 worker thread)" % (cpu_share * 100))
    t.note("FIGURE continuation.legit_h2load_during_flood = %s" % load.summary())
    t.ok(worst < 1.0, "every flooding connection is closed within 1 s (worst %.0f ms)" % (worst * 1000))
    t.eq(codes, ["ENHANCE_YOUR_CALM"], "each is closed with GOAWAY(ENHANCE_YOUR_CALM)")
    t.ok(load.error is None and load.requests > 0 and load.success_ratio > 0.99,
         "a legitimate client is served meanwhile (%s)" % load.summary(), load.error)

    slow_thread.join(DEADLINE_S + 3 * SLOW_EVERY_S)
    closed_at, goaway, sent = slow[0] if slow else (None, None, 0)
    t.note("FIGURE continuation.slow = one CONTINUATION every %.0f s: %s" % (
        SLOW_EVERY_S, "closed at %.1f s (%d frames), GOAWAY %s" % (closed_at, sent, h2raw.error_name(goaway[1]))
        if closed_at is not None and goaway is not None else "still open at %.0f s" % (DEADLINE_S + 2 * SLOW_EVERY_S)))
    t.ok(closed_at is not None and DEADLINE_S - 0.5 <= closed_at <= DEADLINE_S + 1.5,
         "a CONTINUATION every 5 s does not keep the block open: closed at the %.0f s deadline" % DEADLINE_S,
         closed_at)
    t.ok(goaway is not None and goaway[1] == h2raw.ENHANCE_YOUR_CALM and b"header block timeout" in goaway[2],
         "... with GOAWAY(ENHANCE_YOUR_CALM, \"header block timeout\")", goaway)
    reached = [r["path"] for r in H.all_records(backends) if r["path"].startswith("/v1/sync/" + tag)]
    reached += [p for p in bad.seen if p.startswith("/v1/sync/" + tag)]
    t.eq(reached, [], "no open header block reached a backend")
    X.still_serves(t, gw, backends, "after the floods")

    # A CONTINUATION after the GOAWAY of a graceful shutdown, while another stream is still running.
    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    # (settings first: our SETTINGS ACK must not fall inside the open header block)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_CONCURRENT_STREAMS in c.server_settings or c.closed, timeout=5)
    running = c.request("GET", "/v1/sync/stall-%s" % H.uid(), {"x-forwarded-for": de})
    H.wait_until(lambda: bad.count("/v1/sync/stall-") >= 1, 10, what="the stalled request upstream")
    block = c.pseudo_headers("GET", "/v1/sync/%s-drain" % tag) + h2raw.encode_headers([("x-forwarded-for", de)])
    sid = c.next_sid
    c.next_sid += 2
    c.open_stream(sid)
    c.send(c.frame(h2raw.HEADERS, h2raw.END_STREAM, sid, block))
    gw.signal(15)  # drain: GOAWAY now, a second GOAWAY (h2o's half-closed state) a second later
    c.pump(until=lambda c: c.frames_in.get(h2raw.GOAWAY, 0) >= 2 or c.closed, timeout=5)
    t.ok(c.frames_in.get(h2raw.GOAWAY, 0) >= 2 and not c.closed, "graceful shutdown: two GOAWAYs, the connection "
         "stays for the running stream", (c.frames_in, c.closed, c.streams[running]))
    t_sent = time.monotonic()
    cpu0 = X.cpu_seconds(pid)
    c.send(c.frame(h2raw.CONTINUATION, h2raw.END_HEADERS, sid, h2raw.encode_headers([("x-late", "1")])))
    time.sleep(1.0)  # what the worker does in the next second is the measurement
    spin = X.cpu_seconds(pid) - cpu0
    code = gw.wait_exit(10)
    t.note("FIGURE continuation.after_goaway = gateway CPU %.2f s in the second after the frame; exited %s" % (
        spin, "after %.1f s" % (time.monotonic() - t_sent) if code is not None else "not within 10 s"))
    t.ok(spin < 0.5, "a CONTINUATION after GOAWAY does not spin the worker (%.2f s of CPU in 1 s)" % spin)
    t.ok(code is not None, "the gateway finishes its drain and exits (drain_timeout 5 s)", code)
    c.close()
    bad.stop()


if __name__ == "__main__":
    H.run_test("abuse_h2_continuation", main, timeout=170)
