#!/usr/bin/env python3
"""A demo storage backend for one region (python3 stdlib only).

Listens on loopback with HTTP/1.1 keep-alive, logs one line per request it "stores"
(region, method, path, the gateway's decision headers, body sha256) and answers 200 JSON.
Usage: demo-backend.py --region eu-central --port 9101
"""
import argparse
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DECISION_HEADERS = ("X-Domicile-Jurisdiction", "X-Domicile-Region", "X-Domicile-Class",
                    "X-Domicile-Rule-Version", "X-Request-Id")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 refuses connections under a burst of pooled upstream connects


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the gateway pools upstream connections
    region = "?"

    def log_message(self, fmt, *args):  # the one line per request below is the log
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        digest = hashlib.sha256(body).hexdigest()
        decision = {h: self.headers.get(h) for h in DECISION_HEADERS}
        identity = {h: self.headers.get(h) for h in ("X-Forwarded-For", "Forwarded", "Cookie", "Authorization")
                    if self.headers.get(h) is not None}
        print("[%s] %s %s jurisdiction=%s class=%s rule_version=%s request_id=%s body_sha256=%s bytes=%d identity=%s"
              % (self.region, self.command, self.path, decision["X-Domicile-Jurisdiction"],
                 decision["X-Domicile-Class"], decision["X-Domicile-Rule-Version"], decision["X-Request-Id"],
                 digest, len(body), json.dumps(identity)), flush=True)
        reply = json.dumps({"stored_in": self.region, "method": self.command, "path": self.path,
                            "decision": decision, "body_sha256": digest, "bytes": len(body),
                            "identity_headers_seen": sorted(identity)}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--region", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    Handler.region = args.region
    server = Server((args.host, args.port), Handler)
    print("[%s] demo backend on http://%s:%d" % (args.region, args.host, args.port), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
