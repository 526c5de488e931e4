#!/usr/bin/env python3
"""A storage node stand-in for the integration tests: records every request it gets.

Run as its own process (the harness starts one per cluster node):

    recording_backend.py --port 9101 --region eu-central --name eu-central-1a --log FILE

For each request it appends one JSON line to FILE and flushes it *before* answering, so a
client that saw the answer can rely on the record being there:

    {"ts", "backend", "region", "method", "path", "headers" (lower-cased names; repeated
     headers joined with ", "), "body_sha256", "body_len", "peer"}

then answers 200 with a small JSON body carrying the same body_sha256, so the client side
can compare what it sent with what arrived. GET /__health answers 200 without recording
(readiness probes must not pollute the records). A request header x-itest-delay-ms: N makes
it wait N ms (at most 30 s) before answering, for the drain test's in-flight requests.

With --normalise nginx it reads the request-target the way nginx does before it picks a
location (merge_slashes on): every %XX decoded, slashes merged, "." and ".." resolved, a ".."
above the root or a NUL refused with 400; "path" is then that normalised path (bytes as
latin-1 characters) and "raw_path" the target as received. Without it
"path" is the target exactly as received (Python's own handler folds a leading "//": the raw
request line is used instead).

HTTP/1.1 with keep-alive, Content-Length and chunked request bodies. Python's standard
library only.
"""
import argparse
import hashlib
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024 * 1024


class _BadRequest(Exception):
    pass


def nginx_normalise(target):
    """The path nginx's ngx_http_parse_complex_uri makes of a request-target (query cut off first)."""
    path = target.split("?", 1)[0]
    raw = path.encode("latin-1")
    out = bytearray()
    i = 0
    hexd = b"0123456789abcdefABCDEF"
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw) and raw[i + 1] in hexd and raw[i + 2] in hexd:
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
            continue
        out.append(c)
        i += 1
    if b"\x00" in out or not out.startswith(b"/"):
        raise _BadRequest("invalid path")
    segs = []
    parts = bytes(out).split(b"/")[1:]
    for n, seg in enumerate(parts):
        last = n == len(parts) - 1
        if seg in (b"", b"."):
            if last:
                segs.append(b"")
            continue
        if seg == b"..":
            if not segs or segs == [b""]:
                raise _BadRequest("path above the root")
            segs.pop()
            if last:
                segs.append(b"")
            continue
        segs.append(seg)
    return (b"/" + b"/".join(segs)).decode("latin-1")


class Recorder:
    """Appends JSON lines to the log; one lock so lines never interleave."""

    def __init__(self, path):
        self.lock = threading.Lock()
        # Line-buffered text would flush per line too; an explicit flush says why it matters.
        self.fp = open(path, "a", encoding="utf-8")

    def write(self, record):
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        with self.lock:
            self.fp.write(line)
            self.fp.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "recording-backend"
    sys_version = ""

    def log_message(self, fmt, *args):  # the records are the log; stderr stays quiet
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise _BadRequest("unsupported transfer-encoding")
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise _BadRequest("eof in chunk size")
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _BadRequest("bad chunk size")
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = self.rfile.readline(8192)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise _BadRequest("body too large")
                data = self.rfile.read(size)
                if len(data) != size:
                    raise _BadRequest("eof in chunk")
                chunks.append(data)
                self.rfile.readline(8)  # CRLF after the chunk
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise _BadRequest("bad content-length")
        if n < 0 or n > MAX_BODY:
            raise _BadRequest("bad content-length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise _BadRequest("eof in body")
        return data

    def _answer(self, status, payload, head_only=False):
        body = json.dumps(payload, separators=(",", ":")).encode()
        close = self.close_connection
        head = (
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: %d\r\n"
            "%s"
            "\r\n" % (status, "OK" if status == 200 else "Error", len(body), "Connection: close\r\n" if close else "")
        ).encode()
        # One write: a response in one segment is faster and never half-sent on a busy box.
        self.wfile.write(head if head_only else head + body)

    def _handle(self):
        try:
            body = self._read_body()
        except _BadRequest as e:
            self.close_connection = True
            self._answer(400, {"error": str(e)})
            return
        raw_path = self.raw_requestline.decode("latin-1").split(" ")[1] if self.raw_requestline.count(b" ") >= 2 \
            else self.path
        path = raw_path
        if self.server.normalise == "nginx":
            try:
                path = nginx_normalise(raw_path)
            except _BadRequest as e:
                self.close_connection = True
                self._answer(400, {"error": str(e)})
                return
        if path == "/__health" and self.command == "GET":
            self._answer(200, {"ok": True, "backend": self.server.name, "region": self.server.region})
            return
        headers = {}
        for name, value in self.headers.items():
            k = name.lower()
            headers[k] = headers[k] + ", " + value if k in headers else value
        digest = hashlib.sha256(body).hexdigest()
        peer = "%s:%d" % (self.client_address[0], self.client_address[1])
        self.server.recorder.write(
            {
                "ts": time.time(),
                "backend": self.server.name,
                "region": self.server.region,
                "method": self.command,
                "path": path,
                "raw_path": raw_path,
                "headers": headers,
                "body_sha256": digest,
                "body_len": len(body),
                "peer": peer,
            }
        )
        delay = headers.get("x-itest-delay-ms")
        if delay:
            try:
                time.sleep(min(max(int(delay), 0), 30000) / 1000.0)
            except ValueError:
                pass
        self._answer(
            200,
            {
                "backend": self.server.name,
                "region": self.server.region,
                "method": self.command,
                "path": path,
                "body_sha256": digest,
                "body_len": len(body),
            },
            head_only=(self.command == "HEAD"),
        )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle
    # WebDAV (RFC 4918) and CalDAV/CardDAV methods, recorded like any other
    do_PROPFIND = do_PROPPATCH = do_MKCOL = do_COPY = do_MOVE = do_LOCK = do_UNLOCK = do_REPORT = do_SEARCH = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, addr, name, region, recorder, normalise=None):
        self.normalise = normalise
        self.name = name
        self.region = region
        self.recorder = recorder
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--region", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--normalise", choices=["nginx"], help="record the path as nginx would read it")
    args = ap.parse_args()
    srv = Server((args.host, args.port), args.name, args.region, Recorder(args.log), args.normalise)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns: call it off the main thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening %s:%d" % (args.host, srv.server_address[1]), flush=True)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
