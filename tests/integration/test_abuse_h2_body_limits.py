#!/usr/bin/env python3
"""Buffered HTTP/2 request bodies against the gateway (patches/0003-http2-request-body-timeout.patch,
0004-http2-request-body-budget.patch). libh2o 2.2.5 buffers a whole request body before the
handler runs. On Debian's unpatched library one h2c connection with 100 streams each sending
8 MiB - 1 without END_STREAM took the gateway from 7.8 MB to 866 MB of RSS, held for as long as
the client sent an empty DATA frame every few seconds, and a body sent one byte every 2 s was
neither answered nor closed (HTTP/1.1 closes at its 10 s request timeout).

Asserted (limits.max_body 8m; the default budgets, 16 MiB per connection and 256 MiB in all,
and the default limits.request_timeout, 10 s):
- 100 streams x (8 MiB - 1) on one connection, then an empty DATA frame every 2 s on each
  stream still open: the gateway's peak RSS grows by less than the per-connection budget plus
  8 MiB, and 2 MiB per connection for what is not body (CONSTANT, PER_CONNECTION below); every
  stream ends by the body deadline, refused (REFUSED_STREAM) when it does not fit the budget or
  reset (CANCEL) at the deadline; nothing reaches a backend;
- the same on 20 connections at once, under the process budget (run only when one connection
  held its bound: 20 unbounded ones would ask for 16 GB of a shared machine);
- a body sent one byte every 2 s is closed at the same deadline over HTTP/2 (RST_STREAM CANCEL;
  the connection then serves another request) as over HTTP/1.1 (connection closed)."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

MIB = 1024 * 1024
BODY = 8 * MIB - 1
DEADLINE_S = 10.0  # limits.request_timeout's default (h2o's http1.req_timeout)
PER_CONN = 16 * MIB
TOTAL = 256 * MIB
STREAMS = 100
TRICKLE_S = 2.0
SLACK_S = 3.0 if X.SANITIZED else 1.5  # timer granularity and a loaded machine
# What is not request body: per connection, 100 open streams (h2o's stream and request structures,
# their memory pools) and the socket read buffer (limits.receive_buffer bounds it; h2o reads a socket
# until EAGAIN); once, the copy while the last buffer doubles.
PER_CONNECTION = 2 * MIB
CONSTANT = 8 * MIB


class Attacker:
    """One connection with STREAMS uploads of BODY bytes that never end, on a thread of its own: it
    sends what the flow-control windows and the budget let through, then an empty DATA frame every
    2 s on each stream still open, as a slow client would, until every stream has ended."""

    def __init__(self, port, xff, tag, n, body):
        self.port, self.xff, self.tag, self.n, self.body = port, xff, tag, n, body
        self.ended = {}  # sid -> seconds from the HEADERS to the end of the stream
        self.codes = {}
        self.c = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = self.c = h2raw.H2Conn("127.0.0.1", self.port, timeout=30)
        c.pump(until=lambda c: h2raw.SETTINGS_INITIAL_WINDOW_SIZE in c.server_settings or c.closed, timeout=5)
        out = []
        for i in range(STREAMS):
            sid, f = c.headers_frame("POST", "/v1/sync/%s-%d-%d" % (self.tag, self.n, i),
                                     {"x-forwarded-for": self.xff, "content-length": str(BODY)}, end_stream=False)
            out.append(f)
        t0 = time.monotonic()
        c.send(b"".join(out))
        for sid in sorted(c.streams):
            c.send_data(sid, self.body, end_stream=False, timeout=15)
        self.filled = time.monotonic() - t0
        while time.monotonic() - t0 < DEADLINE_S + 2 * SLACK_S + TRICKLE_S and not c.closed:
            open_ = [s for s, st in c.streams.items() if st.ended_at is None]
            if not open_:
                break
            for sid in open_:
                c.send_data(sid, b"")
            c.pump(until=lambda c: c.closed, timeout=TRICKLE_S)
        now = time.monotonic()
        for sid, st in c.streams.items():
            self.ended[sid] = (st.ended_at if st.ended_at is not None else now) - t0
            name = h2raw.error_name(st.rst_code) if st.rst_code is not None else (
                "ended" if st.ended else "connection closed" if c.closed else "open")
            self.codes[name] = self.codes.get(name, 0) + 1
        c.close()


def attack(t, gw, n_conns, tag, budget):
    pid = gw.proc.pid
    port = gw.listener("clear")[1]
    body = b"u" * BODY
    rss0 = X.reset_peak_rss(pid)
    cpu0 = X.cpu_seconds(pid)
    conns = [Attacker(port, H.geo_addr("DE"), tag, n, body) for n in range(n_conns)]
    for a in conns:
        a.thread.start()
    for a in conns:
        a.thread.join(DEADLINE_S + 60)
    growth = X.peak_rss_kib(pid) - rss0
    label = "%d_connection%s" % (n_conns, "s" if n_conns > 1 else "")
    codes = {}
    for a in conns:
        for k, v in a.codes.items():
            codes[k] = codes.get(k, 0) + v
    worst = max(v for a in conns for v in a.ended.values())
    t.note("FIGURE h2_bodies.%s = %d streams x %d bytes: sent in %.1f s at most; ended: %s; the last %.1f s after "
           "its HEADERS" % (label, n_conns * STREAMS, BODY, max(getattr(a, "filled", 0) for a in conns),
                            ", ".join("%s %d" % kv for kv in sorted(codes.items())), worst))
    t.note("FIGURE h2_bodies.%s.peak_rss_growth = %.1f MiB (budget %d MiB; RSS before %.1f MiB, after %.1f MiB); "
           "gateway CPU %.2f s" % (label, growth / 1024.0, budget // MIB, rss0 / 1024.0, X.rss_kib(pid) / 1024.0,
                                   X.cpu_seconds(pid) - cpu0))
    t.eq(sum(len(a.ended) for a in conns), n_conns * STREAMS, "%s: every attacker finished" % label)
    t.ok(worst <= DEADLINE_S + SLACK_S, "%s: every stream ends by the body deadline (%.0f s; the last %.1f s)"
         % (label, DEADLINE_S, worst))
    t.ok(set(codes) <= {"REFUSED_STREAM", "CANCEL"}, "%s: each is refused by the budget or reset at the deadline"
         % label, codes)
    over = CONSTANT + n_conns * PER_CONNECTION
    return t.ok(X.SANITIZED or growth < (budget + over) // 1024,
                "%s: peak RSS growth %.1f MiB < budget %d MiB + %d MiB (%d MiB + %d MiB per connection)%s"
                % (label, growth / 1024.0, budget // MIB, over // MIB, CONSTANT // MIB, PER_CONNECTION // MIB,
                   ", sanitizer build: not asserted" if X.SANITIZED else ""))


def slow_http1(port, xff, tag, out):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.monotonic()
    s.sendall(("PUT /v1/sync/%s-h1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Length: 100\r\n\r\n"
               % (tag, xff)).encode())
    closed = None
    while time.monotonic() - t0 < DEADLINE_S + 10:
        try:
            s.sendall(b"x")
            s.settimeout(TRICKLE_S)
            if s.recv(65536) == b"":
                closed = time.monotonic() - t0
                break
        except socket.timeout:
            continue
        except OSError:
            closed = time.monotonic() - t0
            break
    s.close()
    out["h1"] = closed


def slow_http2(port, xff, tag, out):
    c = h2raw.H2Conn("127.0.0.1", port, timeout=30)
    sid, f = c.headers_frame("PUT", "/v1/sync/%s-h2" % tag, {"x-forwarded-for": xff, "content-length": "100"},
                             end_stream=False)
    t0 = time.monotonic()
    c.send(f)
    while time.monotonic() - t0 < DEADLINE_S + 10 and not c.done(sid) and not c.closed:
        c.send_data(sid, b"x")
        c.pump(until=lambda c: c.done(sid), timeout=TRICKLE_S)
    out["h2"] = time.monotonic() - t0 if c.done(sid) else None
    out["h2_code"] = c.streams[sid].rst_code
    # the connection and its other streams go on
    after = c.request("GET", "/v1/sync/%s-after" % tag, {"x-forwarded-for": xff})
    c.pump(until=lambda c: c.done(after), timeout=10)
    out["h2_after"] = c.streams[after].status
    c.close()


def main(t):
    d, backends, gw = X.small_gateway(t, threads=1, listeners=("clear",), extra={"limits": {"max_body": "8m"}})
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    tag = "bodies-" + H.uid()
    X.still_serves(t, gw, backends, "before")

    slow = {}
    threads = [threading.Thread(target=fn, args=(port, de, tag + "-slow", slow), daemon=True)
               for fn in (slow_http1, slow_http2)]
    for th in threads:
        th.start()
    held = attack(t, gw, 1, tag, PER_CONN)
    for th in threads:
        th.join(DEADLINE_S + 20)
    h1, h2 = slow.get("h1"), slow.get("h2")
    t.note("FIGURE h2_bodies.slow_body = 1 byte every 2 s: HTTP/1.1 connection closed at %s s, HTTP/2 stream reset "
           "(%s) at %s s" % ("%.1f" % h1 if h1 else "-", h2raw.error_name(slow.get("h2_code") or 0),
                             "%.1f" % h2 if h2 else "-"))
    t.ok(h1 is not None and h1 <= DEADLINE_S + SLACK_S, "a slow HTTP/1.1 body is closed at the request timeout", h1)
    t.ok(h2 is not None and h2 <= DEADLINE_S + SLACK_S and slow.get("h2_code") == h2raw.CANCEL,
         "a slow HTTP/2 body is reset (CANCEL) at the same deadline", (h2, slow.get("h2_code")))
    t.ok(h1 is not None and h2 is not None and abs(h1 - h2) <= 1.0, "... within 1 s of HTTP/1.1's", (h1, h2))
    t.eq(slow.get("h2_after"), 200, "the HTTP/2 connection then serves another request")

    if held:  # (without the budget, 20 connections would ask for 16 GB: not on a shared machine)
        attack(t, gw, 20, tag, TOTAL)
    reached = [r["path"] for r in H.all_records(backends) if r["path"].startswith("/v1/sync/" + tag)]
    t.eq([p for p in reached if not p.endswith("-after")], [], "no unfinished body reaches a backend")
    X.still_serves(t, gw, backends, "after")
    gw.signal(15)
    gw.wait_exit(10)


if __name__ == "__main__":
    H.run_test("abuse_h2_body_limits", main, timeout=170)
