#!/usr/bin/env python3
"""Invalid residency pins at a high rate (h2load, h2c, 16 connections × 10 streams): every
request is refused (400 malformed, 401 bad signature / unknown key / expired), nothing reaches
a backend, and the CPU each refusal costs the gateway is measured (/proc/<pid>/stat) next to
a routed request's. Figures as `# FIGURE`."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

N = 20000


def main(t):
    H.require_tools("h2load")
    d = H.tmpdir()
    secret = os.urandom(32)
    keys = H.write_pin_keys(d, {"k1": secret})
    d, backends, gw = X.small_gateway(t, threads=1, d=d, pin_keys=keys)
    pid = gw.proc.pid
    url = "http://127.0.0.1:%d/v1/sync/%s" % (gw.listener("clear")[1], "%s")
    now = int(time.time())
    good = H.forge_pin(secret, "k1", "T-EU", now + 3600)
    cases = [
        ("malformed", "v1.k1.T-EU.notanumber.xyz", "4xx"),
        ("bad_signature", good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"), "4xx"),
        ("unknown_key", H.forge_pin(os.urandom(32), "k9", "T-EU", now + 3600), "4xx"),
        ("expired", H.forge_pin(secret, "k1", "T-EU", now - 60), "4xx"),
        ("valid", good, "2xx"),
    ]
    for label, pin, want in cases:
        tag = "pin-%s-%s" % (label, H.uid())
        cpu0 = X.cpu_seconds(pid)
        t0 = time.monotonic()
        res = H.h2load(url % tag, N, c=16, m=10, headers={"domicile-pin": pin, "x-forwarded-for": X.UNKNOWN})
        secs = time.monotonic() - t0
        cpu = X.cpu_seconds(pid) - cpu0
        t.eq(res.get(want), N, "%s pin: all %d requests %s" % (label, N, want))
        reached = len(X.records_with(backends, tag))
        if want == "4xx":
            t.eq(reached, 0, "%s pin: nothing reaches a backend" % label)
        else:
            t.eq(reached, N, "valid pin: every request reaches the backend")
        t.note("FIGURE pins.%s = %d requests in %.2f s (%.0f/s), %.1f us gateway CPU each, %d at a backend"
               % (label, N, secs, N / secs, cpu / N * 1e6, reached))
    X.still_serves(t, gw, backends, "after the pin flood")


if __name__ == "__main__":
    H.run_test("abuse_pins", main, timeout=150)
