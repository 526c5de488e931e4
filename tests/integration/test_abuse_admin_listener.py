#!/usr/bin/env python3
"""The admin listener off loopback: who may read /metrics and /status (issue 16, operator surface).

Before: `admin.listen: "0.0.0.0:…"` was accepted without a word, and anyone who reached the port read
/status (rules, nodes, audit state) and /metrics. Now:

- off loopback without authentication: `serve` and `serve --check` refuse the config (exit 1, never
  listening), naming admin.listen; with `admin.allow_unauthenticated: true` it starts with a warning;
- `admin.token_file`: every request needs `Authorization: Bearer <token>` — 401 with
  `WWW-Authenticate: Bearer` without it or with a wrong one, 200 with it; on loopback too once a token
  is configured (and without one loopback answers as before); the token is read again at SIGHUP;
- `admin.tls` with `client_ca`: a client without a certificate that CA signed is refused in the
  handshake (no certificate, or one from another CA), one with such a certificate is answered;
- `admin.open_probes: true`: /healthz and bare /readyz answer without credentials (no reasons),
  everything else still needs them.

0.0.0.0 reaches only this machine's loopback because the test re-executes itself in a network
namespace of its own (`unshare -n`, root only) holding only `lo`, plus 192.0.2.10 (TEST-NET-1) on it
as a non-loopback address to connect to. Where namespaces are not allowed, the off-loopback listeners
bind 127.0.0.1 behind the same settings instead (the code path after the start-up check is the same)
and the test says so.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

NETNS_ENV = "DOMICILE_TEST_NETNS"
OFF_LOOPBACK = "192.0.2.10"  # TEST-NET-1, put on the namespace's lo


def reexec_in_netns():
    """Re-executes this file in a new network namespace with lo up; returns True inside it, False when
    namespaces are not available (then the test runs on 127.0.0.1 only)."""
    if os.environ.get(NETNS_ENV) == "1":
        return True
    if os.environ.get(NETNS_ENV) == "0":
        return False
    try:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        probe = None
    if probe is None or probe.returncode != 0:
        os.environ[NETNS_ENV] = "0"
        return False
    os.environ[NETNS_ENV] = "1"
    script = "ip link set lo up && ip addr add %s/32 dev lo && exec \"$0\" \"$@\"" % OFF_LOOPBACK
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "-n", "sh", "-c", script, sys.executable, os.path.abspath(__file__)])
    return False  # not reached


def openssl(*args):
    H.run(["openssl"] + list(args), timeout=30, check=True)


def make_ca(d, name):
    key, cert = os.path.join(d, name + "-key.pem"), os.path.join(d, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", cert, "-days", "2", "-subj", "/CN=%s" % name)
    return cert, key


def make_client(d, name, ca):
    """A client certificate signed by ca = (cert, key); returns (cert, key)."""
    key, csr, cert = (os.path.join(d, name + x) for x in ("-key.pem", ".csr", ".pem"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
            csr, "-subj", "/CN=%s" % name)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", cert, "-days", "2",
            "-extfile", ext)
    return cert, key


def write_secret(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def admin_request(host, port, path, headers="", tls=False, cert=None, timeout=5):
    """One GET on the admin listener: Response (status 0 and error when refused before an answer)."""
    req = ("GET %s HTTP/1.1\r\nHost: admin\r\n%sConnection: close\r\n\r\n" % (path, headers)).encode()
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        return H.Response(0, [], b"", error="connect: %s" % e)
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(H.tls_cert()[0])  # the server's self-signed certificate
            if cert is not None:
                ctx.load_cert_chain(*cert)
            s = ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(req)
        return H.read_response(s)
    except (OSError, ssl.SSLError) as e:
        return H.Response(0, [], b"", error="%s: %s" % (type(e).__name__, e))
    finally:
        s.close()


def bearer(token):
    return "Authorization: Bearer %s\r\n" % token


def wait_admin(gw, host, port, **kw):
    def up():
        if gw.proc.poll() is not None:
            raise H.TestFailure("gateway exited: %s" % gw.stderr()[-2000:])
        return admin_request(host, port, "/healthz", **kw).status != 0
    H.wait_until(up, 15, interval=0.05, what="admin listener %s:%d" % (host, port))


def sighup_applied(gw, n):
    """Sends SIGHUP and waits for the n-th "reloaded" line on stderr."""
    gw.signal(signal.SIGHUP)
    H.wait_until(lambda: gw.stderr().count("SIGHUP: %s reloaded" % gw.cfg_path) >= n, 15, what="SIGHUP applied")


def main(t):
    in_netns = reexec_in_netns()
    H.require_tools("openssl")
    t.note("network namespace of its own: %s" % ("yes (0.0.0.0 binds only its lo)" if in_netns
                                                 else "no (unshare not allowed): off-loopback cases on 127.0.0.1"))
    wildcard = "0.0.0.0" if in_netns else "127.0.0.1"
    reach = [("127.0.0.1", "loopback")] + ([(OFF_LOOPBACK, "192.0.2.10")] if in_netns else [])
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    clusters = H.small_clusters(backends)
    token = os.urandom(24).hex()
    token_file = write_secret(os.path.join(d, "admin-token"), token + "\n")

    def config(name, admin):
        return H.Gateway(d, H.base_config(d, rules, backends, listeners=("clear",), clusters=clusters,
                                          extra={"admin": admin}), name=name)

    def check(name, admin):
        """`serve --check` of a config with these admin settings on 0.0.0.0 (a check binds nothing)."""
        admin = dict(admin, listen="0.0.0.0:%s" % admin["listen"].rsplit(":", 1)[1])
        return H.run([H.BIN, "serve", "--check", "-c", config(name + "-check", admin).cfg_path], timeout=20)

    # ---- off loopback without authentication: refused at start, by --check and by serve ----
    port = H.free_port()
    gw = config("open", {"listen": "0.0.0.0:%d" % port})
    for argv in (["serve", "--check", "-c", gw.cfg_path], ["serve", "-c", gw.cfg_path]):
        r = H.run([H.BIN] + argv, timeout=20)
        t.ok(r.returncode == 1 and re.search(r"admin\.listen 0\.0\.0\.0:%d is not a loopback address and the admin "
                                             r"listener has no authentication" % port, r.stderr)
             and "admin.token_file" in r.stderr and "admin.allow_unauthenticated" in r.stderr,
             "%s: admin on 0.0.0.0 without a token or client certificates is refused (exit 1), naming the key"
             % " ".join(argv[:2]), r.stderr[-1500:])
    t.ok(H.port_refuses(port), "the refused gateway never listened on the admin port")
    t.note("FIGURE admin.open_refused = exit 1: %s" % r.stderr.strip().splitlines()[0][:200])

    # the explicit opt-out: starts, with a warning (--check says "with warnings")
    admin = {"listen": "%s:%d" % (wildcard, port), "allow_unauthenticated": True}
    r = check("optout", admin)
    t.ok(r.returncode == 0 and "(with warnings)" in r.stdout
         and ("warning: admin.listen 0.0.0.0:%d is not a loopback address: /metrics and /status are open" % port)
         in r.stderr, "allow_unauthenticated: true: --check passes with a warning", r.stdout + r.stderr)
    gw = config("optout", admin).start()
    wait_admin(gw, "127.0.0.1", port)
    t.eq(admin_request("127.0.0.1", port, "/status").status, 200, "allow_unauthenticated: /status answered")
    if in_netns:
        t.ok("is not a loopback address" in gw.stderr(), "allow_unauthenticated: serve logs the warning too")
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "opt-out gateway stops")

    # ---- a bearer token ----
    port = H.free_port()
    admin = {"listen": "%s:%d" % (wildcard, port), "token_file": token_file}
    r = check("token", admin)
    t.ok(r.returncode == 0 and "crosses the network in clear text; add admin.tls" in r.stderr,
         "--check with a token off loopback: passes, warns that the token travels in clear text", r.stderr)
    gw = config("token", admin).start()
    wait_admin(gw, "127.0.0.1", port)
    for host, label in reach:
        for path in ("/status", "/metrics", "/readyz", "/healthz", "/readyz?region=r-alpha"):
            r = admin_request(host, port, path)
            t.ok(r.status == 401 and r.header("www-authenticate") == 'Bearer realm="domicile-admin"'
                 and b"domicile_" not in r.body and b"rules" not in r.body,
                 "token, via %s, no Authorization: %s is 401 with WWW-Authenticate: Bearer, nothing of it" % (label, path),
                 r)
        r = admin_request(host, port, "/status", bearer(token))
        t.ok(r.status == 200 and r.json().get("ready") is True, "token, via %s: /status with the token is 200" % label,
             r)
    r = admin_request("127.0.0.1", port, "/metrics", bearer(token))
    t.ok(r.status == 200 and X.metric(r.body.decode(), "domicile_ready") == 1, "/metrics with the token is 200", r)
    wrong = [("a wrong token", bearer(token[:-1] + ("0" if token[-1] != "0" else "1"))),
             ("the token's prefix", bearer(token[:16])),
             ("the token and more", bearer(token + "x")),
             ("Basic", "Authorization: Basic %s\r\n" % token),
             ("no scheme", "Authorization: %s\r\n" % token),
             ("two Authorization fields", bearer(token) + bearer(token)),
             ("an empty bearer", "Authorization: Bearer \r\n")]
    for label, hdr in wrong:
        r = admin_request("127.0.0.1", port, "/status", hdr)
        t.ok(r.status == 401 and "Bearer" in (r.header("www-authenticate") or ""), "token: %s is 401" % label, r)
    r = admin_request("127.0.0.1", port, "/status", bearer(token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1"))
    t.eq(r.header("www-authenticate"), 'Bearer realm="domicile-admin", error="invalid_token"',
         "a wrong token is answered error=\"invalid_token\" (RFC 6750)")
    r = admin_request("127.0.0.1", port, "/status", "authorization:   bearer   %s  \r\n" % token)
    t.eq(r.status, 200, "header name and scheme are case-insensitive, spaces around the token are not part of it")
    t.note("FIGURE admin.token = no token 401, wrong token 401 (invalid_token), Bearer <token> 200")

    # the token is read again at SIGHUP: the old one stops working, the new one works
    token2 = os.urandom(24).hex()
    write_secret(token_file, token2 + "\n")
    sighup_applied(gw, 1)
    t.eq(admin_request("127.0.0.1", port, "/status", bearer(token)).status, 401, "after SIGHUP: the old token is 401")
    t.eq(admin_request("127.0.0.1", port, "/status", bearer(token2)).status, 200, "after SIGHUP: the new token is 200")
    t.ok(re.search(r"applied: .*admin\.token_file", gw.stderr()), "the reload log names admin.token_file")
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "token gateway stops")

    # ---- open_probes: liveness and readiness for load balancers and kubelets, nothing else ----
    port = H.free_port()
    gw = config("probes", {"listen": "%s:%d" % (wildcard, port), "token_file": token_file, "open_probes": True}).start()
    wait_admin(gw, "127.0.0.1", port)
    r = admin_request("127.0.0.1", port, "/readyz")
    t.eq((r.status, r.body), (200, b"ready\n"), "open_probes: /readyz without a token is 200 \"ready\" (no reason)")
    t.eq(admin_request("127.0.0.1", port, "/healthz").status, 200, "open_probes: /healthz without a token is 200")
    for path in ("/status", "/metrics", "/readyz?region=r-alpha"):
        t.eq(admin_request("127.0.0.1", port, path).status, 401, "open_probes: %s still needs the token" % path)
    r = admin_request("127.0.0.1", port, "/readyz?region=r-alpha", bearer(token2))
    t.ok(r.status == 200 and b"r-alpha" in r.body, "open_probes: /readyz?region= with the token is answered", r)
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "probes gateway stops")

    # ---- client certificates ----
    ca = make_ca(d, "admin-ca")
    other_ca = make_ca(d, "other-ca")
    good = make_client(d, "prometheus", ca)
    foreign = make_client(d, "intruder", other_ca)
    cert, key = H.tls_cert()
    port = H.free_port()
    admin = {"listen": "%s:%d" % (wildcard, port), "tls": {"certificate": cert, "key": key, "client_ca": ca[0]}}
    r = check("mtls", admin)
    t.ok(r.returncode == 0 and "requests need a client certificate signed by admin.tls.client_ca" in r.stderr,
         "--check with client certificates off loopback: passes, the warning says how it is protected", r.stderr)
    gw = config("mtls", admin).start()
    wait_admin(gw, "127.0.0.1", port, tls=True, cert=good)
    for host, label in reach:
        r = admin_request(host, port, "/status", tls=True, cert=good)
        t.ok(r.status == 200 and r.json().get("ready") is True,
             "mTLS via %s: a certificate signed by client_ca gets /status" % label, r)
        for who, c in (("no certificate", None), ("a certificate from another CA", foreign)):
            r = admin_request(host, port, "/status", tls=True, cert=c)
            t.ok(r.status == 0 and r.error, "mTLS via %s: %s is refused in the handshake, no answer" % (label, who), r)
        t.note("FIGURE admin.mtls_refused.%s = %s" % (label, r.error))
    r = admin_request("127.0.0.1", port, "/status")
    t.ok(r.status == 0 or r.status == 400, "mTLS: cleartext HTTP on the TLS port gets no answer", r)
    t.ok(gw.proc.poll() is None, "the gateway survives refused handshakes")
    r = admin_request("127.0.0.1", port, "/metrics", tls=True, cert=good)
    t.eq(r.status, 200, "mTLS: still answering a good client after the refusals")
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "mTLS gateway stops")

    # client certificates with open_probes: a client without one completes the handshake, gets probes only
    port = H.free_port()
    gw = config("mtls-probes", dict(admin, listen="%s:%d" % (wildcard, port), open_probes=True)).start()
    wait_admin(gw, "127.0.0.1", port, tls=True)
    r = admin_request("127.0.0.1", port, "/readyz", tls=True)
    t.eq((r.status, r.body), (200, b"ready\n"), "mTLS + open_probes: no certificate, /readyz is 200 \"ready\"")
    r = admin_request("127.0.0.1", port, "/status", tls=True)
    t.eq(r.status, 403, "mTLS + open_probes: no certificate, /status is 403")
    t.eq(admin_request("127.0.0.1", port, "/status", tls=True, cert=foreign).status, 0,
         "mTLS + open_probes: another CA's certificate still fails the handshake")
    t.eq(admin_request("127.0.0.1", port, "/status", tls=True, cert=good).status, 200,
         "mTLS + open_probes: the CA's certificate gets /status")
    gw.signal(signal.SIGTERM)
    t.eq(gw.wait_exit(15), 0, "mTLS + open_probes gateway stops")

    # ---- loopback: as before without a token; once a token is configured, loopback needs it too ----
    port = H.free_port()
    gw = config("loopback", {"listen": "127.0.0.1:%d" % port}).start()
    wait_admin(gw, "127.0.0.1", port)
    r = admin_request("127.0.0.1", port, "/status")
    t.ok(r.status == 200 and r.json().get("ready") is True, "loopback without a token: /status answered as before", r)
    t.ok("not a loopback address" not in gw.stderr(), "loopback without a token: no warning")
    cfg = dict(gw.config)
    cfg["admin"] = {"listen": "127.0.0.1:%d" % port, "token_file": token_file}
    with open(gw.cfg_path, "w") as f:
        f.write(H.to_yaml(cfg) + "\n")
    sighup_applied(gw, 1)
    t.eq(admin_request("127.0.0.1", port, "/status").status, 401, "loopback with a token configured (SIGHUP): 401")
    t.eq(admin_request("127.0.0.1", port, "/status", bearer(token2)).status, 200, "loopback with the token: 200")


if __name__ == "__main__":
    H.run_test("abuse_admin_listener", main, timeout=150)
