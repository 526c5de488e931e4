#!/usr/bin/env python3
"""Corrupt and truncated geo databases at start-up. Every corrupt fixture the project builds
(tests/fixtures/make-fixtures: truncated in the tree, truncated in the metadata marker, a
flipped tree record, a flipped data section, a wrong node_count, empty, not an mmdb) must
stop `domicile serve` with a clear error naming the file and the config position, exit
non-zero, and never open a listener; `serve --check` says the same. A good database
with the same config starts (so the refusals are about the file, not the config)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

CORRUPT = ["geo-truncated.mmdb", "geo-truncated-meta.mmdb", "geo-flipped-tree.mmdb", "geo-flipped-data.mmdb",
           "geo-bad-metadata.mmdb", "geo-empty.mmdb", "geo-not-mmdb.mmdb"]


def main(t):
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, ["r-alpha"])
    for name in CORRUPT:
        src = os.path.join(H.FIXTURES, name)
        t.require(os.path.exists(src), "fixture %s exists" % name)
        # a copy under a unique name: the message must name the configured file
        geo = os.path.join(d, "bad-" + name)
        with open(src, "rb") as f, open(geo, "wb") as g:
            g.write(f.read())
        cfg = H.base_config(d, rules, backends, listeners=("clear",), extra={"geo": {"database": geo}},
                            clusters=[{"name": "a", "region": "r-alpha", "nodes": [backends["r-alpha"][0].url]}])
        gw = H.Gateway(d, cfg, name="gw-" + name.replace(".", "-"))
        r = H.run([H.BIN, "serve", "--check", "-c", gw.cfg_path], timeout=30)
        t.ok(r.returncode != 0, "%s: serve --check exits non-zero" % name, r.returncode)
        t.ok(geo in r.stderr and "geo database" in r.stderr, "%s: --check names the geo database file" % name,
             r.stderr[-600:])
        t.ok(("%s:" % gw.cfg_path) in r.stderr, "%s: --check points at the config (file:line:col)" % name,
             r.stderr[-600:])
        port = gw.listener("clear")[1]
        p = H.spawn([H.BIN, "serve", "-c", gw.cfg_path], log_prefix=gw.log_prefix)
        t0 = time.monotonic()
        try:
            rc = p.wait(timeout=15)
        except Exception:
            rc = None
        took = time.monotonic() - t0
        err = gw.stderr()
        t.ok(rc not in (None, 0), "%s: serve exits non-zero (got %s in %.2f s)" % (name, rc, took))
        t.ok(geo in err, "%s: serve's error names the file" % name, err[-600:])
        t.ok("ready" not in err and H.port_refuses(port), "%s: serve never listened" % name, err[-600:])
        first = ([ln for ln in err.splitlines() if "geo database" in ln] or ["?"])[0]
        t.note("FIGURE geo_start.%s = exit %s in %.2f s: %s" % (name, rc, took, first.split(": ", 1)[-1][:200]))
        found = [m for m in H.SANITIZER_MARKS if m in err]
        t.ok(not found, "%s: no sanitizer reports from the refused start" % name, err[-2000:] if found else None)
        H._gateways.remove(gw)  # not running: nothing to stop at the end

    # the same config with a good database starts and routes (the refusals were about the file)
    cfg = H.base_config(d, rules, backends, listeners=("clear",),
                        clusters=[{"name": "a", "region": "r-alpha", "nodes": [backends["r-alpha"][0].url]}])
    gw = H.Gateway(d, cfg, name="gw-good").start()
    path = "/v1/account/geo-ok-%s" % H.uid()
    r = H.curl(gw.listener("clear")[1], path, "PUT", {"X-Forwarded-For": H.geo_addr("DE")}, b"x", proto="h2c")
    t.eq(r.status, 200, "a good geo database: the gateway starts and routes a DE write")


if __name__ == "__main__":
    H.run_test("fault_geo", main, timeout=120)
