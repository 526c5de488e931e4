#!/usr/bin/env python3
"""What `cmake --install` puts in place, and whether each piece passes its own tool (issue 13).

- `DESTDIR=stage cmake --install BUILD` installs every file of the list below (binary, three man pages, the
  packaged configuration, the systemd unit and sysusers entry, the logrotate snippet, the shipped rule set, the
  alert rules, the example configuration); the staged binary runs (`--version`, `rules check` of the staged
  rule set, `serve --check` of the staged configuration once its rules and geo database exist);
- `man -l` renders each page with no warning from groff;
- `systemd-analyze verify` of the unit prints nothing on stderr; `systemd-analyze security --offline=yes` rates
  it (the exposure figure is printed; it must stay "OK", below 2.0);
- `logrotate -d` accepts the snippet.
The unit and the configuration name absolute paths (/usr/bin/domicile, /var/lib/domicile): the checks run on
copies pointed at the staging directory.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

EXPECTED = [  # relative to the install prefix, except the absolute etc/ and unit paths (found by suffix)
    "bin/domicile", "share/man/man8/domicile.8", "share/man/man5/domicile.yaml.5",
    "share/man/man5/domicile-rules.5", "etc/domicile/domicile.yaml", "lib/systemd/system/domicile.service",
    "lib/sysusers.d/domicile.conf", "etc/logrotate.d/domicile", "share/domicile/regions/_regions.yaml",
    "share/domicile/regions/eu-gdpr.yaml", "share/domicile/prometheus/domicile-alerts.yml",
    "share/doc/domicile/examples/domicile.yaml",
]


def body(t):
    stage = H.tmpdir("domicile-stage-")
    r = subprocess.run(["cmake", "--install", H.BINARY_DIR], env=dict(os.environ, DESTDIR=stage),
                       capture_output=True, text=True, timeout=120)
    t.require(r.returncode == 0, "cmake --install into a staging directory", r.stdout + r.stderr)
    files = sorted(os.path.relpath(os.path.join(dp, f), stage) for dp, _, fs in os.walk(stage) for f in fs)
    t.note("installed %d files:\n%s" % (len(files), "\n".join(
        f for f in files if "/regions/" not in f or f.endswith("_regions.yaml"))))
    found = {}
    for want in EXPECTED:
        hits = [f for f in files if f.endswith(want)]
        found[want] = hits[0] if hits else None
        t.ok(hits, "installed: %s" % want)
    regions = [f for f in files if "/share/domicile/regions/" in f]
    shipped = [f for f in os.listdir(os.path.join(H.SOURCE_DIR, "regions")) if f.endswith(".yaml")]
    t.eq(len(regions), len(shipped), "every shipped rule file is installed")
    if not all(found.values()):
        return
    p = lambda k: os.path.join(stage, found[k])  # noqa: E731

    binary = p("bin/domicile")
    r = H.run([binary, "--version"])
    t.ok(r.returncode == 0 and r.stdout.startswith("domicile "), "the staged binary runs: " + r.stdout.strip())
    r = H.run([binary, "rules", "check", os.path.dirname(p("share/domicile/regions/_regions.yaml"))])
    t.eq(r.returncode, 0, "rules check of the staged rule set")

    # the packaged configuration checks once its rules and geo database are where it says
    work = H.tmpdir()
    cfg_text = open(p("etc/domicile/domicile.yaml")).read()
    rules = os.path.join(work, "rules.mdb")
    H.run([binary, "rules", "compile", os.path.dirname(p("share/domicile/regions/_regions.yaml")), "-o", rules],
          check=True)
    shutil.copy(H.GEO_DB, os.path.join(work, "geo.mmdb"))
    cfg_text = cfg_text.replace("/var/lib/domicile", work).replace("/var/log/domicile", work)
    cfg = os.path.join(work, "domicile.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    r = H.run([binary, "serve", "--check", "-c", cfg])
    t.ok(r.returncode == 0, "the packaged configuration passes serve --check (paths moved to a temp dir)",
         r.stdout + r.stderr)

    # man pages
    for page in ("share/man/man8/domicile.8", "share/man/man5/domicile.yaml.5", "share/man/man5/domicile-rules.5"):
        r = subprocess.run(["man", "--warnings", "-l", p(page)], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, MANWIDTH="100", MAN_KEEP_STDERR="1"))
        name = os.path.basename(page).rsplit(".", 1)[0]
        t.ok(r.returncode == 0 and "NAME" in r.stdout and name in r.stdout and r.stderr.strip() == "",
             "man -l renders %s without warnings (%d lines)" % (os.path.basename(page), r.stdout.count("\n")),
             r.stderr[-1000:])

    # the unit: verify and security, on a copy whose binary is the staged one
    unit_text = open(p("lib/systemd/system/domicile.service")).read()
    exec_paths = set(re.findall(r"^Exec\w+=(\S+)", unit_text, re.M))
    t.ok(any(x.endswith("/bin/domicile") for x in exec_paths), "the unit runs the installed binary", exec_paths)
    bindir = [x for x in exec_paths if x.endswith("/bin/domicile")][0]
    t.ok(re.search(r"^ExecStartPre=\S+ serve --check ", unit_text, re.M) and "ExecReload=/bin/kill -HUP $MAINPID"
         in unit_text and "StateDirectory=domicile" in unit_text and "LogsDirectory=domicile" in unit_text and
         "ConfigurationDirectory=domicile" in unit_text and "User=domicile" in unit_text,
         "the unit checks the config before starting, reloads with SIGHUP, has its directories and user")
    if shutil.which("systemd-analyze"):
        unit = os.path.join(work, "domicile.service")
        with open(unit, "w") as f:
            f.write(unit_text.replace(bindir, binary))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MANPATH=os.path.join(os.path.dirname(p("share/man/man8/domicile.8")),
                                                                     "..") + ":"))
        t.ok(r.returncode == 0 and r.stderr.strip() == "", "systemd-analyze verify prints nothing on stderr",
             r.stderr[-2000:])
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit], capture_output=True, text=True,
                           timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
        t.ok(m is not None and float(m.group(1)) < 2.0, "systemd-analyze security --offline=yes: exposure %s" %
             (m.group(0) if m else "?"), r.stdout[-3000:] + r.stderr[-1000:])
        if m:
            t.note("FIGURE deploy: systemd-analyze security exposure = %s %s" % (m.group(1), m.group(2)))
    else:
        t.note("systemd-analyze is not installed: unit checks not run")
    if shutil.which("logrotate"):
        state = os.path.join(work, "logrotate.state")
        r = subprocess.run(["logrotate", "-d", "-s", state, p("etc/logrotate.d/domicile")], capture_output=True,
                           text=True, timeout=30)
        out = r.stdout + r.stderr
        t.ok(r.returncode == 0 and "error" not in out.lower() and "/var/log/domicile/audit.log" in out,
             "logrotate -d accepts the snippet", out[-2000:])
        snippet = open(p("etc/logrotate.d/domicile")).read()
        t.ok("SIGUSR1" in snippet and "copytruncate" not in snippet.replace("no copytruncate", ""),
             "the snippet signals SIGUSR1 (the gateway reopens its audit log), no copytruncate")
    else:
        t.note("logrotate is not installed: snippet not checked")


if __name__ == "__main__":
    H.run_test("deploy_install", body, timeout=150)
