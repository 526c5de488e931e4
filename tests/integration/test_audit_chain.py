#!/usr/bin/env python3
"""The tamper-evident audit log end to end (issue 11, docs/audit.md).

Writes under load (h2load from Germany, a curl loop from an unknown location that is refused) through
the real gateway to recording backends, while the rules change three times (a compile into the live
file, a rename delivery: compile to a new file with --ledger-from and mv, and a compile in place again),
the log is rotated (rename + SIGUSR1) and the gateway restarted on the same file. Then:
- `domicile audit verify` passes on the resulting files: the chain is whole across the rotation and the
  restart, every checkpoint's signature holds, every rule_hash resolves, every write went where it allowed;
- independently of verify, every line's rule_hash resolves (`rules show --hash`) to rule text whose
  allowed write regions include the region the line names;
- in copies of the log, one line edited, one deleted, two swapped: verify names each (file:line, what);
  a line whose region is rewritten and whose chain is recomputed after it (an attacker without the key)
  is named as a region not allowed, and the checkpoints after it as edited.
"""
import hashlib
import json
import os
import shutil
import signal
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

REGIONS = """regions:
  r-one: { location: DE }
  r-two: { location: FR }
"""
CLASSES = """classes:
  content: { description: "synced files", personal: true }
routes:
  - { prefix: /v1/sync, class: content }
default_class: content
"""
DEFAULT = """jurisdiction: T-ANY
version: "2026-01"
effective: 2020-01-01
default: true
policy_url: https://example.test/p
classes:
  content: { deny: true, reason: location_unknown }
"""
DE = """jurisdiction: T-DE
version: "%s"
effective: 2020-01-01
applies_to: [DE]
policy_url: https://example.test/p
classes:
  content: { write: [%s], read: [%s] }
"""
# the rule set at start and after each of the three changes: (T-DE version, its write regions)
SETS = [("2026-01", "r-one"), ("2026-02", "r-two"), ("2026-03", "r-two, r-one"), ("2026-04", "r-one")]
AUDIT_KEYS = "audit-k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"


def rule_dir(d, i):
    version, regions = SETS[i]
    return H.write_files(os.path.join(d, "rules-%d" % i), {
        "_regions.yaml": REGIONS, "_classes.yaml": CLASSES, "default.yaml": DEFAULT,
        "de.yaml": DE % (version, regions, regions)})


def lines_of(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n")[:-1]


def write_lines(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(x + b"\n" for x in lines))


def verify(t, files, rules, keys, what):
    r = H.run([H.BIN, "audit", "verify"] + files + ["--rules", rules, "--keys", keys, "--json"], timeout=60)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        t.ok(False, "%s: audit verify prints JSON" % what, (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        raise
    return r.returncode, out


def problems_at(out, name, line):
    return [p for p in out["problems"] if os.path.basename(p["file"]) == name and p["line"] == line]


def body(t):
    H.require_tools("h2load", "curl")
    d = H.tmpdir()
    dirs = [rule_dir(d, i) for i in range(len(SETS))]
    live = os.path.join(d, "live.mdb")
    H.run([H.BIN, "rules", "compile", dirs[0], "-o", live], check=True)
    keys = os.path.join(d, "audit-keys")
    with open(keys, "w") as f:
        f.write(AUDIT_KEYS)
    os.chmod(keys, 0o600)
    logdir = os.path.join(d, "log")
    os.makedirs(logdir)
    audit = os.path.join(logdir, "audit.log")
    backends = H.start_backends(d, ["r-one", "r-two"])
    cfg = H.base_config(d, live, backends, listeners=("clear",), extra={
        "audit": {"path": audit, "key_file": keys, "checkpoint_lines": 40, "checkpoint_interval": "1s"},
        "geo": {"database": H.GEO_DB, "reload_poll": "200ms"}})
    gw = H.Gateway(d, cfg, name="gateway-1").start()
    host, port = gw.listener("clear")
    de, unknown = H.geo_addr("DE"), "10.1.2.3"
    payload = os.path.join(d, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(200))

    def version_seen():
        r = H.curl(port, "/v1/sync/probe-%s" % H.uid(), method="PUT", body=b"p", proto="h1c",
                   headers={"X-Forwarded-For": de})
        return r.header("domicile-rule-version")

    t.eq(version_seen(), SETS[0][0], "starts on the first rule set")
    runs, refused, finished = [], [], threading.Event()

    def load():
        while not finished.is_set():
            runs.append(H.h2load("http://%s:%d/v1/sync/load" % (host, port), 300, c=4, m=4,
                                 headers={"x-forwarded-for": de}, data_file=payload, timeout=120))

    def refusals():
        while not finished.is_set():
            r = H.curl(port, "/v1/sync/nowhere-%s" % H.uid(), method="PUT", body=b"x", proto="h2c",
                       headers={"X-Forwarded-For": unknown})
            refused.append(r.status)

    threads = [threading.Thread(target=load), threading.Thread(target=refusals)]
    for th in threads:
        th.start()
    H.wait_until(lambda: len(runs) >= 1 and len(refused) >= 5, 60, what="load under way")

    # change 1: compiled into the live file
    H.run([H.BIN, "rules", "compile", dirs[1], "-o", live], check=True)
    H.wait_until(lambda: version_seen() == SETS[1][0], 10, what="change 1 seen")
    # the log rotated under load: rename, then SIGUSR1
    os.rename(audit, audit + ".1")
    gw.signal(signal.SIGUSR1)
    H.wait_until(lambda: os.path.exists(audit), 10, what="the log reopened")
    # change 2: a rename delivery, the ledger carried from the live file
    H.run([H.BIN, "rules", "compile", dirs[2], "-o", live + ".new", "--ledger-from", live], check=True)
    os.replace(live + ".new", live)
    H.wait_until(lambda: version_seen() == SETS[2][0], 10, what="change 2 (rename) seen")
    # change 3: in place again
    H.run([H.BIN, "rules", "compile", dirs[3], "-o", live], check=True)
    H.wait_until(lambda: version_seen() == SETS[3][0], 10, what="change 3 seen")
    n_runs = len(runs)
    H.wait_until(lambda: len(runs) > n_runs, 60, what="load after the last change")
    during = all(th.is_alive() for th in threads)
    finished.set()
    for th in threads:
        th.join()
    t.ok(during, "the rules changed and the log rotated under load")
    total = {k: sum(r.get(k, 0) for r in runs) for k in ("total", "2xx", "failed", "errored", "timeout")}
    t.eq(total["failed"] + total["errored"] + total["timeout"], 0, "no failed request under load")
    t.eq(total["2xx"], total["total"], "every write from Germany answered 2xx (%d)" % total["total"])
    t.ok(len(refused) > 0 and set(refused) == {451}, "writes from an unknown location refused (%d)" % len(refused))

    # a restart on the same file: the chain goes on from its last line
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(20), 0, "the gateway stops cleanly")
    gw2 = H.Gateway(d, dict(cfg, listen=[{"address": "127.0.0.1:%d" % H.free_port()}]), name="gateway-2").start()
    port2 = gw2.listener("clear")[1]
    for _ in range(5):
        H.curl(port2, "/v1/sync/after-%s" % H.uid(), method="PUT", body=b"a", proto="h2c",
               headers={"X-Forwarded-For": de})
    gw2.signal(signal.SIGTERM)
    t.eq(gw2.wait_exit(20), 0, "the restarted gateway stops cleanly")

    files = [audit + ".1", audit]
    rc, out = verify(t, files, live, keys, "the whole log")
    t.eq(rc, 0, "audit verify passes on the log (rotation, restart, three rule changes)")
    t.eq(out["problems"], [], "no problem named")
    t.ok(out["checkpoints"]["count"] > 2 and out["checkpoints"]["verified"] == out["checkpoints"]["count"],
         "every checkpoint's signature verified (%d)" % out["checkpoints"]["count"], out["checkpoints"])
    t.eq(out["gaps"], 0, "no gap")
    t.eq(out["mismatches"], 0, "no mismatch")
    seen_versions = sorted(v["rule_version"] for v in out["versions"] if v["jurisdiction"] == "T-DE")
    t.eq(seen_versions, [s[0] for s in SETS], "requests counted per jurisdiction version: all four T-DE versions")
    t.ok(out["refusals"].get("location_unknown", 0) >= len(refused), "refusals per reason", out["refusals"])
    t.note("FIGURE audit_chain.lines = %d (%d requests, %d checkpoints, files %s)" %
           (out["lines"], out["requests"], out["checkpoints"]["count"], [os.path.basename(f) for f in files]))

    # independently of verify: the chain, the open lines, and each line's rule text
    parsed = [(f, i + 1, raw, json.loads(raw)) for f in files for i, raw in enumerate(lines_of(f))]
    prev, seq, broken = "0" * 64, 0, 0
    for f, n, raw, j in parsed:
        broken += j.get("prev") != prev or j.get("seq") != seq + 1
        prev, seq = hashlib.sha256(raw).hexdigest(), j["seq"]
    t.eq(broken, 0, "every line's prev is the SHA-256 of the line before it, seq one more (%d lines)" % len(parsed))
    opens = [j.get("chain_from") for _, _, _, j in parsed if j.get("type") == "open"]
    t.eq(opens, ["none", "memory", "file"], "open lines: the first start, the reopen after rotation, the restart")
    texts, writes, wrong, unresolved, on_backend = {}, 0, [], 0, 0
    for f, n, raw, j in parsed:
        if j.get("type") or not j.get("jurisdiction"):
            continue
        h = j.get("rule_hash")
        if h not in texts:
            r = H.run([H.BIN, "rules", "show", "--hash", h or "-", live])
            texts[h] = r.stdout if r.returncode == 0 else None
        if texts[h] is None:
            unresolved += 1
            continue
        if j["action"] != "route" or j["access"] != "write":
            continue
        writes += 1
        allowed = [ln.split("=", 1)[1].split(",") for ln in texts[h].splitlines()
                   if ln.startswith("class.%s.write=" % j["class"])]
        if not allowed or j["region"] not in allowed[0]:
            wrong.append((f, n, j["region"], allowed))
    t.eq(unresolved, 0, "every line's rule_hash resolves to rule text in the ledger (%d versions)" % len(texts))
    t.ok(writes > 100 and not wrong, "every routed write's region is allowed by its rule text (%d writes)" % writes,
         wrong[:5])

    # tampering, each in a copy of the first file (the second stays as it is)
    first = lines_of(files[0])
    req = [i for i, raw in enumerate(first) if b'"action":"route"' in raw and b'"type"' not in raw]
    t.require(len(req) > 60, "enough routed lines in the first file", len(req))
    k_edit, k_del, k_swap = req[10], req[30], req[50]

    def tampered(name, lines):
        sub = os.path.join(d, "tamper-" + name)
        os.makedirs(sub)
        write_lines(os.path.join(sub, "audit.log.1"), lines)
        return verify(t, [os.path.join(sub, "audit.log.1"), audit], live, keys, name)

    edited = list(first)
    edited[k_edit] = edited[k_edit].replace(b'"status":200', b'"status":201')
    rc, out = tampered("edit", edited)
    t.eq(rc, 1, "an edited line: verify fails")
    t.ok(any(p["kind"] == "edited" for p in problems_at(out, "audit.log.1", k_edit + 1)),
         "an edited line is named: audit.log.1:%d edited" % (k_edit + 1), out["problems"])
    deleted = first[:k_del] + first[k_del + 1:]
    rc, out = tampered("delete", deleted)
    t.eq(rc, 1, "a deleted line: verify fails")
    t.ok(any(p["kind"] == "deleted" for p in problems_at(out, "audit.log.1", k_del + 1)),
         "a deleted line is named: at audit.log.1:%d, the line before is missing" % (k_del + 1), out["problems"])
    swapped = list(first)
    swapped[k_swap], swapped[k_swap + 1] = swapped[k_swap + 1], swapped[k_swap]
    rc, out = tampered("reorder", swapped)
    t.eq(rc, 1, "two lines swapped: verify fails")
    t.ok(all(any(p["kind"] == "reordered" for p in problems_at(out, "audit.log.1", n))
             for n in (k_swap + 1, k_swap + 2)),
         "reordered lines are named: audit.log.1:%d and :%d" % (k_swap + 1, k_swap + 2), out["problems"])
    t.eq(len(out["problems"]), 2, "only the two moved lines are named")

    # without the key: the region rewritten and the chain recomputed after it; the signatures give it away
    k = req[20]
    forged = list(first[:k])
    prev = hashlib.sha256(forged[-1]).hexdigest() if forged else "0" * 64
    for raw in first[k:]:
        j = json.loads(raw)
        if raw is first[k]:
            j["region"] = "r-nowhere"
        j["prev"] = prev
        raw2 = json.dumps(j, separators=(",", ":")).encode()
        forged.append(raw2)
        prev = hashlib.sha256(raw2).hexdigest()
    rc, out = tampered("forge", forged)
    t.eq(rc, 1, "a forged region with the chain recomputed: verify fails")
    t.ok(any(p["kind"] == "region_not_allowed" for p in problems_at(out, "audit.log.1", k + 1)),
         "the forged line is named: region not allowed", out["problems"])
    t.ok(any(p["kind"] == "edited" and "signature" in p["message"] for p in out["problems"]),
         "the checkpoints after it are named: their signatures no longer match")
    H.stop_gateways(t)


if __name__ == "__main__":
    H.run_test("audit_chain", body, timeout=170)
