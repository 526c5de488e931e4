"""Helpers shared by the fault and abuse tests (tests/integration/test_fault_*.py,
test_abuse_*.py): CPU accounting from /proc, a misbehaving backend, the small-rules gateway.
Python standard library only; the common harness is harness.py."""
import os
import socket
import threading
import time

import harness as H

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A private address: an unknown location, so SMALL_RULES' default rule applies (content → r-beta).
UNKNOWN = "10.9.8.7"


def cpu_seconds(pid):
    """User + system CPU seconds a process (all its threads) has used so far (/proc/<pid>/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return _status_kib(pid, "VmRSS")


def _sanitized():
    try:
        with open(H.BIN, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__tsan_init" in data


# The gateway runs under ASan or TSan (scripts/sanitize): its RSS is the sanitizer's (shadow memory,
# quarantine of freed blocks), so the abuse tests report memory figures without asserting them.
SANITIZED = _sanitized()


def reset_peak_rss(pid):
    """Starts a new peak-RSS measurement for a process (Linux: "5" > /proc/<pid>/clear_refs resets VmHWM).
    Returns the RSS now (KiB)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")
    return rss_kib(pid)


def peak_rss_kib(pid):
    """The highest RSS of the process since reset_peak_rss (VmHWM)."""
    return _status_kib(pid, "VmHWM")


class BackgroundLoad:
    """A legitimate client running h2load against the gateway on a thread while a test attacks it:
    start(), then stop() waits for the result and reads h2load's per-request log. success_ratio and
    p99_ms are what the abuse tests report and assert."""

    def __init__(self, url, seconds, headers=None, c=4, m=10, data_file=None):
        self.log = os.path.join(H.tmpdir("domicile-load-"), "requests.log")
        self.args = dict(url=url, n=1000000, c=c, m=m, headers=headers, data_file=data_file,
                         timeout=seconds + 60, extra=("-D", str(seconds), "--log-file=" + self.log))
        self.result = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.result = H.h2load(**self.args)
        except Exception as e:  # reported by stop()
            self.result = {"error": str(e)}

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.thread.join(self.args["timeout"] + 10)
        r = self.result or {"error": "h2load did not finish"}
        lat = []
        try:
            with open(self.log) as f:
                for line in f:
                    parts = line.split("\t")
                    if len(parts) >= 3 and parts[1].strip() != "-1":
                        lat.append(int(parts[2]) / 1000.0)
        except OSError:
            pass
        lat.sort()
        total = r.get("total", 0) or 0
        self.requests = total
        self.succeeded = r.get("2xx", 0) if "2xx" in r else r.get("succeeded", 0)
        self.success_ratio = self.succeeded / total if total else 0.0
        self.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
        self.error = r.get("error")
        return self

    def summary(self):
        return "%d/%d requests 2xx (%.2f%%), p99 %.1f ms" % (self.succeeded, self.requests,
                                                             100.0 * self.success_ratio, self.p99_ms)


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


# One MiB of a fixed pattern: what the /big- paths of BadBackend stream, block after block.
BIG_BLOCK = bytes(range(256)) * 4096


class BadBackend:
    """A storage node that misbehaves on purpose, on a thread of the test process. By path:

    .../trunc-...        200 with Content-Length: 1000, then 10 bytes, then close
    .../stall-...        reads the request, never answers (the socket stays open until stop())
    .../chunked-cut-...  200 chunked, one chunk, then close without the last chunk
    .../arm-...          200, and the next request on the same connection is read, counted, and
                         answered by closing the connection (a node closing a kept-alive connection
                         just as a request is sent)
    .../slow-N-...       200 after N ms
    .../big-N-...        200 with Content-Length N MiB of BIG_BLOCK, sent as fast as the reader takes it
    .../bigchunked-N-... the same in chunks of 1 MiB
    .../interim-...      103 Early Hints and 100 Continue, then 200 "ok"
    .../nocontent-...    204
    .../hopbyhop-...     200 with "Connection: x-secret" and an X-Secret field (hop-by-hop by name)
    anything else: 200 with a small body; HEAD gets the head only

    Every request line is counted in `seen` (path -> count), every connection in `accepted`; `open_now`
    and `max_open` count connections open at once. tls=(cert, key) serves HTTPS."""

    def __init__(self, host="127.0.0.1", tls=None):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]
        self.tls = None
        if tls is not None:
            import ssl
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(tls[0], tls[1])
        self.seen = {}
        self.accepted = 0
        self.handshake_failures = 0
        self.open_now = 0
        self.max_open = 0
        self.held = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host, self.port)

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open_now += 1
                self.max_open = max(self.max_open, self.open_now)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(60)
            if self.tls is not None:
                try:
                    c = self.tls.wrap_socket(c, server_side=True)
                except OSError:
                    with self.lock:
                        self.handshake_failures += 1
                    return
            buf = b""
            armed = False
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                method, path = parts[0], parts[1] if len(parts) > 1 else "/"
                cl = 0
                for ln in lines[1:]:
                    if ln.lower().startswith("content-length:"):
                        cl = int(ln.split(":", 1)[1])
                while len(buf) < cl:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[cl:]
                with self.lock:
                    self.seen[path] = self.seen.get(path, 0) + 1
                if armed:
                    return  # read and counted: closed without a byte of answer
                if not self._answer(c, method, path):
                    if "/stall-" in path:
                        with self.lock:
                            self.held.append(c)
                        c = None
                    return
                armed = "/arm-" in path
        except OSError:
            pass
        finally:
            with self.lock:
                self.open_now -= 1
            if c is not None:
                c.close()

    @staticmethod
    def _n(path, tag):
        return int(path.split(tag, 1)[1].split("-", 1)[0])

    def _answer(self, c, method, path):
        """Answers one request; False when the connection must end (after a cut, or never answered)."""
        if path == "/__health":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif "/trunc-" in path:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: 1000\r\n\r\n" + b"0123456789")
            return False
        elif "/chunked-cut-" in path:
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n")
            return False
        elif "/stall-" in path:
            return False
        elif "/slow-" in path:
            time.sleep(self._n(path, "/slow-") / 1000.0)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow\n")
        elif "/bigchunked-" in path:
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(self._n(path, "/bigchunked-")):
                c.sendall(b"100000\r\n" + BIG_BLOCK + b"\r\n")
            c.sendall(b"0\r\n\r\n")
        elif "/big-" in path:
            n = self._n(path, "/big-")
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (n * len(BIG_BLOCK)))
            for _ in range(n):
                c.sendall(BIG_BLOCK)
        elif "/interim-" in path:
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                      b"HTTP/1.1 100 Continue\r\n\r\n"
                      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif "/nocontent-" in path:
            c.sendall(b"HTTP/1.1 204 No Content\r\nX-Node: yes\r\n\r\n")
        elif "/hopbyhop-" in path:
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: x-secret\r\nX-Secret: node-only\r\nX-Public: yes\r\n"
                      b"Keep-Alive: timeout=5\r\nContent-Length: 3\r\n\r\nhop")
        elif method == "HEAD":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfine\n")
        return True

    def count(self, prefix):
        with self.lock:
            return sum(n for p, n in self.seen.items() if p.startswith(prefix))

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.held:
                try:
                    c.close()
                except OSError:
                    pass
            self.held.clear()


def small_gateway(t, threads=1, extra=None, listeners=("tls", "clear"), trusted=("127.0.0.0/8", "::1/128"),
                  pin_keys=None, alpha_nodes=None, d=None, rules=None):
    """SMALL_RULES with live recording backends (r-alpha, r-beta, r-gamma), one gateway.
    alpha_nodes replaces r-alpha's nodes (e.g. a BadBackend's URL); r-beta always records
    (still_serves uses it). Returns (d, backends, gateway)."""
    d = d or H.tmpdir()
    if rules is None:
        _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    clusters = H.small_clusters(backends)
    if alpha_nodes is not None:
        for c in clusters:
            if c["region"] == "r-alpha":
                c["nodes"] = list(alpha_nodes)
    cfg = H.base_config(d, rules, backends, listeners=listeners, trusted=trusted, pin_keys=pin_keys,
                        clusters=clusters, extra=extra)
    cfg["threads"] = threads
    gw = H.Gateway(d, cfg).start()
    return d, backends, gw


def records_with(backends, fragment):
    return [r for r in H.all_records(backends) if fragment in r["path"]]


def still_serves(t, gw, backends, label, proto="h2c"):
    """One routed write through the gateway, checked on the backend: the gateway is alive and well.
    An unknown location's content write: SMALL_RULES' default sends it to r-beta."""
    path = "/v1/sync/alive-%s" % H.uid()
    body = H.random_body(100)
    port = gw.listener("clear" if proto in ("h2c", "h1c") else "tls")[1]
    r = H.curl(port, path, "PUT", {"X-Forwarded-For": UNKNOWN}, body, proto=proto, timeout=10)
    recs = [x for x in H.all_records(backends) if x["path"] == path]
    return t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-beta"
                and recs[0]["body_sha256"] == H.sha256(body), "%s: the gateway still routes a write" % label,
                (r, recs))


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    v = fn(*a, **kw)
    return v, time.monotonic() - t0


def admin_get(port, path, timeout=5):
    """GET on the admin listener (plain HTTP/1.1): (status, body text); (0, error) if it cannot connect."""
    try:
        r = H.http1_raw("127.0.0.1", port, ("GET %s HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
                                            % path).encode(), timeout=timeout)
        return r.status, r.body.decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


def metric(text, name):
    """The value of an unlabelled Prometheus sample in a /metrics answer, or None."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            try:
                return float(line.split()[-1])
            except ValueError:
                return None
    return None
