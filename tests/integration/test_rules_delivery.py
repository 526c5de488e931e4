#!/usr/bin/env python3
"""Rules delivered any way operators deliver files, under load (docs/operations.md).

Three deliveries, each 20 times, alternating two rule sets (A routes writes to r-one, B to
r-two) while h2load writes through the gateway:
  (a) `domicile rules compile DIR -o rules.mdb` into the live file;
  (b) `domicile rules compile DIR -o rules.mdb.new && mv rules.mdb.new rules.mdb` (rsync,
      Ansible, install: a new inode under the same name);
  (c) a Kubernetes ConfigMap/Secret volume: rules.mdb -> ..data/rules.mdb, ..data -> a
      timestamped directory, swapped by renaming a new ..data link over the old one.
For each: no failed request, every request decided by A or B (the ruleset hash in its audit
line), every write stored where its rule version says, and each switch seen by a client
within 1 s of the delivery (from the audit log: the first request decided by the new set
started within 1 s of the delivery's last step; the load keeps requests coming). Then a corrupt delivery by each method is refused, counted, and
the rules in use stay; /status names the file, its inode, hash and load time.
"""
import datetime
import json
import os
import shutil
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

ROUNDS = 20
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
ALLOWED = {"deliver-A": "r-one", "deliver-B": "r-two"}


def rule_set(version, region):
    jur = """jurisdiction: %s
version: "%s"
effective: 2020-01-01
%s
policy_url: https://example.test/p
classes:
  content: { write: [%s], read: [%s] }
"""
    return {"_regions.yaml": REGIONS, "_classes.yaml": CLASSES,
            "default.yaml": jur % ("T-ANY", version, "default: true", region, region),
            "de.yaml": jur % ("T-DE", version, "applies_to: [DE]", region, region)}


def admin_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def body(t):
    H.require_tools("h2load", "curl")
    d = H.tmpdir()
    dirs = {"A": H.write_files(os.path.join(d, "rules-a"), rule_set("deliver-A", "r-one")),
            "B": H.write_files(os.path.join(d, "rules-b"), rule_set("deliver-B", "r-two"))}
    broken = H.write_files(os.path.join(d, "rules-broken"), dict(rule_set("deliver-X", "r-nowhere")))
    built = {}  # compiled once per set, copied for the rename and symlink deliveries
    for k, src in dirs.items():
        built[k] = os.path.join(d, "built-%s.mdb" % k)
        H.run([H.BIN, "rules", "compile", src, "-o", built[k]], check=True)
    hashes = {}
    for k in built:
        r = H.run([H.BIN, "rules", "show", built[k], "--json"], check=True)
        hashes[k] = json.loads(r.stdout)["source_hash"]

    # the three places a rules file lives; the gateway is told one path each time
    plain = os.path.join(d, "plain")
    os.makedirs(plain)
    kube = os.path.join(d, "kube")
    os.makedirs(kube)
    backends = H.start_backends(d, ["r-one", "r-two"])
    de = H.geo_addr("DE")
    payload = os.path.join(d, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(256))

    def start_gateway(name, rules_path):
        admin_port = H.free_port()
        audit = os.path.join(d, "audit-%s.log" % name)
        cfg = H.base_config(d, rules_path, backends, listeners=("clear",), extra={
            "admin": {"listen": "127.0.0.1:%d" % admin_port}, "audit": {"path": audit},
            "geo": {"database": H.GEO_DB, "reload_poll": "500ms"}})
        gw = H.Gateway(d, cfg, name="gateway-" + name).start()
        return gw, admin_port, audit

    def version_seen(port):
        r = H.curl(port, "/v1/sync/probe-%s" % H.uid(), method="PUT", body=b"p", proto="h1c",
                   headers={"X-Forwarded-For": de})
        return r.header("domicile-rule-version")

    def kube_deliver(k, n):
        """What the kubelet does: a new timestamped dir, a ..data_tmp link to it, renamed over ..data."""
        ts = os.path.join(kube, "..2026_%04d" % n)
        os.makedirs(ts)
        shutil.copy(built[k], os.path.join(ts, "rules.mdb"))
        tmp = os.path.join(kube, "..data_tmp")
        os.symlink(os.path.basename(ts), tmp)
        old = os.path.realpath(os.path.join(kube, "..data")) if os.path.lexists(os.path.join(kube, "..data")) else None
        os.rename(tmp, os.path.join(kube, "..data"))
        if old is not None:
            shutil.rmtree(old)

    def deliver(method, k, n, target):
        if method == "in-place":
            H.run([H.BIN, "rules", "compile", dirs[k], "-o", target], check=True)
        elif method == "rename":
            tmp = target + ".new"
            shutil.copy(built[k], tmp)
            os.replace(tmp, target)
        else:
            kube_deliver(k, n)

    methods = {"in-place": os.path.join(plain, "live.mdb"), "rename": os.path.join(plain, "renamed.mdb"),
               "symlink": os.path.join(kube, "rules.mdb")}
    kube_deliver("A", 0)
    os.symlink("..data/rules.mdb", methods["symlink"])
    H.run([H.BIN, "rules", "compile", dirs["A"], "-o", methods["in-place"]], check=True)
    shutil.copy(built["A"], methods["rename"])

    for method, target in methods.items():
        gw, admin_port, audit = start_gateway(method, target)
        host, port = gw.listener("clear")
        t.eq(version_seen(port), "deliver-A", "%s: starts on rule set A" % method)
        result = {"runs": []}
        finished = threading.Event()

        def load():
            while True:
                result["runs"].append(H.h2load("http://%s:%d/v1/sync/load" % (host, port), 500, c=4, m=4,
                                               headers={"x-forwarded-for": de}, data_file=payload, timeout=120))
                if finished.is_set():
                    return

        th = threading.Thread(target=load)
        th.start()
        delivered = []  # (time the delivery completed, the set delivered)
        for i in range(1, ROUNDS + 1):
            k = "B" if i % 2 else "A"
            deliver(method, k, i, target)
            delivered.append((time.time(), k))
            want = "deliver-" + k
            H.wait_until(lambda: version_seen(port) == want, 10, interval=0.02, what="%s switch" % method)
        during = th.is_alive()
        finished.set()
        th.join()
        runs = result["runs"]
        r = {k2: sum(x.get(k2, 0) for x in runs) for k2 in ("total", "succeeded", "failed", "errored", "timeout", "2xx")}
        t.ok(during, "%s: every delivery happened under load" % method)
        t.eq(r["failed"] + r["errored"] + r["timeout"], 0, "%s: no failed request" % method)
        t.eq(r["2xx"], r["total"], "%s: every request answered 2xx" % method)

        # a corrupt delivery by the same method: refused, counted, the rules in use stay
        before = version_seen(port)
        st0 = json.loads(admin_get(admin_port, "/status")[1])["rules"]
        if method == "in-place":
            res = H.run([H.BIN, "rules", "compile", broken, "-o", target])
            t.ok(res.returncode != 0, "in-place: a compile of broken rules fails and leaves the file")
        elif method == "rename":
            tmp = target + ".new"
            with open(built["A"], "rb") as f:
                data = f.read()
            with open(tmp, "wb") as f:
                f.write(data[:len(data) // 3])  # a truncated copy
            os.replace(tmp, target)
        else:
            ts = os.path.join(kube, "..2026_bad")
            os.makedirs(ts)
            with open(os.path.join(ts, "rules.mdb"), "wb") as f:
                f.write(b"not an lmdb file at all\n" * 300)
            tmp = os.path.join(kube, "..data_tmp")
            os.symlink(os.path.basename(ts), tmp)
            os.rename(tmp, os.path.join(kube, "..data"))
        if method != "in-place":
            H.wait_until(lambda: json.loads(admin_get(admin_port, "/status")[1])["rules"]["file_refusals"] >
                         st0["file_refusals"], 5, what="%s: refusal counted" % method)
            t.ok(True, "%s: a corrupt file is refused and counted" % method)
        res = H.h2load("http://%s:%d/v1/sync/after" % (host, port), 200, c=2, m=2, headers={"x-forwarded-for": de},
                       data_file=payload)
        t.eq(res.get("2xx"), 200, "%s: still serving after the corrupt delivery" % method)
        t.eq(version_seen(port), before, "%s: the rules in use stay" % method)
        st = json.loads(admin_get(admin_port, "/status")[1])["rules"]
        t.ok(st.get("database") == target and st.get("inode", 0) > 0 and st.get("loaded_at", 0) > 0 and
             st.get("source_hash") in hashes.values(), "%s: /status names the file, inode, hash, load time" % method,
             st)
        if method != "in-place":
            t.ok(st.get("file_swaps") == ROUNDS, "%s: /status counts %d file swaps" % (method, ROUNDS), st)

        gw.signal(__import__("signal").SIGTERM)
        t.eq(gw.wait_exit(20), 0, "%s: gateway exits 0" % method)
        lines = [json.loads(x) for x in open(audit, encoding="utf-8").read().splitlines()]
        lines = [x for x in lines if "type" not in x]  # requests, not the chain's open and checkpoint lines
        routed = [x for x in lines if x.get("action") == "route"]
        for x in lines:
            x["_t"] = datetime.datetime.strptime(x["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        switch_s = []
        for at, k in delivered:
            first = min((x["_t"] for x in lines if x["_t"] >= at - 0.5 and x.get("rules_hash") == hashes[k]),
                        default=None)
            switch_s.append(max(first - at, 0.0) if first is not None else 99.0)
        t.note("%s: %d deliveries, the first request on the new set started %.0f ms after the delivery at most "
               "(median %.0f ms); h2load %d requests, %d 2xx" % (method, ROUNDS, max(switch_s) * 1000,
                                                                  sorted(switch_s)[len(switch_s) // 2] * 1000,
                                                                  r["total"], r["2xx"]))
        t.ok(max(switch_s) <= 1.0, "%s: every switch within 1 s" % method, switch_s)
        t.ok(all(x.get("rules_hash") in hashes.values() for x in lines),
             "%s: every audit line names rule set A or B by hash" % method)
        by_hash = {h: sum(1 for x in routed if x.get("rules_hash") == h) for h in hashes.values()}
        t.ok(all(n > 0 for n in by_hash.values()), "%s: both rule sets decided requests" % method, by_hash)
        t.ok(all(ALLOWED[x["rule_version"]] == x["region"] for x in routed),
             "%s: every write stored in the region its rule version allows" % method)
        t.ok(all(x.get("rules_hash") == hashes[x["rule_version"][-1]] for x in routed),
             "%s: each line's hash is its rule version's" % method)


if __name__ == "__main__":
    H.run_test("rules_delivery", body, timeout=170)
