#!/usr/bin/env python3
"""Secret files other users could replace (issue 16, operator surface).

Before: a pin key file of mode 0666 — anyone on the machine may read or replace the HMAC keys, and
so mint pins — was accepted silently. Now, for pins.keys, audit.hash_key_file and admin.token_file:

- at start (`serve` and `serve --check`): a file the group or every user can write (0666, 0660) is
  refused, exit 1, with a message naming the file and the mode ("pin keys FILE: mode 0666 lets other
  users replace it; chmod 600 FILE ..."), and nothing listens; 0644 starts with a warning; 0640 and
  0600 start silently;
- at SIGHUP: a key file replaced and made writable by others (0666) is refused — the reload fails
  and is counted in domicile_config_reload_failures_total, the running keys stay (pins of the old
  key still route, of the new key are unknown, the old admin token still works); once it is 0644
  the reload goes through with a warning, and the new keys are used.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

UNKNOWN = "198.51.100.99"  # TEST-NET-2: an unknown location; a T-EU pin routes it to r-alpha


def write_secret(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def admin(port, path, token):
    r = H.http1_raw("127.0.0.1", port, ("GET %s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
                                        "Connection: close\r\n\r\n" % (path, token)).encode())
    return r.status, r.body.decode()


def counter(port, token, name):
    status, text = admin(port, "/metrics", token)
    return X.metric(text, name) if status == 200 else None


def account(port, pin):
    return H.curl(port, "/v1/account/" + H.uid(), "PUT", {"x-forwarded-for": UNKNOWN, "domicile-pin": pin}, b"{}",
                  proto="h2c")


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    os.makedirs(os.path.join(d, "k1"))
    pin_keys = H.write_pin_keys(os.path.join(d, "k1"), {"k1": os.urandom(32)})
    pin_k1 = H.mint_pin(pin_keys, "k1", "T-EU")
    hash_key = write_secret(os.path.join(d, "audit-hash-key"), os.urandom(32).hex() + "\n")
    token = os.urandom(24).hex()
    token_file = write_secret(os.path.join(d, "admin-token"), token + "\n")
    secrets = [("pin keys", pin_keys), ("audit.hash_key_file", hash_key), ("admin.token_file", token_file)]
    admin_port = H.free_port()
    cfg = H.base_config(d, rules, backends, listeners=("clear",), pin_keys=pin_keys,
                        clusters=H.small_clusters(backends),
                        extra={"admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": token_file},
                               "audit": {"path": os.path.join(d, "audit.log"), "client_address": "hash",
                                         "hash_key_file": hash_key}})
    gw = H.Gateway(d, cfg)
    port = gw.listener("clear")[1]

    def set_modes(mode, only=None):
        for _, path in secrets:
            os.chmod(path, mode if only in (None, path) else 0o600)

    # ---- at start: writable by others is refused, naming the file and the mode ----
    for what, path in secrets:
        for mode in (0o666, 0o660):
            set_modes(mode, only=path)
            for argv in (["serve", "--check", "-c", gw.cfg_path], ["serve", "-c", gw.cfg_path]):
                r = H.run([H.BIN] + argv, timeout=20)
                want = "%s %s: mode %04o lets %s replace it; chmod 600 %s" % (
                    what, path, mode, "other users" if mode & 0o002 else "its group", path)
                t.ok(r.returncode == 1 and want in r.stderr, "%s of mode %04o: `%s` refuses it (exit 1) naming the "
                     "file and the mode" % (what, mode, " ".join(argv[:2])), r.stderr[-1500:])
            t.ok(H.port_refuses(port) and H.port_refuses(admin_port),
                 "%s of mode %04o: nothing listens" % (what, mode))
            if mode == 0o666:
                line = next((x for x in r.stderr.splitlines() if "mode 0666" in x), "")
                t.note("FIGURE keyfile.start_%s_0666 = exit %d: %s" % (what.replace(" ", "_"), r.returncode, line))
    set_modes(0o600)

    # ---- readable by every user: starts, with one warning per file ----
    set_modes(0o644)
    gw.start()
    err = gw.stderr()
    for what, path in secrets:
        t.ok(("warning: %s %s: mode 0644 lets every user read it; chmod 600 %s" % (what, path, path)) in err,
             "%s of mode 0644: accepted with a warning" % what, err[-2000:])
    t.eq(account(port, pin_k1).status, 200, "mode 0644: the pin keys are in use")
    t.eq(admin(admin_port, "/readyz", token)[0], 200, "mode 0644: the admin token is in use")
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "mode 0644 gateway stops")

    # ---- 0640 and 0600: silently ----
    for mode in (0o640, 0o600):
        set_modes(mode)
        r = H.run([H.BIN, "serve", "--check", "-c", gw.cfg_path], timeout=20)
        t.ok(r.returncode == 0 and " mode 0" not in r.stderr, "mode %04o: --check passes without a word on the "
             "secret files" % mode, r.stderr)
    os.unlink(gw.log_prefix + ".err")
    gw.start()
    t.ok(" mode 0" not in gw.stderr(), "mode 0600: serve starts silently", gw.stderr())

    # ---- SIGHUP: a replaced pin key file others can write is refused, the running keys stay ----
    t.eq((account(port, pin_k1).status), 200, "before: a k1 pin routes")
    failures = counter(admin_port, token, "domicile_config_reload_failures_total")
    reloads = counter(admin_port, token, "domicile_config_reloads_total")

    def sighup(name, want):
        gw.signal(signal.SIGHUP)
        H.wait_until(lambda: counter(admin_port, token, name) == want, 15, what="%s = %s" % (name, want))

    k2_secret = os.urandom(32)
    write_secret(pin_keys, "k2 %s\n" % k2_secret.hex(), mode=0o666)
    pin_k2 = H.forge_pin(k2_secret, "k2", "T-EU", 2000000000)
    failures += 1
    sighup("domicile_config_reload_failures_total", failures)
    t.eq(counter(admin_port, token, "domicile_config_reloads_total"), reloads, "0666 pin keys at SIGHUP: not reloaded")
    r = account(port, pin_k1)
    t.eq((r.status, r.header("domicile-region")), (200, "r-alpha"), "0666 pin keys at SIGHUP: the running k1 still routes")
    r = account(port, pin_k2)
    t.eq((r.status, r.json().get("reason")), (401, "pin_unknown_key"),
         "0666 pin keys at SIGHUP: the attacker's k2 pin is an unknown key")
    err = gw.stderr()
    t.ok(("pin keys %s: mode 0666 lets other users replace it" % pin_keys) in err
         and "keeping the running configuration" in err, "the refusal is logged with the file and the mode",
         err[-2000:])
    t.note("FIGURE keyfile.sighup_0666 = reload refused (failures %d), k1 pin %d, k2 pin %d" %
           (failures, account(port, pin_k1).status, account(port, pin_k2).status))

    # made 0644 (the operator's own new keys after all): reloaded with a warning
    os.chmod(pin_keys, 0o644)
    reloads += 1
    sighup("domicile_config_reloads_total", reloads)
    t.eq(account(port, pin_k2).status, 200, "0644 pin keys at SIGHUP: reloaded, the k2 pin routes")
    t.eq(account(port, pin_k1).json().get("reason"), "pin_unknown_key", "0644 pin keys at SIGHUP: k1 is gone")
    t.ok(gw.stderr().count("warning: pin keys %s: mode 0644" % pin_keys) >= 1, "0644 at SIGHUP: warned")
    os.chmod(pin_keys, 0o600)

    # the audit hash key and the admin token: the same
    os.chmod(hash_key, 0o666)
    failures += 1
    sighup("domicile_config_reload_failures_total", failures)
    t.ok(("audit.hash_key_file %s: mode 0666 lets other users replace it" % hash_key) in gw.stderr(),
         "0666 audit hash key at SIGHUP: the reload is refused and logged")
    os.chmod(hash_key, 0o600)
    token2 = os.urandom(24).hex()
    write_secret(token_file, token2 + "\n", mode=0o666)
    failures += 1
    sighup("domicile_config_reload_failures_total", failures)
    t.eq(admin(admin_port, "/status", token2)[0], 401, "0666 admin token at SIGHUP: the new token is not taken")
    t.eq(admin(admin_port, "/status", token)[0], 200, "0666 admin token at SIGHUP: the running token stays")
    t.ok(("admin.token_file %s: mode 0666 lets other users replace it" % token_file) in gw.stderr(),
         "0666 admin token at SIGHUP: logged")
    os.chmod(token_file, 0o600)
    gw.signal(signal.SIGHUP)
    H.wait_until(lambda: admin(admin_port, "/status", token2)[0] == 200, 15, what="the new token after chmod 600")
    t.eq(admin(admin_port, "/status", token)[0], 401, "admin token back to 0600: reloaded, the old token is 401")
    t.eq(counter(admin_port, token2, "domicile_config_reload_failures_total"), failures,
         "every refused reload counted once")


if __name__ == "__main__":
    H.run_test("abuse_key_file_modes", main, timeout=150)
