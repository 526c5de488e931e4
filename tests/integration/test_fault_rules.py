#!/usr/bin/env python3
"""Corrupt, foreign and half-written rules databases.

- At start: a foreign LMDB (made here with mdb_load), an LMDB whose pages are overwritten,
  a truncated one, an empty file and a text file: `serve` exits non-zero with a clear error
  naming the rules database, and never listens.
- `rules compile` into a foreign LMDB or a non-LMDB file refuses and leaves it byte for byte.
- A compile that fails half-way leaves the live database and the running gateway on the old
  set: a rules directory with an error (nothing is written), and a compile that runs out of
  file space mid-transaction (RLIMIT_FSIZE, the effect of a full disk: the write fails with
  EFBIG). The gateway keeps answering with the old rule_version; then a good compile is
  picked up, which shows the gateway does follow the live file."""
import datetime
import os
import resource
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402

FOREIGN_DUMP = """VERSION=3
format=print
type=btree
mapsize=1048576
maxreaders=126
db_pagesize=4096
HEADER=END
 hello
 world
 domicile
 not-ours
DATA=END
"""


def read(p):
    with open(p, "rb") as f:
        return f.read()


def main(t):
    H.require_tools("curl", "mdb_load")
    d = H.tmpdir()
    src, good = H.small_rules(d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)

    # --- broken rules databases at start
    bad = {}
    foreign = os.path.join(d, "foreign.mdb")
    r = H.run(["mdb_load", "-n", "-f", "/dev/stdin", foreign], input=FOREIGN_DUMP, timeout=30)
    t.require(r.returncode == 0, "mdb_load makes a foreign LMDB", r.stderr)
    bad["foreign LMDB"] = foreign
    g = read(good)
    p = os.path.join(d, "overwritten.mdb")
    with open(p, "wb") as f:  # both meta pages and the first data pages overwritten
        f.write(bytes((b ^ 0x5A) for b in g[:12288]) + g[12288:])
    bad["LMDB with overwritten meta pages"] = p
    p = os.path.join(d, "truncated.mdb")
    with open(p, "wb") as f:
        f.write(g[:len(g) // 3])
    bad["truncated LMDB"] = p
    p = os.path.join(d, "empty.mdb")
    open(p, "wb").close()
    bad["empty file"] = p
    p = os.path.join(d, "text.mdb")
    with open(p, "w") as f:
        f.write("jurisdiction: EU\n" * 400)
    bad["text file"] = p
    for label, path in bad.items():
        cfg = H.base_config(d, path, backends, listeners=("clear",), clusters=H.small_clusters(backends))
        gw = H.Gateway(d, cfg, name="gw-%s" % label.replace(" ", "-"))
        proc = H.spawn([H.BIN, "serve", "-c", gw.cfg_path], log_prefix=gw.log_prefix)
        try:
            rc = proc.wait(timeout=15)
        except Exception:
            rc = None
        err = gw.stderr()
        t.ok(rc not in (None, 0), "%s: serve exits non-zero" % label, rc)
        t.ok(path in err and "rules" in err, "%s: the error names the rules database" % label, err[-600:])
        t.ok(H.port_refuses(gw.listener("clear")[1]), "%s: serve never listened" % label)
        t.note("FIGURE rules_start.%s = exit %s: %s" % (label.replace(" ", "_"), rc,
                                                       ([ln for ln in err.splitlines() if path in ln] or ["?"])[0]
                                                       .split(": ", 1)[-1][:200]))
        found = [m for m in H.SANITIZER_MARKS if m in err]
        t.ok(not found, "%s: no sanitizer reports from the refused start" % label, err[-2000:] if found else None)
        H._gateways.remove(gw)

    # --- compile into a foreign LMDB / a non-LMDB file: refused, untouched
    for label, path in (("foreign LMDB", foreign), ("text file", bad["text file"])):
        before = read(path)
        r = H.run([H.BIN, "rules", "compile", src, "-o", path], timeout=60)
        t.ok(r.returncode != 0, "rules compile into a %s refuses (exit non-zero)" % label, r.stdout + r.stderr)
        t.ok("not a domicile rules database" in r.stderr or path in r.stderr,
             "rules compile into a %s says why" % label, r.stderr[-400:])
        t.ok(read(path) == before, "the %s is unchanged byte for byte" % label)
    dump = H.run(["mdb_dump", "-p", "-n", foreign], timeout=30)
    t.ok("not-ours" in dump.stdout, "the foreign LMDB still holds its own data", dump.stdout[-300:])

    # --- a live gateway, then compiles that fail half-way
    live = os.path.join(d, "live.mdb")
    shutil.copy(good, live)
    d2, backends2, gw = X.small_gateway(t, threads=2, d=d, rules=live)
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")

    def version():
        path = "/v1/account/rv-%s" % H.uid()
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": de}, b"v", proto="h2c", timeout=10)
        recs = [x for x in H.all_records(backends2) if x["path"] == path]
        return r.status, (recs[0]["headers"].get("x-domicile-rule-version") if recs else None)

    t.eq(version(), (200, "t-2026-01"), "live gateway: DE account write routed under t-2026-01")
    old_show = H.run([H.BIN, "rules", "show", live], timeout=30).stdout

    # (1) a rules directory with an error: nothing written
    broken = H.write_files(os.path.join(d, "broken-src"), dict(H.SMALL_RULES))
    with open(os.path.join(broken, "t-eu.yaml"), "a") as f:
        f.write("  bogus_class: { write: [no-such-region] }\n")
    before = read(live)
    r = H.run([H.BIN, "rules", "compile", broken, "-o", live], timeout=60)
    t.ok(r.returncode != 0 and ":" in r.stderr, "compile of a broken directory fails with file:line:col",
         r.stderr[-400:])
    t.ok(read(live) == before, "a broken directory leaves the live database byte for byte")
    t.eq(version(), (200, "t-2026-01"), "after a broken compile the gateway serves the old set")

    # (2) the disk fills mid-transaction: a much larger new set under a file size limit
    big = dict(H.SMALL_RULES)
    big["t-eu.yaml"] = big["t-eu.yaml"].replace('version: "t-2026-01"', 'version: "t-2026-02"')
    day = datetime.date(2001, 1, 1)
    for i in range(300):  # many extra versions (one a day, long past) make the new set larger than the file
        big["x-%03d.yaml" % i] = ('jurisdiction: X-JP\nversion: "x-%03d"\neffective: %s\napplies_to: [JP]\n'
                                  'policy_url: https://example.test/x\nclasses:\n'
                                  '  account: { write: [r-alpha] }\n  content: { write: [r-alpha] }\n'
                                  '  telemetry: { write: any }\n  marketing: { deny: true }\n'
                                  % (i, (day + datetime.timedelta(days=i)).isoformat()))
    bigsrc = H.write_files(os.path.join(d, "big-src"), big)
    chk = H.run([H.BIN, "rules", "check", bigsrc], timeout=60)
    limit = os.path.getsize(live)

    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    import subprocess
    before = read(live)
    p = subprocess.run([H.BIN, "rules", "compile", bigsrc, "-o", live], capture_output=True, text=True, timeout=60,
                       preexec_fn=cap)
    if chk.returncode != 0:
        t.note("the big rule set does not check (%s): the disk-full case ran on a rejected set" % chk.stderr[-200:])
    t.ok(p.returncode != 0, "compile that runs out of file space fails (exit non-zero)", p.stdout + p.stderr)
    t.note("FIGURE rules_compile.disk_full = exit %d: %s" % (p.returncode, p.stderr.strip()[-200:]))
    show = H.run([H.BIN, "rules", "show", live], timeout=30)
    t.ok(show.returncode == 0 and show.stdout == old_show,
         "after the failed compile the live database holds the old set",
         show.stdout[-300:] + show.stderr[-300:])
    t.eq(version(), (200, "t-2026-01"), "after a disk-full compile the gateway serves the old set")
    t.ok(gw.proc.poll() is None, "the gateway is still running")

    # (3) the same compile with room succeeds and is picked up
    if chk.returncode == 0:
        r = H.run([H.BIN, "rules", "compile", bigsrc, "-o", live], timeout=60)
        t.ok(r.returncode == 0, "the same compile with disk space succeeds", r.stderr[-300:])
        got = H.wait_until(lambda: (lambda v: v if v[1] == "t-2026-02" else None)(version()), 10, interval=0.2,
                           what="the gateway to serve t-2026-02")
        t.eq(got, (200, "t-2026-02"), "the gateway follows the live database (t-2026-02)")


if __name__ == "__main__":
    H.run_test("fault_rules", main, timeout=150)
