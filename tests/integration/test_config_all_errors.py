"""Every error of a config file is reported in one run (docs/config.md): before, a typo in one key
stopped `serve --check` before it opened the rules, so a cluster whose region the rules do not know
only showed up on the next run. One file with several independent errors (an unknown key, a YAML 1.1
boolean, a bad size, an override country that is no ISO code, a TLS listener whose certificate is
missing, a cluster in a region the rules do not know): `serve --check` exits 1 and names each at its
file:line:col. The same file on SIGHUP: every error is logged and the running configuration stays.
Then a good change on SIGHUP: the log lists what the config's tables apply and what needs a restart.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def broken_config(good_text, d):
    """The good config's text with six independent errors; returns (text, {label: (line, needle)})."""
    lines = good_text.split("\n")

    def at(prefix):
        return next(i for i, s in enumerate(lines) if s.startswith(prefix))

    lines[at("consent_header:")] = "consent_headr: domicile-consent"
    lines[at("expose_decision_headers:")] = "expose_decision_headers: yes"
    lines[at("  max_body:")] = "  max_body: lots"
    lines.append("overrides: [{ cidr: 198.51.100.0/24, country: ZZ }]")
    missing_cert = os.path.join(d, "missing-cert.pem")
    text = "\n".join(lines)
    text = text.replace("region: r-alpha", "region: mars-north", 1)
    # a second listener with TLS files that do not exist (checked only once the file parsed: now in the same run)
    text = text.replace("listen:\n", "listen:\n  - address: \"127.0.0.1:%d\"\n    tls: { certificate: %s, key: %s }\n"
                        % (H.free_port(), missing_cert, missing_cert), 1)
    lines = text.split("\n")

    def line_of(needle):
        return next(i for i, s in enumerate(lines, 1) if needle in s)

    want = {
        "unknown key, with a guess": (line_of("consent_headr:"),
                                      'unknown key "consent_headr" in the configuration; did you mean "consent_header"?'),
        "YAML 1.1 boolean": (line_of("expose_decision_headers: yes"),
                             'expose_decision_headers must be true or false, not "yes"'),
        "bad size": (line_of("max_body: lots"), 'limits.max_body "lots" is not a size'),
        "not an ISO country": (line_of("country: ZZ"), 'country "ZZ" must be an ISO 3166-1 code'),
        "missing certificate": (line_of("missing-cert.pem"), "cannot load certificate"),
        "unknown region": (line_of("mars-north"),
                           'cluster "r-alpha-c": the rules know no storage region "mars-north"'),
    }
    return text, want


def check_all(t, out, path, want, how):
    for label, (line, needle) in want.items():
        pat = r"%s:%d:\d+: %s" % (re.escape(path), line, re.escape(needle))
        t.ok(re.search(pat, out) is not None, "%s: %s at %s:%d" % (how, label, os.path.basename(path), line), out)


def body(t):
    d = H.tmpdir()
    _, rules = H.small_rules(d)
    backends = H.start_backends(d, ["r-alpha"])
    admin_port = H.free_port()
    cfg = H.base_config(d, rules, backends, listeners=("clear",),
                        extra={"admin": {"listen": "127.0.0.1:%d" % admin_port}})
    good_text = "# written by tests/integration/test_config_all_errors.py\n" + H.to_yaml(cfg) + "\n"
    text, want = broken_config(good_text, d)

    # ---- serve --check: one run, every error ----
    path = os.path.join(d, "broken.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = H.run([H.BIN, "serve", "--check", "-c", path], timeout=30)
    out = r.stdout + r.stderr
    t.eq(r.returncode, 1, "serve --check on a file with six errors: exit 1")
    check_all(t, out, path, want, "serve --check")
    t.ok("test failed" in out, "serve --check says the test failed", out)
    errors = re.findall(re.escape(path) + r":\d+:\d+: (?!warning)", out)
    t.ok(len(errors) == len(want), "serve --check: exactly the six errors, no echoes", out)

    # ---- the same file on SIGHUP: every error logged, nothing changes ----
    gw = H.Gateway(d, cfg).start()
    with open(gw.cfg_path, "w") as f:
        f.write(text.replace(path, gw.cfg_path))
    gw.signal(signal.SIGHUP)
    H.wait_until(lambda: "does not load" in gw.stderr(), 15, what="the SIGHUP to be refused")
    err = gw.stderr()
    check_all(t, err, gw.cfg_path, {k: v for k, v in want.items() if k != "missing certificate"}, "SIGHUP")
    t.ok("keeping the running configuration" in err, "SIGHUP: the running configuration stays", err[-2000:])

    # ---- a good change on SIGHUP: the tables say what applies and what needs a restart ----
    new = dict(cfg)
    new["consent_header"] = "x-consent"
    new["limits"] = dict(cfg["limits"], upstream_timeout="20s", max_body="512k")
    new["threads"] = cfg["threads"] + 1
    with open(gw.cfg_path, "w") as f:
        f.write(H.to_yaml(new) + "\n")
    gw.signal(signal.SIGHUP)
    H.wait_until(lambda: "reloaded; applied" in gw.stderr(), 15, what="the SIGHUP to apply")
    err = gw.stderr()
    m = re.search(r"reloaded; applied: (.*) \(\d+ pin keys\)", err)
    applied = m.group(1) if m else ""
    t.ok("consent_header" in applied and "limits.max_body" in applied and "threads" not in applied,
         "applied live: consent_header, limits.max_body (lowered)", err[-2000:])
    m = re.search(r"needs a restart \(not applied\): (.*)", err)
    restart = m.group(1) if m else ""
    t.ok("threads" in restart and "limits.upstream_timeout" in restart and "consent_header" not in restart,
         "needs a restart: threads, limits.upstream_timeout", err[-2000:])

    # ---- the key table the docs carry comes from the same tables ----
    r = H.run([H.BIN, "serve", "--keys"], timeout=10)
    t.ok(r.returncode == 0 and "| `limits.upstream_timeout` | restart |" in r.stdout
         and "| `consent_header` | live |" in r.stdout, "serve --keys prints each key's reload class", r.stdout)


if __name__ == "__main__":
    H.run_test("config_all_errors", body, timeout=90)
