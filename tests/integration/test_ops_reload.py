"""Live operations: rule compiles and geo database swaps under load, a corrupt geo file, the audit
log and /metrics (promtool) — docs/operations.md.

50 compiles alternating two rule sets (A: writes to r-one, B: writes to r-two) and 10 geo swaps
during an h2load run: zero failed requests, and every write a backend recorded went to a region
that the rule version it was told allows. Then a truncated geo file: still serving, failure counted.
Then the audit log has one JSON line per request without full client addresses, and /metrics
passes `promtool check metrics` with counters equal to the requests sent.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

REGIONS = """regions:
  r-one: { location: DE }
  r-two: { location: FR }
  r-three: { location: US }
"""
CLASSES = """classes:
  content: { description: "synced files", personal: true }
routes:
  - { prefix: /v1/sync, class: content }
default_class: content
"""


def rule_set(version, region):
    return {
        "_regions.yaml": REGIONS,
        "_classes.yaml": CLASSES,
        "default.yaml": """jurisdiction: T-ANY
version: "%s"
effective: 2020-01-01
default: true
policy_url: https://example.test/p
classes:
  content: { write: [%s], read: [%s] }
""" % (version, region, region),
        "de.yaml": """jurisdiction: T-DE
version: "%s"
effective: 2020-01-01
applies_to: [DE]
policy_url: https://example.test/p
classes:
  content: { write: [%s], read: [%s] }
""" % (version, region, region),
    }


ALLOWED = {"ops-A": "r-one", "ops-B": "r-two"}


def admin_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, labels=None):
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        if labels and not all('%s="%s"' % kv in (m.group(2) or "") for kv in labels.items()):
            continue
        total += float(m.group(3))
        found = True
    return total if found else None


def body(t):
    H.require_tools("h2load", "curl")
    d = H.tmpdir()
    dir_a = H.write_files(os.path.join(d, "rules-a"), rule_set("ops-A", "r-one"))
    dir_b = H.write_files(os.path.join(d, "rules-b"), rule_set("ops-B", "r-two"))
    rules = os.path.join(d, "rules.mdb")
    H.run([H.BIN, "rules", "compile", dir_a, "-o", rules], check=True)
    geo_dir = os.path.join(d, "geo")
    os.makedirs(geo_dir)
    geo = os.path.join(geo_dir, "geo.mmdb")
    shutil.copy(H.GEO_DB, geo)

    backends = H.start_backends(d, ["r-one", "r-two", "r-three"])
    admin_port = H.free_port()
    audit = os.path.join(d, "audit.log")
    cfg = H.base_config(d, rules, backends, listeners=("clear",), extra={
        "geo": {"database": geo, "reload_poll": "200ms"},
        "admin": {"listen": "127.0.0.1:%d" % admin_port},
        "audit": {"path": audit},
    })
    gw = H.Gateway(d, cfg).start()
    host, port = gw.listener("clear")
    H.wait_until(lambda: admin_get(admin_port, "/readyz")[0] == 200, 10, what="/readyz 200")
    # the harness's own readiness probes are requests too: count from here
    m0 = admin_get(admin_port, "/metrics")[1]
    base = int(metric(m0, "domicile_requests_total") or 0)
    base200 = int(metric(m0, "domicile_requests_total", {"status": "200", "action": "route"}) or 0)

    # ---- load with compiles and geo swaps ----
    payload = os.path.join(d, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(512))
    # h2load runs in batches until every compile and swap is done, so all of them happen under load
    batch = 2000
    result = {"runs": []}
    finished = threading.Event()

    def load():
        while True:
            result["runs"].append(H.h2load("http://%s:%d/v1/sync/item" % (host, port), batch, c=8, m=4,
                                           data_file=payload, timeout=120))
            if finished.is_set():
                return

    th = threading.Thread(target=load)
    th.start()
    compiles = swaps = during = 0
    for i in range(50):
        H.run([H.BIN, "rules", "compile", dir_b if i % 2 == 0 else dir_a, "-o", rules], check=True)
        compiles += 1
        if i % 5 == 4:
            tmp = geo + ".tmp"
            shutil.copy(H.GEO_DB, tmp)
            os.replace(tmp, geo)  # what geoipupdate does: a new inode under the same name
            swaps += 1
        if th.is_alive():
            during += 1
        time.sleep(0.02)
    finished.set()
    th.join()
    runs = result["runs"]
    r = {k: sum(x.get(k, 0) for x in runs) for k in ("total", "succeeded", "failed", "errored", "timeout", "2xx")}
    n_load = r["total"]
    t.note("h2load: %d requests, %d succeeded, %d failed; %d compiles and %d geo swaps, %d of them during the run"
           % (r["total"], r["succeeded"], r["failed"], compiles, swaps, during))
    t.eq(r["failed"] + r["errored"] + r["timeout"], 0, "no failed requests during 50 compiles and 10 geo swaps")
    t.eq(r.get("2xx"), n_load, "every request answered 2xx")
    t.eq(during, 50, "every compile happened during the load")

    recs = H.all_records(backends, "/v1/sync")
    bad = [x for x in recs if ALLOWED.get(x["headers"].get("x-domicile-rule-version")) != x["region"]]
    t.eq(len(recs), n_load, "backends recorded every write")
    t.eq(len(bad), 0, "every write landed in the region its rule version allows", )
    versions = {x["headers"].get("x-domicile-rule-version") for x in recs}
    t.eq(versions, {"ops-A", "ops-B"}, "both rule sets were in force during the run")

    _, m = admin_get(admin_port, "/metrics")
    got_reloads = H.wait_until(
        lambda: (metric(admin_get(admin_port, "/metrics")[1], "domicile_geo_reloads_total") or 0) >= swaps and
        metric(admin_get(admin_port, "/metrics")[1], "domicile_geo_reloads_total"), 10, what="geo reloads")
    t.note("geo reloads seen: %d of %d swaps" % (got_reloads, swaps))
    t.ok(got_reloads >= swaps, "every geo swap was picked up")

    # ---- a truncated geo file: keep the old one ----
    fails_before = metric(admin_get(admin_port, "/metrics")[1], "domicile_geo_reload_failures_total")
    tmp = geo + ".tmp"
    shutil.copy(os.path.join(H.FIXTURES, "geo-truncated.mmdb"), tmp)
    os.replace(tmp, geo)
    H.wait_until(lambda: metric(admin_get(admin_port, "/metrics")[1], "domicile_geo_reload_failures_total")
                 > fails_before, 10, what="geo reload failure counted")
    t.ok(True, "a truncated geo file is counted as a failed reload")
    r2 = H.h2load("http://%s:%d/v1/sync/after" % (host, port), 500, c=4, m=2, data_file=payload)
    t.eq(r2.get("2xx"), 500, "still serving with the previous geo database")
    st = json.loads(admin_get(admin_port, "/status")[1])
    t.ok(st["geo"]["build_epoch"] > 0 and st["geo"]["reload_failures"] >= 1, "/status shows the geo build date "
         "and the failure", st["geo"])
    # a good file again
    shutil.copy(H.GEO_DB, tmp)
    os.replace(tmp, geo)

    # ---- an XFF client in the geo fixture, to see the address truncated in the audit log ----
    addr = H.geo_addr("DE")
    res = H.curl(port, "/v1/sync/geo", method="PUT", body=b"x", proto="h1c",
                 headers={"X-Forwarded-For": addr})
    t.eq(res.status, 200, "a request from a geolocated client")

    # ---- metrics: promtool and agreement with what was sent ----
    sent = base + n_load + 500 + 1
    text = H.wait_until(lambda: (lambda s: s if metric(s, "domicile_requests_total") == sent else None)(
        admin_get(admin_port, "/metrics")[1]), 10, what="requests_total == %d" % sent)
    mf = os.path.join(d, "metrics.txt")
    with open(mf, "w") as f:
        f.write(text)
    if shutil.which("promtool"):
        pr = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        t.eq(pr.returncode, 0, "promtool check metrics accepts /metrics", )
        if pr.returncode != 0:
            t.note(pr.stdout + pr.stderr)
    else:
        t.note("promtool not installed: apt-get install prometheus")
    t.eq(metric(text, "domicile_requests_total", {"status": "200", "action": "route"}) - base200, n_load + 500 + 1,
         "requests_total by status 200/route equals the requests sent")
    t.eq(metric(text, "domicile_request_duration_seconds_count"), sent, "latency histogram count equals requests")
    t.ok(metric(text, "domicile_rules_reloads_total") >= 1, "rule reloads are counted")
    t.ok(metric(text, "domicile_geo_database_build_timestamp_seconds") > 0, "geo build date exported")
    t.note("rules reloads counted: %d" % metric(text, "domicile_rules_reloads_total"))

    # ---- audit: one line per request after a clean stop ----
    gw.signal(__import__("signal").SIGTERM)
    t.eq(gw.wait_exit(20), 0, "gateway exits 0 on SIGTERM")
    lines = [ln for ln in open(audit, encoding="utf-8").read().splitlines() if '"type":' not in ln]
    t.eq(len(lines), sent, "the audit log has exactly one line per request (and the chain's own lines)")
    parsed = []
    for ln in lines:
        try:
            parsed.append(json.loads(ln))
        except ValueError:
            pass
    t.eq(len(parsed), len(lines), "every audit line parses as JSON")
    ids = {p.get("request_id") for p in parsed}
    t.eq(len(ids), len(parsed), "request ids are unique")
    full = [p for p in parsed if p.get("client") and "/" not in p["client"]]
    t.eq(len(full), 0, "no full client address in the audit log by default")
    geo_lines = [p for p in parsed if p.get("country") == "DE"]
    t.ok(len(geo_lines) == 1 and geo_lines[0]["client"].endswith("/24") and addr not in json.dumps(geo_lines[0]),
         "the geolocated client is recorded as its /24", geo_lines)
    keys = {"time", "request_id", "client", "country", "subdivision", "jurisdiction", "jurisdiction_source",
            "rule_version", "class", "access", "action", "status", "region", "cluster", "node", "latency_us",
            "bytes_in", "bytes_out", "report"}
    t.ok(all(keys <= set(p) for p in parsed), "audit lines carry every field")
    t.ok(all(ALLOWED[p["rule_version"]] == p["region"] for p in parsed if p["action"] == "route"),
         "audit lines agree with the rule versions' regions")


if __name__ == "__main__":
    H.run_test("ops_reload", body, timeout=170)
