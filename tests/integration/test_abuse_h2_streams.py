#!/usr/bin/env python3
"""Many streams per HTTP/2 connection. The gateway advertises h2o's
SETTINGS_MAX_CONCURRENT_STREAMS (100). A well-behaved client (h2load -m 500) stays within it;
a hostile one (h2raw) opens 1000 streams at once, ignoring it. Either way: the gateway
survives, every stream ends (answered, or refused with RST_STREAM), every stream that got
a 200 from the backend is recorded there exactly once, no stream is recorded that the
client was told was refused, and other clients are still served. Figures as `# FIGURE`."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2raw  # noqa: E402
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

OPEN = 1000


def main(t):
    H.require_tools("h2load", "curl")
    d, backends, gw = X.small_gateway(t, threads=1)
    pid = gw.proc.pid
    port = gw.listener("clear")[1]

    # h2load asks for 500 streams in flight on one connection; the server's limit applies.
    tag = "m500-" + H.uid()
    res = H.h2load("http://127.0.0.1:%d/v1/sync/%s" % (port, tag), 2000, c=1, m=500,
                   headers={"x-forwarded-for": X.UNKNOWN})
    t.eq((res["succeeded"], res.get("2xx")), (2000, 2000), "h2load -c1 -m500: 2000 GETs, all 2xx")
    t.eq(len(X.records_with(backends, tag)), 2000, "h2load -c1 -m500: 2000 records on the backend")

    c = h2raw.H2Conn("127.0.0.1", port, timeout=10)
    c.pump(until=lambda c: h2raw.SETTINGS_MAX_CONCURRENT_STREAMS in c.server_settings or c.closed, timeout=5)
    limit = c.server_settings.get(h2raw.SETTINGS_MAX_CONCURRENT_STREAMS)
    t.note("FIGURE streams.max_concurrent_streams = %s" % limit)
    t.ok(limit is not None and limit <= 1000, "the gateway advertises SETTINGS_MAX_CONCURRENT_STREAMS", limit)

    # A hostile client: OPEN PUTs with bodies at once, far past the advertised limit.
    tag = "flood-" + H.uid()
    bodies = {}
    out = []
    cpu0 = X.cpu_seconds(pid)
    for i in range(OPEN):
        body = os.urandom(64)
        sid, f = c.headers_frame("PUT", "/v1/sync/%s-%d" % (tag, i), {"x-forwarded-for": X.UNKNOWN}, end_stream=False)
        bodies[sid] = (i, body)
        out.append(f + c.data_frames(sid, body))
    c.send(b"".join(out))
    sids = list(bodies)
    finished = c.pump(until=lambda c: c.all_done(sids) or c.closed, timeout=40)
    cpu = X.cpu_seconds(pid) - cpu0
    t.ok(gw.proc.poll() is None, "the gateway survives %d streams opened at once" % OPEN)
    t.ok(finished and not c.closed, "every one of %d streams ends (answered or reset) on a live connection" % OPEN,
         "closed=%s goaway=%s pending=%d" % (c.closed, c.goaway, sum(1 for s in sids if not c.done(s))))
    answered = [s for s in sids if c.streams[s].ended and c.streams[s].rst_code is None]
    refused = [s for s in sids if c.streams[s].rst_code is not None]
    codes = {}
    for s in refused:
        codes[h2raw.error_name(c.streams[s].rst_code)] = codes.get(h2raw.error_name(c.streams[s].rst_code), 0) + 1
    t.note("FIGURE streams.flood = %d opened at once: %d answered, %d reset %s, goaway %s, %.1f ms CPU"
           % (OPEN, len(answered), len(refused), codes, c.goaway, cpu * 1000))

    recs = {}
    for r in X.records_with(backends, tag):
        recs.setdefault(r["path"], []).append(r)
    wrong = []
    for s in answered:
        i, body = bodies[s]
        path = "/v1/sync/%s-%d" % (tag, i)
        try:
            j = json.loads(bytes(c.streams[s].data))
        except ValueError:
            j = None
        if c.streams[s].status == 200 or (j and "backend" in j):
            rs = recs.get(path, [])
            if len(rs) != 1 or rs[0]["body_sha256"] != H.sha256(body) or (j or {}).get("body_sha256") != H.sha256(body):
                wrong.append((s, c.streams[s], rs))
    t.eq(wrong, [], "every answered stream is recorded exactly once on the backend, body intact")
    ghost = [s for s in refused if recs.get("/v1/sync/%s-%d" % (tag, bodies[s][0]))]
    t.note("FIGURE streams.flood_reset_but_recorded = %d" % len(ghost))
    # REFUSED_STREAM tells the client the request was not processed (RFC 9113 8.7): safe to retry
    t.eq([s for s in ghost if c.streams[s].rst_code == h2raw.REFUSED_STREAM], [],
         "no stream refused with REFUSED_STREAM reached a backend")
    extra = set(recs) - {"/v1/sync/%s-%d" % (tag, bodies[s][0]) for s in answered}
    t.note("FIGURE streams.flood_recorded_not_answered = %d" % len(extra))
    c.close()
    X.still_serves(t, gw, backends, "after the stream flood")


if __name__ == "__main__":
    H.run_test("abuse_h2_streams", main, timeout=120)
