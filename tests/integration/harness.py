"""Shared helpers for the gateway's integration tests (Python standard library only).

Each tests/integration/test_*.py is one ctest test: it starts recording backends and the
real `domicile serve` on loopback, drives real clients (curl, nghttp, h2load) and reads
what the backends recorded. Everything it starts is stopped at exit (process groups are
killed), every wait has a deadline, and readiness is polled, never slept for.

Environment (set by tests/CMakeLists.txt): DOMICILE_BIN, DOMICILE_SOURCE_DIR,
DOMICILE_BINARY_DIR, DOMICILE_FIXTURES. See docs/internals/testing.md.
"""
import atexit
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("DOMICILE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BINARY_DIR = os.environ.get("DOMICILE_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
BIN = os.environ.get("DOMICILE_BIN") or os.path.join(BINARY_DIR, "domicile")
FIXTURES = os.environ.get("DOMICILE_FIXTURES") or os.path.join(BINARY_DIR, "fixtures")
GEO_DB = os.path.join(FIXTURES, "geo-test.mmdb")
GEO_TSV = os.path.join(FIXTURES, "geo-test.tsv")
BACKEND_PY = os.path.join(HERE, "recording_backend.py")

# The geo fixture as documented (tests/fixtures): 5.N.0.0/16 and 2a00:N::/32 (N in hex),
# N = 1.. in this order. Used only to cross-check geo-test.tsv, which is the source of truth.
GEO_ORDER = [
    ("DE", ""), ("FR", ""), ("IE", ""), ("NO", ""), ("IS", ""), ("LI", ""), ("CH", ""), ("GB", ""),
    ("US", "US-CA"), ("US", "US-NY"), ("US", ""), ("CA", ""), ("BR", ""), ("IN", ""), ("CN", ""),
    ("RU", ""), ("SA", ""), ("VN", ""), ("JP", ""), ("AU", ""), ("AT", ""), ("PL", ""), ("ES", ""),
    ("IT", ""), ("NL", ""), ("SE", ""),
]

# ---------------------------------------------------------------------------------------------
# results, skipping, the watchdog


class TestFailure(Exception):
    pass


class Checker:
    """TAP-like assertions that keep going, so one run shows every broken promise."""

    def __init__(self, name):
        self.name = name
        self.n = 0
        self.failures = []
        self.lock = threading.Lock()  # tests may check from several client threads

    def ok(self, cond, msg, detail=None):
        with self.lock:
            self.n += 1
            if cond:
                print("ok %d - %s" % (self.n, msg), flush=True)
            else:
                self.failures.append(msg)
                print("not ok %d - %s" % (self.n, msg), flush=True)
                if detail is not None:
                    for line in str(detail).splitlines()[:40]:
                        print("#   " + line, flush=True)
        return bool(cond)

    def eq(self, got, want, msg):
        return self.ok(got == want, msg, "got:  %r\nwant: %r" % (got, want))

    def isin(self, item, collection, msg):
        return self.ok(item in collection, msg, "got:  %r\nnot in: %r" % (item, collection))

    def require(self, cond, msg, detail=None):
        """Like ok, but stops the test: later steps make no sense without this one."""
        if not self.ok(cond, msg, detail):
            raise TestFailure(msg)

    def note(self, msg):
        print("# " + msg, flush=True)

    def finish(self):
        print("1..%d" % self.n, flush=True)
        if self.failures:
            print("# %s: %d of %d checks failed:" % (self.name, len(self.failures), self.n), flush=True)
            for f in self.failures:
                print("#   - " + f, flush=True)
            return 1
        if self.n == 0:
            print("# no checks ran", flush=True)
            return 1
        print("# %s: all %d checks passed" % (self.name, self.n), flush=True)
        return 0


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(0)


def require_tools(*tools):
    """Skips the test (exit 0) when a client tool is missing: the only reason to skip."""
    for tool in tools:
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
        if tool == "curl":
            out = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10).stdout
            if "HTTP2" not in out:
                skip("curl has no HTTP/2 support")


def run_test(name, body, timeout=90):
    """Runs body(checker) with a watchdog; exits with the result. Cleanup runs either way."""
    t = Checker(name)

    def on_alarm(signum, frame):
        raise TestFailure("watchdog: test exceeded %d s" % timeout)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    status = 1
    try:
        body(t)
        stop_gateways(t)
        status = t.finish()
    except TestFailure as e:
        t.ok(False, "stopped: %s" % e)
        t.finish()
    except Exception as e:  # a harness bug or an unexpected crash: show it, fail
        import traceback

        traceback.print_exc()
        t.ok(False, "exception: %r" % (e,))
        t.finish()
    finally:
        signal.alarm(0)
        cleanup(keep=(status != 0))
    sys.exit(status)


# ---------------------------------------------------------------------------------------------
# processes and temp files

_gateways = []
SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "ThreadSanitizer")


def stop_gateways(t):
    """Stops every gateway still running the way an operator would (SIGTERM: drain, exit 0),
    then checks each one's stderr for sanitizer reports (ASan/UBSan builds print them there;
    LeakSanitizer only at a normal exit, hence the graceful stop)."""
    for gw in list(_gateways):
        if gw.proc is None:
            continue
        if gw.proc.poll() is None:
            gw.signal(signal.SIGTERM)
            rc = gw.wait_exit(20)
            t.eq(rc, 0, "%s: exits 0 on SIGTERM at the end of the test" % gw.name)
        err = gw.stderr()
        found = [m for m in SANITIZER_MARKS if m in err]
        t.ok(not found, "%s: no sanitizer reports on stderr" % gw.name, err[-4000:] if found else None)

_procs = []
_tmpdirs = []
_lock = threading.Lock()


def _kill_group(p, sig=signal.SIGKILL):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def spawn(argv, log_prefix=None, cwd=None, env=None):
    """Starts a process in its own process group (so cleanup can kill all of it)."""
    out = open(log_prefix + ".out", "wb") if log_prefix else subprocess.DEVNULL
    err = open(log_prefix + ".err", "wb") if log_prefix else subprocess.DEVNULL
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                         start_new_session=True)
    with _lock:
        _procs.append(p)
    return p


def cleanup(keep=False):
    with _lock:
        procs = list(_procs)
        _procs.clear()
    for p in procs:
        if p.poll() is None:
            _kill_group(p, signal.SIGTERM)
    deadline = time.time() + 3
    for p in procs:
        try:
            p.wait(timeout=max(0.05, deadline - time.time()))
        except subprocess.TimeoutExpired:
            _kill_group(p)
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
    with _lock:
        dirs = list(_tmpdirs)
        _tmpdirs.clear()
    for d in dirs:
        if keep or os.environ.get("DOMICILE_KEEP_TMP"):
            print("# kept temp dir %s" % d, flush=True)
        else:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(cleanup)


def tmpdir(prefix="domicile-itest-"):
    d = tempfile.mkdtemp(prefix=prefix)
    with _lock:
        _tmpdirs.append(d)
    return d


_PORTS_GIVEN = set()
_PORT_BLOCK = 500
_PORT_NEXT = [20000 + (os.getpid() % 24) * _PORT_BLOCK + random.SystemRandom().randrange(_PORT_BLOCK)]


def free_port(host="127.0.0.1"):
    """A free port below the kernel's ephemeral range (32768-60999 on Linux).

    Port 0 would hand out an ephemeral port, and between our close and the server's bind the
    kernel may give that same port to an outgoing connection (h2load's, curl's, the gateway's
    upstream connects): the server then fails with EADDRINUSE. Ports below the ephemeral range
    are never used for outgoing connections. Each test process walks its own block of 500 ports
    (chosen by pid) and never hands out a port twice, so parallel tests and the several servers
    of one test do not pick the same port between the check and the bind.
    """
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(2000):
        port = _PORT_NEXT[0]
        _PORT_NEXT[0] = 20000 + (port + 1 - 20000) % 12000
        if port in _PORTS_GIVEN:
            continue
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise TestFailure("no free port in 20000-31999 on %s" % host)


def port_refuses(port, host="127.0.0.1"):
    """True if nothing listens on host:port (a connect is refused)."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return False
    except OSError:
        return True


def run(argv, timeout=30, input=None, check=False):
    """Runs a command with a timeout; returns CompletedProcess (text)."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, input=input,
                           text=not isinstance(input, bytes))
    except subprocess.TimeoutExpired as e:
        raise TestFailure("command timed out after %ss: %s" % (timeout, " ".join(argv))) from e
    if check and r.returncode != 0:
        raise TestFailure("command failed (%d): %s\n%s" % (r.returncode, " ".join(argv), r.stderr))
    return r


def wait_until(pred, timeout, interval=0.02, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# TLS certificate (one per run of a test file; cached in the binary dir across files)


def tls_cert():
    """Returns (cert.pem, key.pem): self-signed P-256 for localhost, 127.0.0.1 and ::1."""
    cache = os.path.join(BINARY_DIR, "itest-cache", "tls")
    cert, key = os.path.join(cache, "cert.pem"), os.path.join(cache, "key.pem")
    if os.path.exists(cert) and os.path.exists(key) and time.time() - os.path.getmtime(cert) < 86400:
        return cert, key
    try:
        os.makedirs(cache, exist_ok=True)
        d = tempfile.mkdtemp(dir=cache)
    except OSError:
        d = tmpdir()
        cache = d
    c, k = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", k, "-out", c, "-days", "3", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"], timeout=30, check=True)
    if cache != d:
        # atomic per file; parallel test files may race, each rename is complete
        os.replace(k, key)
        os.replace(c, cert)
        shutil.rmtree(d, ignore_errors=True)
        return cert, key
    return c, k


# ---------------------------------------------------------------------------------------------
# geo fixture


def geo_table():
    """Rows of geo-test.tsv as dicts {address, country, subdivision, in_eu}, in file order."""
    if not os.path.exists(GEO_TSV):
        raise TestFailure("geo fixture table missing: %s (build the `fixtures` target)" % GEO_TSV)
    rows = []
    with open(GEO_TSV, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if parts[0] == "address":
                continue
            while len(parts) < 4:
                parts.append("")
            addr = parts[0]
            if "/" in addr:  # a network: take an address inside it
                net = ipaddress.ip_network(addr, strict=False)
                addr = str(net.network_address + 0x10203)
            sub = "" if parts[2].strip() in ("-", "") else parts[2].strip()
            rows.append({"address": addr, "country": parts[1].strip(), "subdivision": sub,
                         "in_eu": parts[3].strip().lower() in ("1", "true", "yes")})
    return rows


def geo_addr(country, subdivision=None, family=4):
    """An address the geo fixture places in `country` (and `subdivision`: "" = none, None = any)."""
    for r in geo_table():
        if r["country"] != country:
            continue
        if subdivision is not None and r["subdivision"] != subdivision:
            continue
        is6 = ":" in r["address"]
        if (family == 6) == is6:
            return r["address"]
    # The table may list one family only: derive the other from the documented layout.
    for i, (c, s) in enumerate(GEO_ORDER, start=1):
        if c == country and (subdivision is None or s == subdivision):
            return "5.%d.2.3" % i if family == 4 else "2a00:%x::2:3" % i
    raise TestFailure("no fixture address for %s %s" % (country, subdivision))


# ---------------------------------------------------------------------------------------------
# rules, explain, pins


def compile_rules(rules_dir=None, out_dir=None):
    rules_dir = rules_dir or os.path.join(SOURCE_DIR, "regions")
    out = os.path.join(out_dir or tmpdir(), "rules.mdb")
    r = run([BIN, "rules", "compile", rules_dir, "-o", out], timeout=60)
    if r.returncode != 0:
        raise TestFailure("rules compile %s failed (%d):\n%s%s" % (rules_dir, r.returncode, r.stdout, r.stderr))
    return out


def write_files(base, files):
    """Writes {relative path: text} under base; returns base."""
    for rel, text in files.items():
        p = os.path.join(base, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return base


def rules_regions(rules_dir=None):
    """Storage regions declared in _regions.yaml, in order (a light parse of the documented shape)."""
    rules_dir = rules_dir or os.path.join(SOURCE_DIR, "regions")
    names = []
    with open(os.path.join(rules_dir, "_regions.yaml"), encoding="utf-8") as f:
        inside = False
        for line in f:
            s = line.split("#", 1)[0].rstrip()
            if not s:
                continue
            if re.match(r"^regions\s*:", s):
                inside = True
                continue
            if inside:
                if not s.startswith((" ", "\t")):
                    break
                m = re.match(r"^\s+([A-Za-z0-9_-]+)\s*:", s)
                if m and (len(s) - len(s.lstrip())) <= 4:
                    names.append(m.group(1))
    return names


_explain_cache = {}


def explain(rules, ip, method, path, geo=None, extra=()):
    """The decision core's answer for one request, from `domicile explain --json`."""
    key = (rules, ip, method, path, geo, tuple(extra))
    if key in _explain_cache:
        return _explain_cache[key]
    argv = [BIN, "explain", "--rules", rules, "--geo-db", geo or GEO_DB, "--method", method, "--path", path, "--json"]
    if ip is not None:
        argv += ["--ip", ip]
    argv += list(extra)
    r = run(argv, timeout=30)
    try:
        d = json.loads(r.stdout)
    except ValueError:
        raise TestFailure("explain %s %s %s: no JSON (exit %d):\n%s%s" % (ip, method, path, r.returncode, r.stdout,
                                                                         r.stderr))
    for k in ("regions", "action", "status", "jurisdiction", "rule_version"):
        if k not in d:
            raise TestFailure("explain output lacks %r: %s" % (k, r.stdout))
    _explain_cache[key] = d
    return d


def jname(decision):
    """The jurisdiction name of an explain result (a string, or an object with a name)."""
    j = decision.get("jurisdiction")
    if isinstance(j, dict):
        j = j.get("name")
    return j


def region_names(decision):
    out = []
    for r in decision.get("regions") or []:
        out.append(r.get("name") if isinstance(r, dict) else r)
    return out


def write_pin_keys(d, keys):
    """keys: {kid: secret bytes}. Writes "<kid> <hex>" lines, mode 0600; returns the path."""
    p = os.path.join(d, "pin-keys")
    with open(p, "w") as f:
        for kid, secret in keys.items():
            f.write("%s %s\n" % (kid, secret.hex()))
    os.chmod(p, 0o600)
    return p


def mint_pin(keys_file, kid, jurisdiction, ttl=3600):
    """A pin from `domicile pin issue` (the way the auth service would mint it)."""
    r = run([BIN, "pin", "issue", "--keys", keys_file, "--kid", kid, "--jurisdiction", jurisdiction,
             "--ttl", str(ttl)], timeout=30)
    tok = r.stdout.strip()
    if r.returncode != 0 or not tok.startswith("v1."):
        raise TestFailure("pin issue failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
    return tok


def forge_pin(secret, kid, jurisdiction, expiry):
    """A pin computed here (for expired and wrongly signed tokens the CLI will not mint)."""
    msg = "v1.%s.%s.%d" % (kid, jurisdiction, expiry)
    sig = hmac.new(secret, msg.encode(), hashlib.sha256).digest()
    return msg + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------------
# YAML writing (block style; strings quoted unless plainly safe)

_PLAIN = re.compile(r"^[A-Za-z0-9_./-]+$")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS and not re.match(r"^[0-9.]+$", s):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append("%s%s: [%s]" % (pad, k, ", ".join(_scalar(x) for x in v)))
            elif isinstance(v, dict):
                lines.append("%s%s: {}" % (pad, k))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.append("\n".join(sub))
            else:
                lines.append("%s- %s" % (pad, _scalar(item)))
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# recording backends


class Backend:
    def __init__(self, region, name, d, host="127.0.0.1", normalise=None):
        self.region, self.name, self.host = region, name, host
        self.port = free_port(host)
        self.log = os.path.join(d, "backend-%s.jsonl" % name)
        open(self.log, "w").close()
        argv = [sys.executable, BACKEND_PY, "--host", host, "--port", str(self.port), "--region", region, "--name", name,
                "--log", self.log]
        if normalise:
            argv += ["--normalise", normalise]
        self.proc = spawn(argv, log_prefix=os.path.join(d, "backend-%s" % name))

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def wait_ready(self, timeout=15):
        def probe():
            if self.proc.poll() is not None:
                raise TestFailure("backend %s exited with %s" % (self.name, self.proc.returncode))
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.sendall(b"GET /__health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return s.recv(64).startswith(b"HTTP/1.1 200")
            except OSError:
                return False

        wait_until(probe, timeout, what="backend %s" % self.name)

    def records(self):
        out = []
        with open(self.log, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
        return out


def start_backends(d, regions, per_region=1, normalise=None, prefix=""):
    """Starts per_region backends for each region; returns {region: [Backend]}. normalise: see recording_backend.py."""
    out = {}
    for region in regions:
        out[region] = [Backend(region, "%s%s-%d" % (prefix, region, i), d, normalise=normalise)
                       for i in range(per_region)]
    for bs in out.values():
        for b in bs:
            b.wait_ready()
    return out


def all_records(backends, path_prefix=None):
    recs = []
    for bs in backends.values():
        for b in bs:
            for r in b.records():
                if path_prefix is None or r["path"].startswith(path_prefix):
                    recs.append(r)
    return recs


# ---------------------------------------------------------------------------------------------
# the gateway


class Gateway:
    """`domicile serve -c cfg` with its config written from a dict (same keys as examples/domicile.yaml)."""

    def __init__(self, d, config, name="gateway"):
        self.d = d
        self.config = config
        self.cfg_path = os.path.join(d, name + ".yaml")
        with open(self.cfg_path, "w") as f:
            f.write("# written by tests/integration/harness.py\n" + to_yaml(config) + "\n")
        self.log_prefix = os.path.join(d, name)
        self.name = name
        self.proc = None
        _gateways.append(self)

    def listener(self, kind):
        """(host, port) of the first listener of a kind: "tls", "clear", "proxy"."""
        for li in self.config.get("listen", []):
            is_tls = "tls" in li
            is_proxy = bool(li.get("proxy_protocol"))
            k = "proxy" if is_proxy else ("tls" if is_tls else "clear")
            if k == kind:
                host, port = li["address"].rsplit(":", 1)
                return host.strip("[]"), int(port)
        raise TestFailure("config has no %s listener" % kind)

    def start(self, timeout=20):
        self.proc = spawn([BIN, "serve", "-c", self.cfg_path], log_prefix=self.log_prefix)
        for li in self.config.get("listen", []):
            host, port = li["address"].rsplit(":", 1)
            host = host.strip("[]")
            self._wait_listener(host, int(port), "tls" in li, bool(li.get("proxy_protocol")), timeout)
        return self

    def stderr(self):
        try:
            with open(self.log_prefix + ".err", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait_listener(self, host, port, tls, proxy, timeout):
        def probe():
            if self.proc.poll() is not None:
                raise TestFailure("gateway exited with %s during start-up:\n%s" % (self.proc.returncode,
                                                                                   self.stderr()[-3000:]))
            try:
                raw = socket.create_connection((host, port), timeout=1)
            except OSError:
                return False
            try:
                raw.settimeout(2)
                s = raw
                if proxy:
                    fam = "TCP6" if ":" in host else "TCP4"
                    s.sendall(("PROXY %s %s %s 40000 %d\r\n" % (fam, host, host, port)).encode())
                if tls:
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    ctx.set_alpn_protocols(["http/1.1"])
                    s = ctx.wrap_socket(raw, server_hostname="localhost")
                # /__health: the backends answer it without recording, so probes leave no trace
                s.sendall(b"GET /__health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                return s.recv(16).startswith(b"HTTP/1.")
            except (OSError, ssl.SSLError):
                return False
            finally:
                try:
                    raw.close()
                except OSError:
                    pass

        wait_until(probe, timeout, interval=0.05, what="gateway listener %s:%d" % (host, port))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def base_config(d, rules, backends, listeners=("tls", "clear"), trusted=("127.0.0.0/8", "::1/128"), extra=None,
                pin_keys=None, clusters=None):
    """A config dict: listeners on fresh loopback ports, a cluster per backend region."""
    cert, key = tls_cert()
    listen = []
    for kind in listeners:
        if kind == "tls":
            listen.append({"address": "127.0.0.1:%d" % free_port(), "tls": {"certificate": cert, "key": key}})
        elif kind == "tls6":
            listen.append({"address": "[::1]:%d" % free_port("::1"), "tls": {"certificate": cert, "key": key}})
        elif kind == "clear":
            listen.append({"address": "127.0.0.1:%d" % free_port()})
        elif kind == "clear6":
            listen.append({"address": "[::1]:%d" % free_port("::1")})
        elif kind == "proxy":
            listen.append({"address": "127.0.0.1:%d" % free_port(), "proxy_protocol": True})
    if clusters is None:
        clusters = []
        for region, bs in backends.items():
            clusters.append({"name": "%s-c" % region, "region": region, "nodes": [b.url for b in bs]})
    cfg = {
        "threads": 2,
        "listen": listen,
        "trusted_proxies": list(trusted),
        "geo": {"database": GEO_DB},
        "rules": rules,
    }
    if pin_keys:
        cfg["pins"] = {"header": "domicile-pin", "keys": pin_keys}
    cfg["consent_header"] = "domicile-consent"
    cfg["limits"] = {"max_body": "1m", "upstream_timeout": "10s", "drain_timeout": "5s"}
    cfg["expose_decision_headers"] = True
    cfg["anonymize_strip_headers"] = ["x-user-id", "x-device-id"]
    cfg["clusters"] = clusters
    if extra:
        for k, v in extra.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = dict(cfg[k], **v)
            else:
                cfg[k] = v
    return cfg


# ---------------------------------------------------------------------------------------------
# clients


class Response:
    def __init__(self, status, headers, body, http_version=None, error=None):
        self.status = status            # int; 0 when the client got no response
        self.header_list = headers      # [(lower-case name, value)]
        self.body = body                # bytes
        self.http_version = http_version
        self.error = error              # client's error text, if any

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        return "<Response %s v%s %r %s>" % (self.status, self.http_version, self.body[:200], self.error or "")


def parse_header_blocks(raw):
    """curl -D output: possibly several blocks (100 Continue, 101 upgrade); returns the last final one."""
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw.decode("latin-1")) if b.strip()]
    status, headers = 0, []
    for b in blocks:
        lines = b.splitlines()
        m = re.match(r"^HTTP/[\d.]+\s+(\d{3})", lines[0].strip())
        if not m:
            continue
        code = int(m.group(1))
        if 100 <= code < 200:
            continue
        status, headers = code, []
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                headers.append((k.strip().lower(), v.strip()))
    return status, headers


_curl_seq = [0]


def curl(port, path="/", method="GET", headers=None, body=None, proto="h2", host="127.0.0.1", timeout=20,
         interface=None, extra=()):
    """One request with curl. proto: h2 (TLS+ALPN), h1 (TLS, HTTP/1.1), h2c (prior knowledge),
    h2c-upgrade (cleartext, Upgrade: h2c), h1c (cleartext HTTP/1.1)."""
    d = _curl_dir()
    with _lock:
        _curl_seq[0] += 1
        n = _curl_seq[0]
    hfile, bfile, infile = (os.path.join(d, "%d.%s" % (n, s)) for s in ("h", "b", "in"))
    argv = ["curl", "-sS", "-X", method, "-D", hfile, "-o", bfile, "-w", "%{http_code} %{http_version}",
            "--max-time", str(timeout), "--connect-timeout", "5"]
    hostpart = "[%s]" % host if ":" in host else host
    if proto in ("h2", "h1"):
        argv += ["-k", "--resolve", "localhost:%d:%s" % (port, host), "--http2" if proto == "h2" else "--http1.1"]
        url = "https://localhost:%d%s" % (port, path)
    elif proto == "h2c":
        argv += ["--http2-prior-knowledge"]
        url = "http://%s:%d%s" % (hostpart, port, path)
    elif proto == "h2c-upgrade":
        argv += ["--http2"]
        url = "http://%s:%d%s" % (hostpart, port, path)
    elif proto == "h1c":
        argv += ["--http1.1"]
        url = "http://%s:%d%s" % (hostpart, port, path)
    else:
        raise ValueError(proto)
    if ":" in host:
        argv.append("-g")
    if interface:
        argv += ["--interface", interface]
    for k, v in (headers or {}).items():
        argv += ["-H", "%s: %s" % (k, v)]
    if body is not None:
        with open(infile, "wb") as f:
            f.write(body)
        argv += ["--data-binary", "@" + infile]
        if not any(k.lower() == "content-type" for k in (headers or {})):
            argv += ["-H", "Content-Type: application/octet-stream"]
    argv += list(extra)
    argv.append(url)
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return Response(0, [], b"", error="curl timed out")
    raw_h = _read(hfile)
    rbody = _read(bfile)
    for p in (hfile, bfile, infile):
        try:
            os.unlink(p)
        except OSError:
            pass
    w = r.stdout.decode(errors="replace").split()
    code = int(w[0]) if w and w[0].isdigit() else 0
    version = w[1] if len(w) > 1 else None
    status, hdrs = parse_header_blocks(raw_h)
    if code and status != code:
        status = code
    err = r.stderr.decode(errors="replace").strip() if r.returncode != 0 else None
    return Response(status if code else 0, hdrs, rbody, version, err)


_curl_tmp = []


def _curl_dir():
    with _lock:
        if not _curl_tmp:
            d = tempfile.mkdtemp(prefix="domicile-curl-")
            _tmpdirs.append(d)
            _curl_tmp.append(d)
        return _curl_tmp[0]


def _read(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except OSError:
        return b""


def http1_raw(host, port, request, timeout=10, tls=False):
    """Sends raw bytes, reads until the server closes or one full response arrives; returns Response."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(request)
        return read_response(s)
    finally:
        s.close()


def read_response(s):
    """Reads one HTTP/1.1 response (Content-Length, chunked, or close-delimited) from a socket."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            if not buf:
                return Response(0, [], b"", error="connection closed")
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^HTTP/(\d\.\d)\s+(\d{3})", lines[0])
    if not m:
        return Response(0, [], buf, error="not HTTP: %r" % lines[0][:80])
    hdrs = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs.append((k.strip().lower(), v.strip()))
    resp = Response(int(m.group(2)), hdrs, b"", m.group(1))
    cl = resp.header("content-length")
    if resp.header("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                c = s.recv(65536)
                if not c:
                    break
                rest += c
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0] or b"0", 16)
            while len(rest) < size + 2:
                c = s.recv(65536)
                if not c:
                    break
                rest += c
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        resp.body = body
    elif cl is not None:
        n = int(cl)
        while len(rest) < n:
            c = s.recv(65536)
            if not c:
                break
            rest += c
        resp.body = rest[:n]
    else:
        while True:
            c = s.recv(65536)
            if not c:
                break
            rest += c
        resp.body = rest
    return resp


def h2load(url, n, c=16, m=10, headers=None, data_file=None, timeout=60, threads=1, h2c=True, extra=()):
    """Runs h2load; returns a dict of its counters (total, succeeded, failed, errored, timeout, 2xx, ...)."""
    argv = ["h2load", "-n", str(n), "-c", str(c), "-m", str(m), "-t", str(threads)]
    for k, v in (headers or {}).items():
        argv += ["-H", "%s: %s" % (k, v)]
    if data_file:
        argv += ["-d", data_file]
    argv += list(extra)
    argv += [url] if isinstance(url, str) else list(url)  # several URIs: h2load round-robins them
    r = run(argv, timeout=timeout)
    out = r.stdout
    res = {"rc": r.returncode, "output": out + r.stderr}
    m1 = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                   r"(\d+) errored, (\d+) timeout", out)
    if not m1:
        raise TestFailure("h2load output not understood:\n%s\n%s" % (out[-2000:], r.stderr[-2000:]))
    for k, v in zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"), m1.groups()):
        res[k] = int(v)
    m2 = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m2:
        for k, v in zip(("2xx", "3xx", "4xx", "5xx"), m2.groups()):
            res[k] = int(v)
    return res


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def random_body(n=None):
    n = n if n is not None else 64 + int.from_bytes(os.urandom(2), "big") % 2048
    return os.urandom(n)


def uid():
    return uuid.uuid4().hex[:16]


# ---------------------------------------------------------------------------------------------
# a small rule set written inline, for tests that need exact, known rules


SMALL_RULES = {
    "_regions.yaml": """regions:
  r-alpha:   { location: DE, description: "test alpha" }
  r-beta:    { location: FR, description: "test beta" }
  r-gamma:   { location: US, description: "test gamma" }
  r-nocl:    { location: NO, description: "allowed, but no cluster configured" }
  r-down:    { location: IS, description: "allowed, cluster node port closed" }
""",
    "_groups.yaml": """groups:
  TESTEU: [DE, FR, AT]
""",
    "_classes.yaml": """classes:
  account:   { description: "account data", personal: true }
  content:   { description: "synced files", personal: true }
  telemetry: { description: "crash reports", personal: false }
  marketing: { description: "notifications", personal: true }
routes:
  - { prefix: /v1/account, class: account }
  - { prefix: /v1/sync, class: content }
  - { prefix: /v1/crash, class: telemetry }
  - { prefix: /v1/notifications, class: marketing, methods: [POST, PUT] }
default_class: content
""",
    "t-eu.yaml": """jurisdiction: T-EU
version: "t-2026-01"
effective: 2020-01-01
applies_to: [TESTEU]
policy_url: https://example.test/privacy#t-eu
on_unavailable: reject
classes:
  account:   { write: [r-alpha], read: [r-alpha] }
  content:   { write: [r-alpha, r-beta] }
  telemetry: { write: any, anonymize: true }
  marketing: { write: [r-alpha], consent: required }
""",
    "t-cn.yaml": """jurisdiction: T-CN
version: "t-cn-1"
effective: 2020-01-01
applies_to: [CN]
policy_url: https://example.test/privacy#t-cn
classes:
  account:   { write: [r-gamma] }
  content:   { deny: true, reason: export_controlled }
  telemetry: { write: any, anonymize: true }
  marketing: { deny: true }
""",
    "t-no.yaml": """jurisdiction: T-NO
version: "t-no-1"
effective: 2020-01-01
applies_to: [NO]
policy_url: https://example.test/privacy#t-no
classes:
  account:   { write: [r-nocl] }
  content:   { write: [r-nocl] }
  telemetry: { write: any, anonymize: true }
  marketing: { write: [r-nocl], consent: required }
""",
    "t-is.yaml": """jurisdiction: T-IS
version: "t-is-1"
effective: 2020-01-01
applies_to: [IS]
policy_url: https://example.test/privacy#t-is
on_unavailable: reject
classes:
  account:   { write: [r-down] }
  content:   { write: [r-down] }
  telemetry: { write: any, anonymize: true }
  marketing: { write: [r-down], consent: required }
""",
    "t-default.yaml": """jurisdiction: T-DEFAULT
version: "t-default-1"
effective: 2020-01-01
default: true
policy_url: https://example.test/privacy#unknown
classes:
  account:   { deny: true, reason: unknown_location }
  content:   { write: [r-beta] }
  telemetry: { write: any, anonymize: true }
  marketing: { deny: true, reason: unknown_location }
""",
}

# Regions of SMALL_RULES that get a live backend (r-nocl: none; r-down: a closed port).
SMALL_LIVE_REGIONS = ["r-alpha", "r-beta", "r-gamma"]


def small_rules(d):
    """Writes SMALL_RULES into d/rules-src and compiles them; returns (rules_dir, rules.mdb)."""
    src = write_files(os.path.join(d, "rules-src"), SMALL_RULES)
    return src, compile_rules(src, d)


def small_clusters(backends):
    """Clusters for SMALL_RULES: live backends, r-down on a port nobody listens on, no r-nocl."""
    cl = [{"name": "%s-c" % r, "region": r, "nodes": [b.url for b in bs]} for r, bs in backends.items()]
    cl.append({"name": "r-down-c", "region": "r-down", "nodes": ["http://127.0.0.1:%d" % free_port()]})
    return cl
