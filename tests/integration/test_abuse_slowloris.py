#!/usr/bin/env python3
"""Slow clients (slowloris). 200 connections send a request's headers one byte at a time
(HTTP/1.1), and 50 more open HTTP/2 (h2c) and then say nothing. With one worker thread the
gateway must keep serving other clients promptly meanwhile, and close the slow connections
after its header timeout (h2o's http1 req_timeout / http2 idle_timeout, 10 s by default)
instead of holding them forever. Figures as `# FIGURE`."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

N_H1, N_H2 = 200, 50
HEADER_TIMEOUT = 10.0  # h2o 2.2.5's default; the gateway does not change it
PARTIAL = b"PUT /v1/sync/slow HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 5.1.2.3\r\nX-Pad: "


def main(t):
    H.require_tools("curl")
    d, backends, gw = X.small_gateway(t, threads=1)
    port = gw.listener("clear")[1]
    pid = gw.proc.pid
    fds0 = X.open_fds(pid)
    conns = []
    t0 = time.monotonic()
    for i in range(N_H1 + N_H2):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        if i >= N_H1:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000"))
        conns.append([s, 0, None])  # socket, bytes sent, closed-at
    t.note("FIGURE slowloris.connections = %d HTTP/1.1 dripping + %d idle h2c, gateway fds %d -> %d"
           % (N_H1, N_H2, fds0, X.open_fds(pid)))
    served, worst = 0, 0.0
    cpu0 = X.cpu_seconds(pid)
    deadline = t0 + HEADER_TIMEOUT + 8
    while time.monotonic() < deadline and any(c[2] is None for c in conns):
        for c in conns[:N_H1]:
            if c[2] is None and c[1] < len(PARTIAL):
                try:
                    c[0].send(PARTIAL[c[1]:c[1] + 1])
                    c[1] += 1
                except OSError:
                    c[2] = time.monotonic() - t0
            elif c[2] is None:
                try:
                    c[0].send(b"a")
                    c[1] += 1
                except OSError:
                    c[2] = time.monotonic() - t0
        for c in conns:
            if c[2] is None:
                try:
                    if c[0].recv(4096) == b"" and c[2] is None:
                        c[2] = time.monotonic() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    c[2] = time.monotonic() - t0
        # a normal client meanwhile
        path = "/v1/sync/normal-%s" % H.uid()
        r, dt = X.timed(H.curl, port, path, "PUT", {"X-Forwarded-For": X.UNKNOWN}, b"n" * 16, "h2c", "127.0.0.1", 10)
        worst = max(worst, dt)
        t.ok(r.status == 200, "a normal write during the slowloris is served", r) if r.status != 200 else None
        served += r.status == 200
        time.sleep(0.25)  # the attacker's pace: one byte per connection per ~0.3 s
    cpu = X.cpu_seconds(pid) - cpu0
    closed = [c[2] for c in conns if c[2] is not None]
    h1_closed = [c[2] for c in conns[:N_H1] if c[2] is not None]
    h2_closed = [c[2] for c in conns[N_H1:] if c[2] is not None]
    t.ok(served >= 10, "normal writes keep being served during the slowloris (%d)" % served)
    t.ok(worst < 2.0, "normal writes' worst latency during the slowloris < 2 s", worst)
    t.eq(len(h1_closed), N_H1, "every dripping HTTP/1.1 connection is closed by the gateway")
    t.eq(len(h2_closed), N_H2, "every idle h2c connection is closed by the gateway")
    if closed:
        t.ok(max(closed) < HEADER_TIMEOUT + 5, "slow connections are closed within the header timeout + 5 s",
             max(closed))
    t.note("FIGURE slowloris.h1_closed_after = %.1f-%.1f s" % (min(h1_closed or [0]), max(h1_closed or [0])))
    t.note("FIGURE slowloris.h2_closed_after = %.1f-%.1f s" % (min(h2_closed or [0]), max(h2_closed or [0])))
    t.note("FIGURE slowloris.bystanders = %d writes, worst %.0f ms; gateway CPU %.2f s over %.1f s"
           % (served, worst * 1000, cpu, time.monotonic() - t0))
    for c in conns:
        c[0].close()
    X.still_serves(t, gw, backends, "after the slowloris")


if __name__ == "__main__":
    H.run_test("abuse_slowloris", main, timeout=90)
