#!/usr/bin/env python3
"""The audit log's disk is full or the log becomes unwritable: the gateway keeps serving
(writes still routed and recorded), and says so — with audit.required: true /readyz answers 503
naming the audit log; without it /readyz stays 200 (the replica can still decide) and /status
shows the audit log failing; /metrics shows domicile_audit_ok 0 and a growing
domicile_audit_dropped_lines_total either way.

- disk full: audit.path is /dev/full (every write fails with ENOSPC);
- unwritable: the log's directory is removed and the log reopened (SIGUSR1, as logrotate
  would), so the reopen fails."""
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402


def writes_served(t, gw, backends, label, n=20):
    ok = 0
    for _ in range(n):
        path = "/v1/sync/audit-%s" % H.uid()
        r = H.curl(gw.listener("clear")[1], path, "PUT", {"X-Forwarded-For": X.UNKNOWN}, b"a" * 32, proto="h2c")
        ok += r.status == 200 and len(X.records_with(backends, path)) == 1
    return t.eq(ok, n, "%s: %d writes still routed and recorded" % (label, n))


def check_reports(t, admin, label, required):
    if required:
        st, body = H.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(X.admin_get(admin, "/readyz")), 10,
                                what="/readyz to report the audit failure")
        t.ok("audit" in body, "%s: /readyz 503 names the audit log" % label, body)
    else:
        H.wait_until(lambda: json.loads(X.admin_get(admin, "/status")[1])["audit"]["ok"] is False, 10,
                     what="/status to report the audit failure")
        st, body = X.admin_get(admin, "/readyz")
        t.eq(st, 200, "%s: /readyz stays 200 (audit.required is false)" % label)
    _, m = X.admin_get(admin, "/metrics")
    t.eq(X.metric(m, "domicile_audit_ok"), 0.0, "%s: /metrics domicile_audit_ok 0" % label)
    dropped = X.metric(m, "domicile_audit_dropped_lines_total")
    t.ok(dropped is not None and dropped > 0, "%s: /metrics counts dropped audit lines" % label, dropped)
    t.note("FIGURE audit.%s = /readyz %d %r, dropped %s" % (label.replace(" ", "_"), st, body.strip(), dropped))


def main(t):
    H.require_tools("curl")
    for label, required in (("disk full", True), ("unwritable", True), ("disk full, not required", False)):
        d = H.tmpdir()
        admin = H.free_port()
        logdir = os.path.join(d, "auditdir")
        os.makedirs(logdir)
        path = "/dev/full" if label.startswith("disk full") else os.path.join(logdir, "audit.log")
        audit = {"path": path, "required": required}
        d, backends, gw = X.small_gateway(t, threads=2, d=d, extra={"audit": audit,
                                                                    "admin": {"listen": "127.0.0.1:%d" % admin}})
        if label == "unwritable":
            writes_served(t, gw, backends, "before", 3)
            t.eq(X.admin_get(admin, "/readyz")[0], 200, "unwritable: /readyz 200 while the log works")
            shutil.rmtree(logdir)
            gw.signal(signal.SIGUSR1)
        writes_served(t, gw, backends, label)
        check_reports(t, admin, label, required)
        t.ok(gw.proc.poll() is None, "%s: the gateway is still running" % label)
        H.stop_gateways(t)
        H._gateways.clear()


if __name__ == "__main__":
    H.run_test("fault_audit", main, timeout=120)
