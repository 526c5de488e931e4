"""SIGHUP re-reads the config file and applies what can change safely (docs/operations.md).

Start with pin key file K1 (kid k1): a k1 pin routes. Rewrite the config: key file K2 (kid k2),
trusted_proxies now include loopback, an override makes 198.51.100.7 DE, threads changed (needs a
restart); SIGHUP; once domicile_config_reloads_total moved: a k2 pin routes, a k1 pin is 401
pin_unknown_key, the override applies, the log names `threads` as needing a restart. Then a config
with a YAML error: the previous state stays (k2 still routes), stderr has file:line:col, and
domicile_config_reload_failures_total counts it. Last, SIGHUPs that swap key files during an h2load
run: zero failed requests.
"""
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

OVERRIDDEN = "198.51.100.7"  # TEST-NET-2: unknown location unless an override names it
UNKNOWN = "198.51.100.99"


def admin_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, name):
    text = admin_get(port, "/metrics")[1]
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return int(float(m.group(1))) if m else None


def requests_total(port):
    text = admin_get(port, "/metrics")[1]
    return sum(float(v) for v in re.findall(r"^domicile_requests_total\{[^}]*\} (\S+)$", text, re.M))


def write_config(gw, cfg):
    tmp = gw.cfg_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# written by tests/integration/test_ops_sighup.py\n" + H.to_yaml(cfg) + "\n")
    os.replace(tmp, gw.cfg_path)


def write_raw(gw, text):
    tmp = gw.cfg_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, gw.cfg_path)


def sighup_and_wait(gw, admin_port, counter):
    before = metric(admin_port, counter)
    gw.signal(signal.SIGHUP)
    H.wait_until(lambda: metric(admin_port, counter) == before + 1, 15, what="%s to move" % counter)


def account(port, xff, pin=None):
    headers = {"x-forwarded-for": xff}
    if pin is not None:
        headers["domicile-pin"] = pin
    return H.curl(port, "/v1/account/" + H.uid(), method="PUT", headers=headers, body=b"{}", proto="h2c")


def body(t):
    H.require_tools("curl", "h2load")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    for sub in ("k1", "k2"):
        os.makedirs(os.path.join(d, sub))
    k1 = H.write_pin_keys(os.path.join(d, "k1"), {"k1": os.urandom(32)})
    k2 = H.write_pin_keys(os.path.join(d, "k2"), {"k2": os.urandom(32)})
    admin_port = H.free_port()
    cfg = H.base_config(d, rules, backends, listeners=("clear",), trusted=("::1/128",), pin_keys=k1,
                        clusters=H.small_clusters(backends),
                        extra={"admin": {"listen": "127.0.0.1:%d" % admin_port}})
    gw = H.Gateway(d, cfg).start()
    _, port = gw.listener("clear")
    H.wait_until(lambda: admin_get(admin_port, "/healthz")[0] == 200, 10, what="admin listener")
    t.eq(metric(admin_port, "domicile_config_reload_failures_total"), 0, "failure counter starts at 0")

    pin_k1 = H.mint_pin(k1, "k1", "T-EU")
    pin_k2 = H.mint_pin(k2, "k2", "T-EU")
    r = account(port, UNKNOWN, pin_k1)
    t.eq((r.status, r.header("domicile-region")), (200, "r-alpha"), "before: a k1 pin routes to T-EU's region")
    r = account(port, UNKNOWN, pin_k2)
    t.eq((r.status, r.json().get("reason")), (401, "pin_unknown_key"), "before: a k2 pin is an unknown key")
    r = account(port, OVERRIDDEN)
    t.eq((r.status, r.json().get("reason")), (451, "unknown_location"),
         "before: 198.51.100.7 is an unknown location (no override, loopback not a trusted proxy)")

    # ---- a good new config ----
    new = dict(cfg)
    new["pins"] = {"header": "domicile-pin", "keys": k2}
    new["trusted_proxies"] = ["127.0.0.0/8", "::1/128"]
    new["overrides"] = [{"cidr": OVERRIDDEN + "/32", "country": "DE"}]
    new["threads"] = 3
    write_config(gw, new)
    sighup_and_wait(gw, admin_port, "domicile_config_reloads_total")
    r = account(port, UNKNOWN, pin_k2)
    t.eq((r.status, r.header("domicile-region")), (200, "r-alpha"), "after: a k2 pin routes")
    r = account(port, UNKNOWN, pin_k1)
    t.eq((r.status, r.json().get("reason")), (401, "pin_unknown_key"), "after: a k1 pin is 401 pin_unknown_key")
    r = account(port, OVERRIDDEN)
    t.eq((r.status, r.header("domicile-region")), (200, "r-alpha"),
         "after: trusted_proxies and the override apply (198.51.100.7 -> DE -> T-EU)")
    err = gw.stderr()
    t.ok(re.search(r"needs a restart \(not applied\): .*threads", err), "threads change logged as needing a restart",
         err[-2000:])

    # ---- a broken config: everything stays ----
    good_text = open(gw.cfg_path).read()
    write_raw(gw, good_text + "limits: [max_body: 1m\n")
    sighup_and_wait(gw, admin_port, "domicile_config_reload_failures_total")
    t.eq(metric(admin_port, "domicile_config_reload_failures_total"), 1, "the failure is counted")
    r = account(port, UNKNOWN, pin_k2)
    t.eq((r.status, r.header("domicile-region")), (200, "r-alpha"), "broken config: the k2 pin still routes")
    r = account(port, OVERRIDDEN)
    t.eq(r.status, 200, "broken config: the override still applies")
    err = gw.stderr()
    t.ok(re.search(re.escape(gw.cfg_path) + r":\d+:\d+: ", err), "the YAML error is logged as file:line:col",
         err[-2000:])
    t.ok("keeping the running configuration" in err, "the log says the running configuration is kept")

    # ---- SIGHUPs under load: key files swapped back and forth, nothing fails ----
    write_config(gw, new)
    alt = dict(new)
    alt["pins"] = {"header": "domicile-pin", "keys": k1}
    url = "http://127.0.0.1:%d/v1/account/load" % port
    runs = []
    finished = threading.Event()

    def load():
        while True:
            runs.append(H.h2load(url, 2000, c=8, m=4, headers={"x-forwarded-for": OVERRIDDEN}, timeout=120))
            if finished.is_set():
                return

    th = threading.Thread(target=load)
    th.start()
    hups = during = 0
    for i in range(6):
        # each SIGHUP lands while requests are flowing
        seen = requests_total(admin_port)
        H.wait_until(lambda: requests_total(admin_port) > seen + 20 or not th.is_alive(), 30, what="load flowing")
        write_config(gw, alt if i % 2 == 0 else new)
        sighup_and_wait(gw, admin_port, "domicile_config_reloads_total")
        hups += 1
        during += th.is_alive()
    finished.set()
    th.join()
    total = sum(x["total"] for x in runs)
    failed = sum(x["failed"] + x["errored"] + x["timeout"] for x in runs)
    ok2xx = sum(x.get("2xx", 0) for x in runs)
    t.note("h2load: %d requests in %d runs; %d SIGHUP reloads, %d during the load" % (total, len(runs), hups, during))
    t.ok(during >= 5, "the reloads happened under load")
    t.eq(failed, 0, "no failed requests across SIGHUP reloads")
    t.eq(ok2xx, total, "every request under load routed (2xx)")
    r = account(port, UNKNOWN, pin_k2)
    t.eq(r.status, 200, "the last config (k2) is in force")


if __name__ == "__main__":
    H.run_test("ops_sighup", body, timeout=60)
