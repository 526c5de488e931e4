#!/usr/bin/env python3
"""A client of test_fleet.py, run inside a client's network namespace (`ip netns exec NS python3 fleetload.py`).

Sends PUTs of small random bodies to URL + PREFIX/<id>, one connection per request (Connection: close), so a
request that fails is exactly one that was in flight when something broke, never a stale keep-alive connection.
Each request carries its id as X-Request-Id (the gateway writes it into its audit line). One JSON line per
request goes to --out: id, path, sha256 of the body, status (0: no answer), t0/t1 (unix seconds), error.
Stops when --stop exists, after --max-seconds or after --max-requests, whichever comes first.
"""
import argparse
import hashlib
import json
import os
import socket
import threading
import time
import uuid


def put(host, port, path, rid, body, timeout):
    req = ("PUT %s HTTP/1.1\r\nHost: fleet.test\r\nX-Request-Id: %s\r\nContent-Length: %d\r\n"
           "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n" % (path, rid, len(body))).encode()
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(req + body)
        buf = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
    finally:
        s.close()
    line = buf.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError("no HTTP answer (%d bytes)" % len(buf))
    return int(parts[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=20000)
    args = ap.parse_args()
    lock = threading.Lock()
    out = open(args.out, "w")
    count = [0]
    deadline = time.time() + args.max_seconds

    def worker():
        while not os.path.exists(args.stop) and time.time() < deadline:
            with lock:
                if count[0] >= args.max_requests:
                    return
                count[0] += 1
            rid = uuid.uuid4().hex
            body = os.urandom(256 + int.from_bytes(os.urandom(2), "big") % 1792)
            path = "%s/%s" % (args.prefix, rid)
            rec = {"id": rid, "path": path, "sha256": hashlib.sha256(body).hexdigest(), "status": 0,
                   "t0": time.time(), "error": None}
            try:
                rec["status"] = put(args.host, args.port, path, rid, body, 10)
            except OSError as e:
                rec["error"] = "%s: %s" % (type(e).__name__, e)
            rec["t1"] = time.time()
            with lock:
                out.write(json.dumps(rec) + "\n")
                out.flush()

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.close()


if __name__ == "__main__":
    main()
