#!/usr/bin/env python3
"""SIGTERM under load: every request a client saw succeed was recorded by a backend, an
in-flight request finishes, idle HTTP/1.1 keep-alive connections are closed at once (not
when the process ends), and the process exits 0 within drain_timeout plus a margin."""
import hashlib
import http.client
import os
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DRAIN_S = 6
SLOW_MS = 3000
H1_WORKERS = 6
H2_WORKERS = 2


class Load:
    """Client threads writing unique bodies; remembers the sha256 of every 2xx answer."""

    def __init__(self, gw, de):
        self.gw, self.de = gw, de
        self.lock = threading.Lock()
        self.acked = {}      # sha256 -> (path, time acked)
        self.failed = 0
        self.stop = threading.Event()
        self.threads = []

    def _ack(self, sha, path):
        with self.lock:
            self.acked[sha] = (path, time.time())

    def h1_worker(self, w):
        host, port = self.gw.listener("clear")
        conn = None
        i = 0
        refused = 0
        while not self.stop.is_set() and refused < 3:
            i += 1
            path = "/v1/sync/drain/h1-%d-%d-%s" % (w, i, H.uid())
            body = ("%s %d %d " % (path, w, i)).encode() + os.urandom(32)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=15)
                conn.request("PUT", path, body=body, headers={"X-Forwarded-For": self.de})
                resp = conn.getresponse()
                data = resp.read()
                if 200 <= resp.status < 300:
                    self._ack(hashlib.sha256(body).hexdigest(), path)
                else:
                    with self.lock:
                        self.failed += 1
                if resp.will_close:
                    conn.close()
                    conn = None
                refused = 0
                del data
            except ConnectionRefusedError:
                refused += 1
                conn = None
                time.sleep(0.05)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.failed += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def h2_worker(self, w):
        port = self.gw.listener("tls")[1]
        i = 0
        while not self.stop.is_set():
            i += 1
            path = "/v1/sync/drain/h2-%d-%d-%s" % (w, i, H.uid())
            body = ("%s %d %d " % (path, w, i)).encode() + os.urandom(32)
            r = H.curl(port, path, method="PUT", body=body, headers={"X-Forwarded-For": self.de}, proto="h2",
                       timeout=15)
            if 200 <= r.status < 300:
                self._ack(hashlib.sha256(body).hexdigest(), path)
            elif r.status == 0 and r.error and ("refused" in r.error or "Failed to connect" in r.error):
                break
            else:
                with self.lock:
                    self.failed += 1

    def start(self):
        for w in range(H1_WORKERS):
            self.threads.append(threading.Thread(target=self.h1_worker, args=(w,), daemon=True))
        for w in range(H2_WORKERS):
            self.threads.append(threading.Thread(target=self.h2_worker, args=(w,), daemon=True))
        for th in self.threads:
            th.start()

    def count(self):
        with self.lock:
            return len(self.acked)


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    cfg = H.base_config(d, rules, backends, clusters=H.small_clusters(backends),
                        extra={"limits": {"drain_timeout": "%ds" % DRAIN_S}})
    gw = H.Gateway(d, cfg).start()
    host, port = gw.listener("clear")
    de = H.geo_addr("DE")

    # An idle keep-alive connection: one request answered, then silence.
    idle = socket.create_connection((host, port), timeout=5)
    idle_path = "/v1/sync/drain/idle-%s" % H.uid()
    idle.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Length: 4\r\n\r\nidle"
                  % (idle_path, de)).encode())
    r = H.read_response(idle)
    t.require(r.status == 200 and r.header("connection", "").lower() != "close",
              "idle connection: first request answered, connection kept alive", r)

    load = Load(gw, de)
    load.start()
    # h2load too (HTTP/2 multiplexing: GOAWAY must let its in-flight streams finish)
    h2res = {}
    body_file = os.path.join(d, "h2load-body")
    with open(body_file, "wb") as f:
        f.write(b"h2load drain body")

    def h2load_run():
        try:
            h2res.update(H.h2load("http://%s:%d/v1/sync/drain/h2load" % (host, port), 1000000, c=8, m=10,
                                  headers={"x-forwarded-for": de}, data_file=body_file, timeout=40))
        except H.TestFailure as e:
            h2res["error"] = str(e)

    th_h2load = threading.Thread(target=h2load_run, daemon=True)
    th_h2load.start()
    H.wait_until(lambda: load.count() >= 150, 30, what="150 acknowledged writes before SIGTERM")
    # and h2load under way (on a busy machine it may not have sent a request yet)
    H.wait_until(lambda: any(r["path"] == "/v1/sync/drain/h2load" for r in H.all_records(backends)), 30,
                 interval=0.05, what="h2load's first request on a backend before SIGTERM")

    # An in-flight request the backend holds for SLOW_MS: the drain must wait for it.
    slow = {}
    slow_path = "/v1/sync/drain/slow-%s" % H.uid()
    slow_body = b"slow request body " + os.urandom(16)

    def slow_req():
        try:
            s = socket.create_connection((host, port), timeout=DRAIN_S + 10)
            s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nx-itest-delay-ms: %d\r\n"
                       "Content-Length: %d\r\n\r\n" % (slow_path, de, SLOW_MS, len(slow_body))).encode() + slow_body)
            slow["resp"] = H.read_response(s)
            slow["done"] = time.time()
            s.close()
        except OSError as e:
            slow["error"] = repr(e)
            slow["done"] = time.time()

    th_slow = threading.Thread(target=slow_req, daemon=True)
    th_slow.start()
    H.wait_until(lambda: any(r["path"] == slow_path for r in H.all_records(backends)), 10,
                 what="the slow request to reach its backend")

    before = load.count()
    t0 = time.time()
    gw.signal(signal.SIGTERM)

    # The idle connection gets EOF quickly, while the process is still draining the slow request.
    idle.settimeout(3.0)
    eof_at = None
    try:
        data = idle.recv(4096)
        if data == b"":
            eof_at = time.time()
        else:
            # a server may announce closing (e.g. a 408/ Connection: close) before EOF
            idle.settimeout(2.0)
            while idle.recv(4096):
                pass
            eof_at = time.time()
    except ConnectionResetError:
        eof_at = time.time()
    except socket.timeout:
        pass
    still_running = gw.proc.poll() is None
    t.ok(eof_at is not None and eof_at - t0 < 2.0,
         "idle keep-alive connection closed within 2 s of SIGTERM",
         "EOF after %s s" % (None if eof_at is None else round(eof_at - t0, 2)))
    t.ok(still_running, "…while the gateway was still draining the in-flight request")
    idle.close()

    rc = gw.wait_exit(DRAIN_S + 5)
    exit_at = time.time()
    t.eq(rc, 0, "gateway exits with status 0 after SIGTERM")
    t.ok(rc is not None and exit_at - t0 <= DRAIN_S + 3,
         "gateway exits within drain_timeout (%ds) + 3 s" % DRAIN_S, "took %.2f s" % (exit_at - t0))

    load.stop.set()
    for th in load.threads:
        th.join(timeout=20)
    th_slow.join(timeout=15)
    th_h2load.join(timeout=45)
    t.ok(not any(th.is_alive() for th in load.threads), "client threads finished")

    sr = slow.get("resp")
    t.ok(sr is not None and sr.status == 200, "the in-flight request completed with 200 during the drain",
         slow.get("error") or sr)
    if sr is not None and sr.status == 200:
        t.eq((sr.json() or {}).get("body_sha256"), H.sha256(slow_body), "in-flight request body intact")
        t.ok(rc is None or exit_at >= slow["done"] - 0.05, "the process exited only after answering it")

    recs = H.all_records(backends, "/v1/sync/drain/")
    recorded = {r["body_sha256"] for r in recs}
    with load.lock:
        acked = dict(load.acked)
        failed = load.failed
    lost = [p for sha, (p, _) in acked.items() if sha not in recorded]
    after = sum(1 for _, (_, at) in acked.items() if at >= t0)
    t.note("acknowledged %d writes (%d before SIGTERM, %d after), %d failed/refused, %d records" %
           (len(acked), before, after, failed, len(recs)))
    t.ok(len(acked) >= 150, "enough acknowledged writes to mean something (%d)" % len(acked))
    t.eq(lost, [], "every acknowledged write was recorded by a backend")
    h2recs = sum(1 for r in recs if r["path"] == "/v1/sync/drain/h2load")
    t.ok("succeeded" in h2res, "h2load ran and reported", h2res.get("error") or h2res.get("output", "")[-1500:])
    t.note("h2load: %s; %d records" % ({k: v for k, v in h2res.items() if k != "output"}, h2recs))
    t.ok(h2res.get("succeeded", 0) > 0 and h2recs >= h2res.get("succeeded", 0),
         "every request h2load saw succeed was recorded (%d records >= %d succeeded)" % (h2recs,
                                                                                         h2res.get("succeeded", 0)))
    t.ok(all(r["region"] == "r-alpha" for r in recs), "every drain-time write went to DE's region r-alpha")

    # After exit nothing listens any more.
    try:
        socket.create_connection((host, port), timeout=2).close()
        listening = True
    except OSError:
        listening = False
    t.ok(not listening, "the listener is gone after exit")


if __name__ == "__main__":
    H.run_test("gateway_drain", main, timeout=90)
