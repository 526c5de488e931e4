#!/usr/bin/env python3
"""A fleet, not a process: three replicas behind Debian's HAProxy, real WebDAV stores and real sync clients,
each client in a network namespace of its own (issue 13; ctest label `fleet`).

Topology, all made here and removed at the end (even when the test fails):

    client namespaces (ip netns add)            the core namespace (this test, re-executed under `unshare -n`)
    de   5.1.0.2  ──veth──┐                     HAProxy  192.0.2.1:80  mode tcp, send-proxy-v2, checks /readyz
    us   5.11.0.2 ──veth──┤                       ├── gw1 ┐ domicile replicas, proxy_protocol listeners on
    cn   5.15.0.2 ──veth──┼── default route ───▶  ├── gw2 ├ 127.0.0.1, admin listeners (/readyz, /status)
    ru   5.16.0.2 ──veth──┤   to 192.0.2.1        └── gw3 ┘
    lan  10.77.0.2 ─veth──┘                     rclone serve webdav stores: r-eu (two nodes, one directory),
                                                r-us, r-ru, on 127.0.0.1

The test geo database puts 5.1/16 in DE, 5.11/16 in the US, 5.15/16 in CN, 5.16/16 in RU; 10.77.0.2 is a private
address (location unknown). Only HAProxy (127.0.0.1) is a trusted proxy: the address each replica decides on comes
from the PROXY v2 header, i.e. from the client's namespace. Traffic goes only to addresses in these namespaces.

Phases, each with its checks:
 1. `rclone sync` of a folder from every client namespace to the gateway's WebDAV URL, then `rclone check
    --download`: every file lands only in the stores of the regions the rules allow (listed from the stores' own
    directories), checksums match; CN (content denied) and the private client get 451 and nothing is stored.
 2. `domicile fleet status` of the three replicas: converged (exit 0).
 3. A rolling rules update under load (clients in de and cn write all along): a new rule set (CN content now
    allowed in r-us) compiled once, delivered by rename to each replica in turn. Every audit line is decided by
    the old or the new set, each replica switches exactly once (its audit lines in decision order; /status
    file_swaps), every write lands where the set that decided it allows (0 outside), `fleet status` shows the
    divergence in the middle (exit 1) and exits 0 after. Figure: time to converge.
 4. A replica killed (SIGKILL) mid-sync: HAProxy takes it out; the sync completes on retry, `rclone check` passes
    and the store holds exactly the source files (nothing partial); a second client's requests that failed were
    all in flight at the kill; every acknowledged write is stored with its checksum.
 5. One region's store stopped (r-ru): RU syncs get 503, DE and US syncs succeed.
"""
import atexit
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from lbscenario import haproxy_command, haproxy_stats  # noqa: E402

NETNS_ENV = "DOMICILE_FLEET_NETNS"
VIP = "192.0.2.1"  # TEST-NET-1 on the core namespace's lo: HAProxy's frontend
NS_PREFIX = "domfleet-"
HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_MS = 200

# client name -> (country in the geo fixture or None for a private address, network prefix /24)
CLIENTS = {"de": "DE", "us": "US", "cn": "CN", "ru": "RU", "lan": None}
ALLOWED_V1 = {"de": "r-eu", "us": "r-us", "ru": "r-ru", "cn": None, "lan": None}
ALLOWED_V2 = dict(ALLOWED_V1, cn="r-us")

REGIONS = """regions:
  r-eu: { location: DE, description: "two WebDAV nodes on one store" }
  r-us: { location: US }
  r-ru: { location: RU }
"""
CLASSES = """classes:
  content: { description: "synced files", personal: true }
routes:
  - { prefix: /v1/sync, class: content }
default_class: content
"""


def jurisdiction(name, version, applies, content):
    return """jurisdiction: %s
version: "%s"
effective: 2020-01-01
%s
policy_url: https://example.test/privacy#%s
on_unavailable: reject
classes:
  content: %s
""" % (name, version, applies, name.lower(), content)


def rule_set(version, cn_allowed):
    w = lambda r: "{ write: [%s], read: [%s] }" % (r, r)  # noqa: E731
    return {
        "_regions.yaml": REGIONS, "_classes.yaml": CLASSES,
        "eu.yaml": jurisdiction("F-EU", version, "applies_to: [DE]", w("r-eu")),
        "us.yaml": jurisdiction("F-US", version, "applies_to: [US]", w("r-us")),
        "ru.yaml": jurisdiction("F-RU", version, "applies_to: [RU]", w("r-ru")),
        "cn.yaml": jurisdiction("F-CN", version, "applies_to: [CN]",
                                w("r-us") if cn_allowed else "{ deny: true, reason: export_controlled }"),
        "default.yaml": jurisdiction("F-DEFAULT", version, "default: true",
                                     "{ deny: true, reason: location_unknown }"),
    }


# ---------------------------------------------------------------------------------------------
# namespaces


def reexec_in_netns():
    """Re-executes this file in a network namespace of its own (the core): lo up, VIP on it. False when
    namespaces cannot be made here (not root): the test is then skipped, saying so."""
    if os.environ.get(NETNS_ENV) == "1":
        return True
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return False
    os.environ[NETNS_ENV] = "1"
    script = "ip link set lo up && ip addr add %s/32 dev lo && exec \"$0\" \"$@\"" % VIP
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "-n", "sh", "-c", script, sys.executable, os.path.abspath(__file__)])
    return False


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise H.TestFailure("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


_made_ns = []


def delete_namespaces():
    """Every namespace this process made (and, first thing, those of earlier runs whose process is gone)."""
    while _made_ns:
        ip("netns", "del", _made_ns.pop(), check=False)


def sweep_stale():
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for n in names:
        m = re.match(r"^%s(\d+)-" % re.escape(NS_PREFIX), n)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # its test still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        ip("netns", "del", n, check=False)


def make_client_ns(name, client_addr, core_addr, prefix_len):
    ns = "%s%d-%s" % (NS_PREFIX, os.getpid(), name)
    ip("netns", "add", ns)
    _made_ns.append(ns)
    veth = "vf-" + name
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    ip("addr", "add", "%s/%d" % (core_addr, prefix_len), "dev", veth)
    ip("link", "set", veth, "up")
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "addr", "add", "%s/%d" % (client_addr, prefix_len), "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")
    ip("-n", ns, "route", "add", "default", "via", core_addr)
    return ns


def client_addresses(country):
    """(client, core side) addresses of a client's /24: from the geo fixture for a country, else private."""
    if country is None:
        return "10.77.0.2", "10.77.0.1"
    a = H.geo_addr(country, "" if country == "US" else None).split(".")
    return "%s.%s.%s.2" % tuple(a[:3]), "%s.%s.%s.1" % tuple(a[:3])


# ---------------------------------------------------------------------------------------------
# stores


def store_files(root, under=""):
    """{relative path: sha256} of every file below root/under, read from the store's own directory."""
    out = {}
    base = os.path.join(root, under)
    for dirpath, _, files in os.walk(base):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def make_folder(path, n, min_size, max_size, seed):
    """A folder of n files (some in a subfolder) of random sizes; returns {relative path: sha256}."""
    os.makedirs(os.path.join(path, "sub"), exist_ok=True)
    rnd = __import__("random").Random(seed)
    out = {}
    for i in range(n):
        rel = ("sub/" if i % 3 == 2 else "") + "file-%03d.bin" % i
        data = os.urandom(rnd.randint(min_size, max_size))
        with open(os.path.join(path, rel), "wb") as f:
            f.write(data)
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def haproxy_sessions(sock_path):
    """`show sess` over HAProxy's stats socket: [(client address, server)] of the sessions open now."""
    return re.findall(r"src=([0-9.]+):\d+ fe=\S+ be=\S+ srv=(\S+)", haproxy_command(sock_path, "show sess"))


def admin_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=5) as r:
        return json.loads(r.read().decode())


def read_jsonl(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------------------------


def body(t):
    if not reexec_in_netns():
        H.skip("network namespaces need root (unshare -n, ip netns add)")
    H.require_tools("rclone", "haproxy")
    sweep_stale()
    atexit.register(delete_namespaces)
    try:
        run_fleet(t)
    finally:
        try:
            H.stop_gateways(t)  # SIGTERM: each replica still running must drain and exit 0
            del H._gateways[:]  # checked once
        finally:
            H.cleanup(keep=bool(t.failures))  # the processes in the namespaces first, then the namespaces
        delete_namespaces()
        left = [n for n in os.listdir("/run/netns") if n.startswith("%s%d-" % (NS_PREFIX, os.getpid()))] \
            if os.path.isdir("/run/netns") else []
        t.eq(left, [], "every namespace the test made is deleted")


def run_fleet(t):
    d = H.tmpdir("domicile-fleet-")
    figures = {}

    # ---- rules: compiled once per set, like CI does
    built, hashes = {}, {}
    for v, cn_allowed in (("v1", False), ("v2", True)):
        src = H.write_files(os.path.join(d, "rules-" + v), rule_set("fleet-" + v, cn_allowed))
        built[v] = os.path.join(d, "built-%s.mdb" % v)
        H.run([H.BIN, "rules", "compile", src, "-o", built[v]], check=True)
        hashes[v] = json.loads(H.run([H.BIN, "rules", "show", built[v], "--json"], check=True).stdout)["source_hash"]
    t.ok(hashes["v1"] != hashes["v2"], "the two rule sets have different hashes")

    # ---- client namespaces
    ns, addr = {}, {}
    for name, country in CLIENTS.items():
        client, core = client_addresses(country)
        ns[name] = make_client_ns(name, client, core, 24)
        addr[name] = client
    for name in CLIENTS:
        r = H.run(["ip", "netns", "exec", ns[name], "ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        t.ok(addr[name] in r.stdout, "namespace %s has %s" % (name, addr[name]), r.stdout + r.stderr)

    # ---- stores: rclone serve webdav; r-eu has two nodes serving one directory
    stores, nodes, store_procs = {}, {}, {}
    for region, n_nodes in (("r-eu", 2), ("r-us", 1), ("r-ru", 1)):
        root = os.path.join(d, "store-" + region)
        # provisioned by the operator: the collections the load clients write into (PUT needs the parent)
        for c in ("load-de", "load-cn", "kill-load-us"):
            os.makedirs(os.path.join(root, "v1", "sync", c))
        stores[region] = root
        for i in range(n_nodes):
            port = H.free_port()
            # no directory cache: the two r-eu nodes share one directory, each must see what the other wrote
            p = H.spawn(["rclone", "serve", "webdav", root, "--addr", "127.0.0.1:%d" % port, "--dir-cache-time", "0s"],
                        log_prefix=os.path.join(d, "rclone-%s-%d" % (region, i)))
            store_procs.setdefault(region, []).append(p)
            nodes.setdefault(region, []).append("http://127.0.0.1:%d" % port)
    for region, urls in nodes.items():
        for u in urls:
            port = int(u.rsplit(":", 1)[1])
            H.wait_until(lambda: not H.port_refuses(port), 15, what="rclone serve webdav %s" % u)

    # ---- three replicas
    clusters = [{"name": "%s-dav" % r, "region": r, "nodes": urls,
                 "health": {"path": "/", "interval": "%dms" % CHECK_MS, "timeout": "150ms", "rise": 1, "fall": 1}}
                for r, urls in nodes.items()]
    replicas = []
    for i in (1, 2, 3):
        rd = os.path.join(d, "gw%d" % i)
        os.makedirs(rd)
        shutil.copy(built["v1"], os.path.join(rd, "rules.mdb"))
        admin = H.free_port()
        cfg = H.base_config(rd, os.path.join(rd, "rules.mdb"), {}, listeners=("proxy",), trusted=("127.0.0.1/32",),
                            clusters=clusters,
                            extra={"instance": "gw%d" % i, "admin": {"listen": "127.0.0.1:%d" % admin},
                                   "audit": {"path": os.path.join(rd, "audit.log")},
                                   "geo": {"database": H.GEO_DB, "reload_poll": "500ms"},
                                   "limits": {"max_body": "4m", "drain_timeout": "2s"}})
        cfg["threads"] = 1
        gw = H.Gateway(rd, cfg, name="gw%d" % i).start()
        replicas.append({"name": "gw%d" % i, "gw": gw, "admin": admin, "dir": rd,
                         "port": gw.listener("proxy")[1], "audit": os.path.join(rd, "audit.log")})

    # ---- HAProxy
    hcfg = os.path.join(d, "haproxy.cfg")
    servers = "".join("    server %s 127.0.0.1:%d send-proxy-v2 check port %d\n" % (r["name"], r["port"], r["admin"])
                      for r in replicas)
    with open(hcfg, "w") as f:
        f.write("""# written by tests/integration/test_fleet.py
global
    stats socket {d}/haproxy.sock mode 600 level admin
    maxconn 512

defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch

frontend fleet
    bind {vip}:80
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz HTTP/1.1
    http-check send hdr Host localhost
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall 2 rise 1
{servers}""".format(d=d, vip=VIP, inter=CHECK_MS, servers=servers))
    r = H.run(["haproxy", "-c", "-f", hcfg], timeout=20)
    t.require(r.returncode == 0, "haproxy -c accepts the config", r.stdout + r.stderr)
    hap = H.spawn(["haproxy", "-db", "-f", hcfg], log_prefix=os.path.join(d, "haproxy"))
    sock = os.path.join(d, "haproxy.sock")

    def hap_status():
        if hap.poll() is not None:
            raise H.TestFailure("haproxy exited with %s" % hap.returncode)
        try:
            rows = haproxy_stats(sock)
        except OSError:
            return {}
        return {r["name"]: rows.get(("replicas", r["name"]), {}).get("status") for r in replicas}

    H.wait_until(lambda: set(hap_status().values()) == {"UP"}, 15, what="HAProxy: three replicas UP")
    t.ok(True, "HAProxy has the three replicas UP (checks on each replica's /readyz)")

    env = dict(os.environ, RCLONE_CONFIG=os.path.join(d, "rclone.conf"), RCLONE_CONFIG_GW_TYPE="webdav",
               RCLONE_CONFIG_GW_URL="http://%s:80" % VIP, RCLONE_CONFIG_GW_VENDOR="other")
    rclone_flags = ["--contimeout", "3s", "--timeout", "20s", "--transfers", "4", "--checkers", "4"]

    def rclone(name, *args, retries=1, timeout=90):
        argv = ["ip", "netns", "exec", ns[name], "rclone"] + rclone_flags + \
            ["--retries", str(retries), "--low-level-retries", "10" if retries > 1 else "1"] + list(args)
        try:
            return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise H.TestFailure("rclone %s timed out in %s" % (" ".join(args), name))

    def everywhere(under):
        """{region: {path: sha}} of what every store holds below `under`."""
        return {region: store_files(root, under) for region, root in stores.items()}

    # ================= phase 1: a sync from every client
    synced = {}
    for name in CLIENTS:
        src = os.path.join(d, "src-" + name)
        files = make_folder(src, 12, 512, 256 * 1024, seed=name)
        dest = "gw:v1/sync/" + name
        r = rclone(name, "sync", src, dest)
        allowed = ALLOWED_V1[name]
        held = everywhere(os.path.join("v1", "sync", name))
        if allowed is not None:
            t.eq(r.returncode, 0, "sync from %s (%s) succeeds" % (name, addr[name]))
            if r.returncode != 0:
                t.note(r.stderr[-2000:])
            c = rclone(name, "check", src, dest, "--download")
            t.eq(c.returncode, 0, "rclone check --download from %s: every file matches" % name)
            if c.returncode != 0:
                t.note(c.stderr[-1500:])
            want = {os.path.join("v1", "sync", name, rel): sha for rel, sha in files.items()}
            t.eq(held[allowed], want, "%s: the %s store holds exactly the synced files, checksums equal" %
                 (name, allowed))
            outside = {reg: sorted(h) for reg, h in held.items() if reg != allowed and h}
            t.eq(outside, {}, "%s: no file of it in any other region's store" % name)
            synced[name] = len(held[allowed])
        else:
            t.ok(r.returncode != 0, "sync from %s (%s) is refused" % (name, addr[name]))
            t.ok("451" in r.stderr or "Unavailable For Legal Reasons" in r.stderr,
                 "%s: the client saw 451" % name, r.stderr[-1500:])
            t.eq({reg: sorted(h) for reg, h in held.items() if h}, {}, "%s: nothing stored in any store" % name)
            synced[name] = 0
    figures["files synced per client"] = synced

    # ================= phase 2: the fleet converged
    urls = ["http://127.0.0.1:%d" % r["admin"] for r in replicas]

    def fleet_status():
        return H.run([H.BIN, "fleet", "status"] + urls, timeout=30)

    fs = fleet_status()
    t.ok(fs.returncode == 0, "fleet status: three replicas, one rule set, one geo database: exit 0", fs.stderr)
    t.note("fleet status before the rollout:\n" + fs.stdout)
    for r in replicas:
        st = admin_status(r["admin"])
        t.ok(st.get("instance") == r["name"] and st["rules"]["source_hash"] == hashes["v1"] and
             len(st["geo"].get("sha256") or "") == 64 and st["config"]["generation"] == 1 and
             st["geo"]["loaded_at"] > 0 and st["rules"]["loaded_at"] > 0,
             "%s: /status names the instance, ruleset and geo hashes, config generation, load times" % r["name"],
             {k: st.get(k) for k in ("instance", "config", "geo")})

    # ================= phase 3: a rolling rules update under load
    def start_load(name, prefix, tag):
        out = os.path.join(d, "load-%s-%s.jsonl" % (tag, name))
        stop = os.path.join(d, "load-%s-%s.stop" % (tag, name))
        p = H.spawn(["ip", "netns", "exec", ns[name], sys.executable, os.path.join(HERE, "fleetload.py"),
                     "--host", VIP, "--port", "80", "--prefix", prefix, "--out", out, "--stop", stop,
                     "--threads", "2", "--max-seconds", "60"], log_prefix=os.path.join(d, "load-%s-%s" % (tag, name)))
        return {"proc": p, "out": out, "stop": stop, "name": name}

    def stop_load(ld):
        open(ld["stop"], "w").close()
        try:
            ld["proc"].wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise H.TestFailure("load client %s did not stop" % ld["name"])
        return read_jsonl(ld["out"])

    def wait_for_requests(ld, n):
        H.wait_until(lambda: len(read_jsonl(ld["out"])) >= n, 20, what="%d requests from %s" % (n, ld["name"]))

    loads = [start_load("de", "/v1/sync/load-de", "roll"), start_load("cn", "/v1/sync/load-cn", "roll")]
    for ld in loads:
        wait_for_requests(ld, 20)
    swaps_before = {r["name"]: admin_status(r["admin"])["rules"]["file_swaps"] for r in replicas}
    switched_at, divergence_seen, lag = {}, [], []
    t_first = time.time()
    for i, r in enumerate(replicas):
        target = os.path.join(r["dir"], "rules.mdb")
        shutil.copy(built["v2"], target + ".new")
        os.replace(target + ".new", target)
        t_del = time.time()
        H.wait_until(lambda: admin_status(r["admin"])["rules"]["source_hash"] == hashes["v2"], 10, interval=0.01,
                     what="%s takes the new rules" % r["name"])
        switched_at[r["name"]] = time.time()
        lag.append(switched_at[r["name"]] - t_del)
        if i < len(replicas) - 1:
            fs = fleet_status()
            divergence_seen.append((fs.returncode, "rule sets diverge" in fs.stderr))
            if i == 0:
                t.note("fleet status during the rollout (exit %d):\n%s%s" % (fs.returncode, fs.stdout, fs.stderr))
            # requests keep coming to the mixed fleet before the next replica gets the file
            n0 = sum(len(read_jsonl(ld["out"])) for ld in loads)
            H.wait_until(lambda: sum(len(read_jsonl(ld["out"])) for ld in loads) >= n0 + 60, 20,
                         what="load on the mixed fleet")
    converge_s = max(switched_at.values()) - t_first
    figures["rolling update: first delivery to last replica switched (s)"] = round(converge_s, 3)
    figures["rolling update: delivery to /status showing it, per replica (ms)"] = [round(x * 1000, 1) for x in lag]
    t.ok(all(rc == 1 and said for rc, said in divergence_seen) and len(divergence_seen) == 2,
         "fleet status shows the divergence during the rollout (exit 1, \"rule sets diverge\")", divergence_seen)
    fs = fleet_status()
    t.ok(fs.returncode == 0, "fleet status exits 0 once every replica runs the new rule set", fs.stderr)
    t.note("fleet status after the rollout:\n" + fs.stdout)
    for ld in loads:
        wait_for_requests(ld, len(read_jsonl(ld["out"])) + 20)
    results = {ld["name"]: stop_load(ld) for ld in loads}
    for r in replicas:
        st = admin_status(r["admin"])["rules"]
        t.eq(st["file_swaps"] - swaps_before[r["name"]], 1, "%s: took exactly one rules file (/status)" % r["name"])

    # audit lines: wait until every request the clients made is in some replica's audit log
    ids = {x["id"] for res in results.values() for x in res if x["status"] != 0}

    def audit_by_id():
        out = {}
        for r in replicas:
            for line in read_jsonl(r["audit"]):
                if "type" in line:
                    continue  # the chain's own lines (open, checkpoint): not requests
                line["_replica"] = r["name"]
                out.setdefault(line.get("request_id"), []).append(line)
        return out

    H.wait_until(lambda: ids <= set(audit_by_id()), 10, what="audit lines of every load request")
    audit = audit_by_id()
    all_lines = [x for xs in audit.values() for x in xs]
    bad_hash = [x for x in all_lines if x.get("rules_hash") not in (hashes["v1"], hashes["v2"])]
    t.eq(bad_hash, [], "every audit line (%d) was decided by the old or the new rule set" % len(all_lines))
    t.ok(all(x.get("instance") == x["_replica"] for x in all_lines), "each audit line names its replica")

    def decided_at(x):
        # the request's start plus the time to its decision: when the replica chose a rule set for it
        start = datetime.datetime.strptime(x["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        return start.timestamp() + (x.get("decision_us") or 0) / 1e6

    switch_counts = {}
    for r in replicas:
        lines = sorted((x for x in all_lines if x["_replica"] == r["name"]), key=decided_at)
        seq = [x["rules_hash"] for x in lines]
        switches = sum(1 for a, b in zip(seq, seq[1:]) if a != b)
        switch_counts[r["name"]] = switches
        t.ok(switches == 1 and seq[0] == hashes["v1"] and seq[-1] == hashes["v2"],
             "%s: its audit lines switch from the old to the new set exactly once (%d lines)" % (r["name"], len(seq)),
             [h[:8] for h in seq])

    outside, failed, unaudited, decided = [], [], [], {"v1": 0, "v2": 0}
    held = everywhere(os.path.join("v1", "sync"))
    where = {}
    for region, files in held.items():
        for path, sha in files.items():
            where.setdefault(path, []).append((region, sha))
    for name, res in results.items():
        for x in res:
            lines = audit.get(x["id"], [])
            if len(lines) != 1:
                unaudited.append((name, x["id"], x["status"], len(lines)))
                continue
            line = lines[0]
            v = "v1" if line["rules_hash"] == hashes["v1"] else "v2"
            decided[v] += 1
            allowed = (ALLOWED_V1 if v == "v1" else ALLOWED_V2)[name]
            stored = where.get(x["path"].lstrip("/"), [])
            if allowed is None:
                if x["status"] != 451 or stored:
                    outside.append((name, v, x["status"], stored))
            elif x["status"] not in (200, 201, 204):
                failed.append((name, x["status"], x["error"]))
            elif stored != [(allowed, x["sha256"])] or line.get("region") != allowed:
                outside.append((name, v, x["status"], stored, line.get("region")))
    n_load = sum(len(res) for res in results.values())
    t.eq(failed, [], "no write failed during the rolling update (%d requests)" % n_load)
    t.eq(unaudited, [], "every request has exactly one audit line")
    t.eq(outside, [], "0 writes outside the regions the deciding rule set allows; refusals stored nothing")
    t.ok(decided["v1"] > 0 and decided["v2"] > 0, "the load was decided by both sets: %s" % decided)
    figures["rolling update"] = {"requests": n_load, "decided by old/new": [decided["v1"], decided["v2"]],
                                 "switches per replica": switch_counts, "outside allowed": len(outside)}

    # ================= phase 4: a replica killed mid-sync
    src = os.path.join(d, "src-kill")
    files = make_folder(src, 30, 64 * 1024, 768 * 1024, seed="kill")
    load = start_load("us", "/v1/sync/kill-load-us", "kill")
    wait_for_requests(load, 10)
    sync = H.spawn(["ip", "netns", "exec", ns["de"], "rclone"] + rclone_flags +
                   ["-vv", "--retries", "3", "--low-level-retries", "10", "--bwlimit", "6M", "sync", src,
                    "gw:v1/sync/de-kill"], log_prefix=os.path.join(d, "rclone-kill"), env=env)
    kill_dir = os.path.join(stores["r-eu"], "v1", "sync", "de-kill")
    H.wait_until(lambda: len(store_files(kill_dir)) >= 4 or sync.poll() is not None, 30,
                 what="the sync under way")
    t.ok(sync.poll() is None, "the sync is still running when the replica is killed")
    # the victim: a replica carrying the sync's connections now (HAProxy's own view of its sessions)
    carrying = [srv for src, srv in haproxy_sessions(sock) if src == addr["de"]]
    t.note("the sync's connections through HAProxy: %s" % carrying)
    t.require(carrying, "HAProxy shows the sync's connections", carrying)
    victim = next(r for r in replicas if r["name"] == max(set(carrying), key=carrying.count))
    figures["killed replica"] = "%s (carrying %d of the sync's %d connections)" % (
        victim["name"], carrying.count(victim["name"]), len(carrying))
    k0 = time.time()
    victim["gw"].proc.send_signal(signal.SIGKILL)
    victim["gw"].proc.wait(timeout=10)
    k1 = time.time()
    H.wait_until(lambda: hap_status().get(victim["name"]) == "DOWN", 10, interval=0.02,
                 what="HAProxy takes %s out" % victim["name"])
    figures["HAProxy took the killed replica out after (s)"] = round(time.time() - k0, 3)
    t.ok(True, "HAProxy marks the killed replica DOWN (its /readyz no longer answers)")
    try:
        rc = sync.wait(timeout=90)
    except subprocess.TimeoutExpired:
        raise H.TestFailure("the sync did not finish after the kill")
    err = open(os.path.join(d, "rclone-kill.err"), errors="replace").read()
    t.eq(rc, 0, "the sync completes (rclone retried what the killed replica was carrying)")
    if rc != 0:
        t.note(err[-2000:])
    retried = len(re.findall(r"low level retry", err))
    attempts = re.findall(r"Attempt (\d+)/\d+ (?:failed|succeeded)", err)
    t.ok(retried > 0 or len(attempts) > 1, "rclone retried requests the killed replica was carrying "
         "(%d low-level retries, %d sync attempts)" % (retried, len(attempts)))
    c = rclone("de", "check", src, "gw:v1/sync/de-kill", "--download")
    t.eq(c.returncode, 0, "rclone check --download after the kill: every file matches")
    held = everywhere(os.path.join("v1", "sync", "de-kill"))
    want = {os.path.join("v1", "sync", "de-kill", rel): sha for rel, sha in files.items()}
    t.eq(held["r-eu"], want, "the store holds exactly the source files with their checksums: nothing partial")
    t.eq({k: v for k, v in held.items() if k != "r-eu" and v}, {}, "and nothing of it anywhere else")
    wait_for_requests(load, len(read_jsonl(load["out"])) + 10)
    res = stop_load(load)
    fails = [x for x in res if x["status"] not in (200, 201, 204)]
    not_in_flight = [x for x in fails if not (x["t0"] <= k1 + 0.05 and x["t1"] >= k0 - 0.05)]
    t.eq(not_in_flight, [], "the only failed requests were in flight at the kill (%d failed of %d)" %
         (len(fails), len(res)))
    us_store = store_files(stores["r-us"], os.path.join("v1", "sync", "kill-load-us"))
    lost = [x["id"] for x in res if x["status"] in (200, 201, 204) and
            us_store.get(x["path"].lstrip("/")) != x["sha256"]]
    t.eq(lost, [], "every acknowledged write is stored with its checksum (none acknowledged and lost)")
    figures["replica kill"] = {"requests": len(res), "failed (in flight on the killed replica)": len(fails),
                               "acknowledged and lost": len(lost), "rclone low-level retries": retried,
                               "rclone sync attempts": len(attempts)}
    t.note("rclone's retries:\n" + "\n".join([x for x in err.splitlines() if "retry" in x][:6]))

    # ================= phase 5: one region's store stopped
    for p in store_procs["r-ru"]:
        H._kill_group(p, signal.SIGTERM)
        p.wait(timeout=10)
    for r in (x for x in replicas if x is not victim):
        H.wait_until(lambda: {x["name"]: x["up"] for x in admin_status(r["admin"])["regions"]}.get("r-ru") is False,
                     10, what="%s sees r-ru down" % r["name"])
    outcome = {}
    for name in ("de", "us", "ru"):
        src = os.path.join(d, "src-down-" + name)
        files = make_folder(src, 6, 512, 64 * 1024, seed="down-" + name)
        r = rclone(name, "sync", src, "gw:v1/sync/%s-down" % name)
        held = everywhere(os.path.join("v1", "sync", "%s-down" % name))
        if name == "ru":
            t.ok(r.returncode != 0 and "503" in r.stderr, "ru: its region's store is down: the sync fails with 503",
                 r.stderr[-1500:])
            t.eq({k: v for k, v in held.items() if v}, {}, "ru: nothing stored anywhere else")
        else:
            allowed = ALLOWED_V2[name]
            t.eq(r.returncode, 0, "%s: syncs succeed with r-ru down" % name)
            t.eq(held[allowed], {os.path.join("v1", "sync", "%s-down" % name, k): v for k, v in files.items()},
                 "%s: stored in %s" % (name, allowed))
        outcome[name] = r.returncode
    figures["r-ru down: sync exit codes"] = outcome
    for k, v in figures.items():
        t.note("FIGURE fleet: %s = %s" % (k, json.dumps(v, sort_keys=True)))


if __name__ == "__main__":
    H.run_test("fleet", body, timeout=200)
