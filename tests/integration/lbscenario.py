"""Debian's HAProxy in front of two domicile replicas, as a fleet runs (test_ops_haproxy_v1/_v2).

HAProxy listens in `mode tcp` and sends the PROXY header (`send-proxy-v2` or `send-proxy`) to each
replica's proxy_protocol listener; its health checks ask each replica's admin `/readyz` (a check
port). A second backend checks the same listeners with the PROXY header on the check itself
(`check-send-proxy`: LOCAL in v2), as a load balancer without a check port does.

Clients connect to HAProxy from distinct loopback addresses that the gateway's `overrides:` map to
countries (127.0.0.2 DE, 127.0.0.3 CN; 127.0.0.4 has none: unknown location). Only HAProxy
(127.0.0.1) is a trusted proxy, so the address the gateway decides on can only come from the
PROXY header: the one HAProxy saw.

Then one region's storage (r-gamma, CN's account writes) is stopped: every other region's writes
keep succeeding (0 failures), r-gamma's get 503 region_unavailable with Retry-After, /readyz stays
200 on both replicas while /readyz?region=r-gamma is 503, and HAProxy keeps both replicas UP with
no failed check (its stats socket)."""
import json
import os
import signal
import socket
import time

import harness as H
import proxyhdr as P

CLIENTS = {  # source address -> (country, expected region, path prefix, jurisdiction)
    "127.0.0.2": ("DE", "r-alpha", "/v1/account/lb-de-", "T-EU"),
    "127.0.0.3": ("CN", "r-gamma", "/v1/account/lb-cn-", "T-CN"),
    "127.0.0.4": (None, "r-beta", "/v1/sync/lb-unknown-", "T-DEFAULT"),
}
STOPPED = "r-gamma"
CHECK_MS = 200
HOLD_S = 2.5  # writes with the region down, at least 10 HAProxy check intervals (fall 2 would take 0.4 s)


def haproxy_command(sock_path, command):
    """One command over HAProxy's stats socket (it answers, then closes): the answer as text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(command.encode() + b"\n")
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    return out.decode(errors="replace")


def haproxy_stats(sock_path):
    """`show stat` over the stats socket: {(backend, server): row dict}."""
    lines = haproxy_command(sock_path, "show stat").splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    keys = lines[0][2:].split(",")
    rows = {}
    for ln in lines[1:]:
        if ln:
            row = dict(zip(keys, ln.split(",")))
            rows[(row["pxname"], row["svname"])] = row
    return rows


def haproxy_config(d, front_port, replicas, send, tls):
    servers = "".join("    server gw%d 127.0.0.1:%d %s check port %d\n" % (i + 1, port, send, admin)
                      for i, (port, admin) in enumerate(replicas))
    # over TLS listeners the check speaks TLS too, after the PROXY header
    ssl = " check-ssl verify none" if tls else ""
    local = "".join("    server gw%d 127.0.0.1:%d %s check check-send-proxy%s\n" % (i + 1, port, send, ssl)
                    for i, (port, _) in enumerate(replicas))
    return """# written by tests/integration/lbscenario.py
global
    stats socket {d}/haproxy.sock mode 600 level admin
    maxconn 256

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s

frontend fe
    bind 127.0.0.1:{front}
    default_backend be

# the fleet: health from each replica's /readyz on its admin port
backend be
    balance roundrobin
    option httpchk GET /readyz HTTP/1.1
    http-check send hdr Host localhost
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall 2 rise 1
{servers}
# the same listeners, checked with the PROXY header on the check itself (LOCAL in v2): any HTTP
# answer means the gateway took the header and handed the connection to h2o
backend be_checkproxy
    option httpchk GET /v1/lb-check HTTP/1.1
    http-check send hdr Host localhost
    http-check expect rstatus ^[1-5][0-9][0-9]$
    default-server inter {inter}ms fall 2 rise 1
{local}""".format(d=d, front=front_port, inter=CHECK_MS, servers=servers, local=local)


def run(t, send, tls):
    H.require_tools("curl", "haproxy")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    clusters = [{"name": "%s-c" % r, "region": r, "nodes": [b.url for b in bs],
                 "health": {"path": "/__health", "interval": "%dms" % CHECK_MS, "timeout": "150ms", "rise": 1,
                            "fall": 1}}
                for r, bs in backends.items()]
    cert, key = H.tls_cert()
    overrides = [{"cidr": src + "/32", "country": c} for src, (c, _, _, _) in CLIENTS.items() if c]
    gateways, replicas = [], []
    for i in range(2):
        admin = H.free_port()
        cfg = H.base_config(d, rules, backends, listeners=(), trusted=("127.0.0.1/32",), clusters=clusters,
                            extra={"admin": {"listen": "127.0.0.1:%d" % admin}, "overrides": overrides})
        cfg["threads"] = 1
        listener = {"address": "127.0.0.1:%d" % H.free_port(), "proxy_protocol": True}
        if tls:
            listener["tls"] = {"certificate": cert, "key": key}
        cfg["listen"] = [listener]
        gw = H.Gateway(d, cfg, name="gw%d" % (i + 1)).start()
        gateways.append((gw, admin))
        replicas.append((int(listener["address"].rsplit(":", 1)[1]), admin))

    front = H.free_port()
    hcfg = os.path.join(d, "haproxy.cfg")
    with open(hcfg, "w") as f:
        f.write(haproxy_config(d, front, replicas, send, tls))
    r = H.run(["haproxy", "-c", "-f", hcfg], timeout=20)
    t.require(r.returncode == 0, "haproxy -c accepts the config", r.stdout + r.stderr)
    hap = H.spawn(["haproxy", "-db", "-f", hcfg], log_prefix=os.path.join(d, "haproxy"))
    stats_sock = os.path.join(d, "haproxy.sock")

    def servers_up(backend):
        try:
            rows = haproxy_stats(stats_sock)
        except OSError:
            return False
        return all(rows.get((backend, "gw%d" % (i + 1)), {}).get("status") == "UP" for i in range(2))

    def all_up():
        if hap.poll() is not None:
            raise H.TestFailure("haproxy exited with %s" % hap.returncode)
        return servers_up("be") and servers_up("be_checkproxy")

    H.wait_until(all_up, 15, what="haproxy: both replicas UP in be and be_checkproxy")
    t.ok(True, "%s: HAProxy has both replicas UP (checks on /readyz, and checks with the PROXY header)" % send)

    proto = "h2" if tls else "h2c"

    def write(src):
        _, region, prefix, _ = CLIENTS[src]
        path = prefix + H.uid()
        body = os.urandom(16)
        return path, H.curl(front, path, "PUT", body=body, proto=proto, interface=src, timeout=10)

    def check_routed(label, src, path, r):
        _, region, _, jur = CLIENTS[src]
        recs = [x for x in H.all_records(backends) if x["path"] == path]
        good = (r.status == 200 and len(recs) == 1 and recs[0]["region"] == region and
                recs[0]["headers"].get("x-forwarded-for") == src and
                recs[0]["headers"].get("x-domicile-jurisdiction") == jur)
        return t.ok(good, "%s: %s write from %s decided on HAProxy's client address, stored in %s" %
                    (label, jur, src, region), (r.status, r.error, recs[:1]))

    # phase A: every region up
    for src in CLIENTS:
        path, r = write(src)
        check_routed("%s, all up" % send, src, path, r)

    # phase B: r-gamma's storage stops
    for b in backends[STOPPED]:
        H._kill_group(b.proc, signal.SIGTERM)
        b.proc.wait(timeout=10)
    for gw, admin in gateways:
        H.wait_until(lambda: P.admin_get(admin, "/readyz?region=" + STOPPED)[0] == 503, 10,
                     what="%s: the gateway sees %s down" % (gw.name, STOPPED))
        st, body = P.admin_get(admin, "/readyz")
        t.eq(st, 200, "%s: /readyz 200 with %s down (this replica can decide)" % (gw.name, STOPPED))
        t.eq(P.admin_get(admin, "/readyz?region=r-alpha")[0], 200, "%s: /readyz?region=r-alpha 200" % gw.name)
        t.eq(P.admin_get(admin, "/readyz?region=no-such-region")[0], 404, "%s: unknown region: 404" % gw.name)
        t.eq(P.admin_get(admin, "/readyz?region=bad/name")[0], 400, "%s: malformed region: 400" % gw.name)
        t.eq(P.admin_get(admin, "/readyz?verbose=1")[0], 400, "%s: other parameters: 400" % gw.name)
        status = json.loads(P.admin_get(admin, "/status")[1])
        regions = {x["name"]: x["up"] for x in status.get("regions", [])}
        t.eq(regions, {"r-alpha": True, "r-beta": True, "r-gamma": False}, "%s: /status regions" % gw.name)
        t.eq(status.get("ready"), True, "%s: /status ready" % gw.name)
        m = P.admin_get(admin, "/metrics")[1]
        t.eq(P.sample(m, "domicile_region_up", region=STOPPED), 0.0, "%s: domicile_region_up{%s} 0" % (gw.name,
                                                                                                     STOPPED))
        t.eq(P.sample(m, "domicile_ready"), 1.0, "%s: domicile_ready 1" % gw.name)

    others_ok = others_failed = stopped_503 = stopped_other = 0
    not_up = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < HOLD_S or others_ok < 20:
        for src in CLIENTS:
            path, r = write(src)
            if CLIENTS[src][1] == STOPPED:
                ok = (r.status == 503 and r.header("retry-after") is not None and
                      r.json() is not None and r.json().get("reason") == "region_unavailable")
                stopped_503 += ok
                stopped_other += not ok
                if not ok:
                    t.ok(False, "stopped region's write: 503 region_unavailable with Retry-After", (r.status,
                                                                                                 r.body[:200]))
            elif check_routed("%s, %s down" % (send, STOPPED), src, path, r):
                others_ok += 1
            else:
                others_failed += 1
        rows = haproxy_stats(stats_sock)
        for i in range(2):
            row = rows.get(("be", "gw%d" % (i + 1)), {})
            if row.get("status") != "UP":
                not_up.append((i + 1, row.get("status"), row.get("check_status")))
        if time.monotonic() - t0 > 20:
            break
    t.eq(others_failed, 0, "%s: 0 failed writes for the other regions with %s down (%d succeeded)" %
         (send, STOPPED, others_ok))
    t.ok(stopped_503 > 0 and stopped_other == 0, "%s: every %s write got 503 with Retry-After (%d)" %
         (send, STOPPED, stopped_503), stopped_other)
    t.eq(not_up, [], "%s: both replicas stayed UP in HAProxy's pool for %.1fs of %s being down" %
         (send, time.monotonic() - t0, STOPPED))
    rows = haproxy_stats(stats_sock)
    for i in range(2):
        row = rows.get(("be", "gw%d" % (i + 1)), {})
        t.eq((row.get("status"), row.get("chkfail")), ("UP", "0"),
             "%s: HAProxy gw%d UP with no failed check (show stat)" % (send, i + 1))
        row = rows.get(("be_checkproxy", "gw%d" % (i + 1)), {})
        t.eq(row.get("status"), "UP", "%s: checks carrying the PROXY header pass on gw%d" % (send, i + 1))
    recs = H.all_records(backends, "/v1/")
    outside = [x for x in recs if x["path"].startswith("/v1/account/lb-de-") and x["region"] != "r-alpha"]
    t.eq(outside, [], "no DE account write outside r-alpha")

    version = "2" if send.endswith("v2") else "1"
    figures = []
    for gw, admin in gateways:
        m = P.admin_get(admin, "/metrics")[1]
        proxied = P.sample(m, "domicile_proxy_protocol_headers_total", version=version, command="proxy") or 0
        local = P.sample(m, "domicile_proxy_protocol_headers_total", version=version, command="local") or 0
        reasons = {x: P.sample(m, "domicile_proxy_protocol_refused_total", reason=x) or 0
                   for x in ("no_header", "malformed", "too_long", "unsupported", "bad_tlv", "untrusted",
                             "truncated", "timeout")}
        refused = sum(v for k, v in reasons.items() if k not in ("truncated", "timeout"))
        t.note("%s: refusals by reason %s" % (gw.name, {k: v for k, v in reasons.items() if v}))
        t.ok(proxied > 0, "%s: %s took client connections through HAProxy (v%s PROXY headers: %d)" %
             (send, gw.name, version, proxied))
        if version == "2":
            t.ok(local > 0, "%s: %s got HAProxy's checks as v2 LOCAL (%d)" % (send, gw.name, local))
        t.eq(refused, 0, "%s: %s refused no header from HAProxy" % (send, gw.name))
        figures.append("%s proxy=%d local=%d" % (gw.name, proxied, local))
    t.note("FIGURE haproxy.%s = other regions %d ok / %d failed, %s 503 x%d, replicas not UP %d times; %s" %
           (send, others_ok, others_failed, STOPPED, stopped_503, len(not_up), "; ".join(figures)))
