#!/usr/bin/env python3
"""`domicile fleet status` and the fleet fields of /status, metrics and audit lines (issue 13, item 2).

Two replicas on loopback, "alpha" (admin.token_file) and "beta" (no token), with different geo databases:
- /status names the instance, the config file's SHA-256 (equal to the file's), its generation and load time,
  the geo database's SHA-256 (equal to the file's) and load time; metrics carry the same; a SIGHUP applied
  moves the config generation to 2; audit lines name the instance and the geo database;
- fleet status without the token: alpha answers 401, exit 1, and says to use --token-file; with it: the table
  lists both, the geo databases diverge (exit 1, "geo databases diverge"); once beta runs alpha's database
  (a rename, swapped in by itself) they converge: exit 0, and --json says so;
- a replica that does not answer (a closed port) makes it exit 1 naming the URL; usage errors exit 2.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

TOKEN = "fleet-status-token-0123456789abcdef"


def sha256_file(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def admin(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def body(t):
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    token_file = os.path.join(d, "admin-token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token_file, 0o600)
    beta_geo = os.path.join(d, "beta-geo.mmdb")
    shutil.copy(os.path.join(H.FIXTURES, "geo-flat.mmdb"), beta_geo)
    reps = {}
    for name, geo, extra_admin in (("alpha", H.GEO_DB, {"token_file": token_file}), ("beta", beta_geo, {})):
        port = H.free_port()
        audit = os.path.join(d, "audit-%s.log" % name)
        cfg = H.base_config(d, rules, backends, listeners=("clear",), extra={
            "instance": name, "admin": dict({"listen": "127.0.0.1:%d" % port}, **extra_admin),
            "audit": {"path": audit}, "geo": {"database": geo, "reload_poll": "200ms"}})
        gw = H.Gateway(d, cfg, name=name).start()
        reps[name] = {"gw": gw, "admin": port, "audit": audit, "geo": geo, "url": "http://127.0.0.1:%d" % port}

    # /status, metrics
    st = json.loads(admin(reps["beta"]["admin"], "/status"))
    t.eq(st.get("instance"), "beta", "/status: instance")
    t.eq(st["config"]["sha256"], sha256_file(reps["beta"]["gw"].cfg_path), "/status: config.sha256 is the file's")
    t.eq(st["config"]["generation"], 1, "/status: config.generation 1 at start")
    t.ok(st["config"]["loaded_at"] > 0 and st["geo"]["loaded_at"] > 0, "/status: load times of config and geo")
    t.eq(st["geo"]["sha256"], sha256_file(beta_geo), "/status: geo.sha256 is the database file's")
    m = admin(reps["beta"]["admin"], "/metrics")
    t.ok('domicile_instance_info{instance_name="beta",version="0.1.0"} 1' in m, "metrics: domicile_instance_info")
    t.ok('sha256="%s"' % sha256_file(beta_geo) in m, "metrics: domicile_geo_database_info carries the sha256")
    t.ok(re.search(r"^domicile_config_generation 1$", m, re.M), "metrics: domicile_config_generation 1")

    reps["beta"]["gw"].signal(signal.SIGHUP)
    H.wait_until(lambda: json.loads(admin(reps["beta"]["admin"], "/status"))["config"]["generation"] == 2, 10,
                 what="config generation 2 after SIGHUP")
    t.ok(re.search(r"^domicile_config_generation 2$", admin(reps["beta"]["admin"], "/metrics"), re.M),
         "a SIGHUP applied: config generation 2 (/status and metrics)")

    port = reps["beta"]["gw"].listener("clear")[1]
    r = H.curl(port, "/v1/sync/fleet-" + H.uid(), "PUT", body=b"x", proto="h1c",
               headers={"X-Forwarded-For": H.geo_addr("DE")})
    t.eq(r.status, 200, "a write through beta")

    def fleet(*args):
        return H.run([H.BIN, "fleet", "status"] + list(args), timeout=30)

    urls = [reps["alpha"]["url"], reps["beta"]["url"]]
    r = fleet(*urls)
    t.ok(r.returncode == 1 and "HTTP 401" in r.stderr and "--token-file" in r.stderr,
         "without the token: alpha answers 401, exit 1, the message names --token-file", r.stdout + r.stderr)
    r = fleet("--token-file", token_file, *urls)
    t.note("fleet status:\n" + r.stdout + r.stderr)
    t.ok(r.returncode == 1 and "geo databases diverge" in r.stderr and "rule sets diverge" not in r.stderr,
         "with the token: both answer, the geo databases diverge: exit 1", r.stderr)
    rows = {ln.split()[0]: ln.split() for ln in r.stdout.splitlines()[1:] if ln.strip()}
    t.ok(set(rows) == {"alpha", "beta"} and rows["alpha"][1] == "yes" and rows["alpha"][2] == rows["beta"][2],
         "the table: one row per instance, ready, the same rule set", r.stdout)

    # beta gets alpha's database by rename: the watcher swaps it in, the fleet converges
    shutil.copy(H.GEO_DB, beta_geo + ".new")
    os.replace(beta_geo + ".new", beta_geo)
    H.wait_until(lambda: json.loads(admin(reps["beta"]["admin"], "/status"))["geo"]["sha256"] == sha256_file(H.GEO_DB),
                 10, what="beta swaps in the new geo database")
    r = fleet("--token-file", token_file, *urls)
    t.ok(r.returncode == 0 and r.stderr == "", "converged: exit 0, nothing on stderr", r.stdout + r.stderr)
    r = fleet("--token-file", token_file, "--json", *urls)
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(j.get("converged") is True and [x["instance"] for x in j.get("replicas", [])] == ["alpha", "beta"],
         "--json: converged, both instances", r.stdout)

    closed = "http://127.0.0.1:%d" % H.free_port()
    r = fleet("--token-file", token_file, "--timeout", "2", *(urls + [closed]))
    t.ok(r.returncode == 1 and closed.split("//")[1].split(":")[0] in r.stderr,
         "a replica that does not answer: exit 1, named", r.stderr)
    t.eq(fleet().returncode, 2, "no URL: usage error (2)")
    t.eq(fleet("ftp://127.0.0.1:1").returncode, 2, "not an http(s) URL: usage error (2)")
    t.eq(fleet("--token-file", os.path.join(d, "missing"), urls[0]).returncode, 2, "unreadable token file: 2")

    for rep in reps.values():
        rep["gw"].signal(signal.SIGTERM)
        rep["gw"].wait_exit(20)
    lines = [json.loads(x) for x in open(reps["beta"]["audit"]).read().splitlines()]
    writes = [x for x in lines if x.get("method") == "PUT"]
    t.ok(writes and all(x.get("instance") == "beta" and x.get("geo_sha256") == sha256_file(
        os.path.join(H.FIXTURES, "geo-flat.mmdb")) for x in writes),
        "audit lines name the instance and the geo database that located the client", writes[:1])


if __name__ == "__main__":
    H.run_test("fleet_status_cli", body, timeout=90)
