#!/usr/bin/env python3
"""Content-addressed rule versions and the ledger, through the real binary (issue 11 items 1, 2, 6).

- `rules compile --source-rev`, `rules show` (ruleset and version hashes), `rules history`
  (text, JSON, one jurisdiction), `rules show --hash` printing the exact canonical text;
- a rename delivery (compile to a new file, mv over the live one) keeps the ledger with
  --ledger-from and loses it without;
- a (jurisdiction, version) reused with other content: the exact message (file:line:col of
  the version key, both hashes, the ledger's file), nothing written;
- the gateway: every audit line carries ruleset and rule_hash, resolvable with show --hash;
  /status, domicile_rules_info{ruleset=...} and the decision headers show the same hashes;
- in_eu with a flat country_code database: derived from the EU-27 list, never "not in the EU"
  for a member state."""
import calendar
import hashlib
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardening as X  # noqa: E402
import harness as H  # noqa: E402


def domicile(*args):
    return H.run([H.BIN] + list(args), timeout=60)


def show_json(db):
    return json.loads(domicile("rules", "show", db, "--json").stdout)


def history(db, *extra):
    r = domicile("rules", "history", db, "--json", *extra)
    return json.loads(r.stdout) if r.returncode == 0 else None


def version_hash(db, name, version):
    return [j["hash"] for j in show_json(db)["jurisdictions"] if j["name"] == name and j["version"] == version][0]


def edit(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise H.TestFailure("%s: %r not found" % (path, old))
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def cli(t, d):
    src = os.path.join(d, "regions")
    shutil.copytree(os.path.join(H.SOURCE_DIR, "regions"), src)
    live = os.path.join(d, "live.mdb")
    r = domicile("rules", "compile", src, "-o", live, "--source-rev", "git:1111111")
    t.eq(r.returncode, 0, "compile with --source-rev", )
    shown = show_json(live)
    t.ok(re.fullmatch(r"[0-9a-f]{64}", shown["ruleset"]) and "ruleset %s" % shown["ruleset"] in r.stdout,
         "compile prints the ruleset hash that show --json reports", r.stdout)
    t.ok(all(re.fullmatch(r"[0-9a-f]{64}", j["hash"]) for j in shown["jurisdictions"]),
         "show --json: every version has a sha256")
    text = domicile("rules", "show", live).stdout
    t.ok("ruleset: %s" % shown["ruleset"] in text and "sha256: %s" % version_hash(live, "EU-GDPR", "2026-01") in text,
         "show prints the ruleset and each version's hash")

    h = history(live)
    t.ok(h is not None and len(h["compiles"]) == 1 and h["compiles"][0]["source_rev"] == "git:1111111"
         and h["compiles"][0]["ruleset"] == shown["ruleset"], "history: one compile, its rev and ruleset", h)
    t.eq(len(h["versions"]), len(shown["jurisdictions"]), "history: every version compiled")
    t.ok(all(s["name"].endswith(".yaml") and re.fullmatch(r"[0-9a-f]{64}", s["sha256"])
             for s in h["compiles"][0]["sources"]), "history: source files and their SHA-256")
    eu_file = [s["sha256"] for s in h["compiles"][0]["sources"] if s["name"] == "eu-gdpr.yaml"][0]
    with open(os.path.join(src, "eu-gdpr.yaml"), "rb") as f:
        t.eq(eu_file, hashlib.sha256(f.read()).hexdigest(), "history: a source's sha256 is its bytes' SHA-256")

    # show --hash: the exact canonical text behind a hash (full or an 8-digit prefix)
    eu = version_hash(live, "EU-GDPR", "2026-01")
    r = domicile("rules", "show", live, "--hash", eu)
    t.ok(r.returncode == 0 and hashlib.sha256(r.stdout.encode()).hexdigest() == eu,
         "show --hash prints the text whose SHA-256 is the hash", r.stderr)
    t.ok("\njurisdiction=EU-GDPR\n" in r.stdout and "\nclass.content.write=eu-central,eu-west\n" in r.stdout
         and "eu-gdpr.yaml" not in r.stdout and "Art. 44: stays in the EEA" not in r.stdout,
         "show --hash: what the version decides, not its file or comments", r.stdout)
    t.eq(domicile("rules", "show", live, "--hash", eu[:8]).stdout, r.stdout, "show --hash with an 8-digit prefix")
    r = domicile("rules", "show", live, "--hash", "0" * 64)
    t.ok(r.returncode == 1 and "no version with sha256 %s in the ledger" % ("0" * 64) in r.stderr,
         "show --hash of an unknown hash: exit 1, says so", r.stderr)
    r = domicile("rules", "show", live, "--hash", "abc")
    t.ok(r.returncode == 1 and "not a rule hash" in r.stderr, "show --hash abc: not a hash", r.stderr)
    t.eq(domicile("rules", "history").returncode, 2, "history without a file: usage, exit 2")

    # a new version, delivered by rename, with and without --ledger-from
    eu_yaml = os.path.join(src, "eu-gdpr.yaml")
    edit(eu_yaml, 'version: "2026-01"\neffective: 2026-01-01', 'version: "2026-02"\neffective: 2026-12-02')
    new = os.path.join(d, "live.mdb.new")
    r = domicile("rules", "compile", src, "-o", new, "--ledger-from", live, "--source-rev", "git:2222222")
    t.eq(r.returncode, 0, "compile to a new file with --ledger-from the live one")
    os.rename(new, live)
    h = history(live)
    t.ok(h is not None and [c["seq"] for c in h["compiles"]] == [1, 2]
         and [c["source_rev"] for c in h["compiles"]] == ["git:1111111", "git:2222222"],
         "rename delivery with --ledger-from: both compiles in the live file's ledger", h and h["compiles"])
    eu2 = version_hash(live, "EU-GDPR", "2026-02")
    hv = {v["hash"]: v for v in h["versions"]}
    t.ok(eu in hv and eu2 in hv and hv[eu]["live_in_compiles"] == [1] and hv[eu2]["live_in_compiles"] == [2],
         "history: the old version live in compile 1, the new in compile 2", [hv.get(eu), hv.get(eu2)])
    t.eq(domicile("rules", "show", live, "--hash", eu).returncode, 0, "the old version's text is still there")
    text = domicile("rules", "history", live, "EU-GDPR").stdout
    t.ok("EU-GDPR 2026-01" in text and "EU-GDPR 2026-02" in text and "US 2026-01" not in text
         and "live in compiles 2" in text, "history EU-GDPR lists that jurisdiction only", text)
    t.eq(domicile("rules", "history", live, "XX-NONE").returncode, 1, "history of an unknown jurisdiction: exit 1")
    bare = os.path.join(d, "bare.mdb")
    domicile("rules", "compile", src, "-o", bare)
    t.eq(len(history(bare)["compiles"]), 1, "a fresh file without --ledger-from starts a new ledger")

    # reuse: 2026-02 again, with content routed to us-east
    edit(eu_yaml, "  content:   { write: [eu-central, eu-west] }", "  content:   { write: [eu-central, us-east] }")
    scratch = os.path.join(d, "scratch.mdb")
    domicile("rules", "compile", src, "-o", scratch)
    mine = version_hash(scratch, "EU-GDPR", "2026-02")
    first = calendar.timegm(time.strptime(hv[eu2]["first_compiled"], "%Y-%m-%dT%H:%M:%SZ"))
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(first))
    line = [i for i, l in enumerate(open(eu_yaml).read().split("\n"), 1) if l.startswith("version:")][0]
    want = ('%s/eu-gdpr.yaml:%d:1: EU-GDPR version "2026-02" has sha256 %s, but the ledger holds that version with '
            'other content (sha256 %s, from eu-gdpr.yaml, compiled %s): give changed rules a new version'
            % (src, line, mine, eu2, when))
    before = open(live, "rb").read()
    for label, argv in (("in place", ["-o", live]), ("--ledger-from", ["-o", new, "--ledger-from", live])):
        r = domicile("rules", "compile", src, *argv)
        t.eq(r.returncode, 1, "reused version (%s): exit 1" % label)
        t.isin(want, r.stderr.splitlines(), "reused version (%s): the exact message" % label)
        t.ok("not written" in r.stderr, "reused version (%s): nothing written" % label, r.stderr)
    t.ok(open(live, "rb").read() == before and not os.path.exists(new), "the live database is unchanged")
    t.note("FIGURE reuse_error = %s" % want)

    # within the tree: a second file with the same version and other content
    edit(eu_yaml, "  content:   { write: [eu-central, us-east] }", "  content:   { write: [eu-central, eu-west] }")
    dup = os.path.join(src, "zz-eu-gdpr-late.yaml")  # read after eu-gdpr.yaml (name order)
    with open(eu_yaml) as f:
        body = f.read()
    with open(dup, "w") as f:
        f.write(body.split("---")[0].replace("effective: 2026-12-02", "effective: 2026-12-15")
                .replace("  content:   { write: [eu-central, eu-west] }", "  content:   { write: [us-east] }")
                )
    r = domicile("rules", "check", src)
    t.eq(r.returncode, 1, "check: the same version twice in the tree with other content is an error")
    t.ok(re.search(r'^%s/zz-eu-gdpr-late\.yaml:%d:1: EU-GDPR version "2026-02" has sha256 [0-9a-f]{64}, but '
                   r'%s/eu-gdpr\.yaml:%d:1 uses the same version with other content \(sha256 %s\): give changed '
                   r'rules a new version$' % (re.escape(src), line, re.escape(src), line, eu2), r.stderr, re.M),
         "check: names both files (file:line:col) and both hashes", r.stderr)
    os.unlink(dup)


def gateway(t, d):
    audit = os.path.join(d, "audit.log")
    admin = H.free_port()
    d, backends, gw = X.small_gateway(t, threads=2, d=d, extra={"audit": {"path": audit},
                                                                "admin": {"listen": "127.0.0.1:%d" % admin}})
    db = gw.config["rules"] if isinstance(gw.config.get("rules"), str) else gw.config["rules"]["path"]
    shown = show_json(db)
    hashes = {(j["name"], j["version"]): j["hash"] for j in shown["jurisdictions"]}
    port = gw.listener("clear")[1]
    ids = []
    for i in range(6):
        r = H.curl(port, "/v1/sync/ledger-%d-%s" % (i, H.uid()), "PUT" if i % 2 else "GET",
                   {"X-Forwarded-For": X.UNKNOWN}, b"x" * 16 if i % 2 else None, proto="h2c")
        ids.append(r.header("x-request-id"))
        if i == 1:
            t.eq(r.header("domicile-ruleset"), shown["ruleset"], "decision header domicile-ruleset")
            t.ok(r.header("domicile-rule-hash") in hashes.values(), "decision header domicile-rule-hash names a "
                 "version of the set", r.header("domicile-rule-hash"))

    def lines():
        try:
            with open(audit) as f:
                # request lines; not the hash chain's own (open, checkpoint)
                return [y for y in (json.loads(x) for x in f if x.strip()) if "type" not in y]
        except OSError:
            return []
    got = H.wait_until(lambda: (lambda ls: ls if len(ls) >= 6 else None)(lines()), 10, what="6 audit lines")
    t.ok(all(x.get("ruleset") == shown["ruleset"] for x in got), "every audit line carries the ruleset hash",
         [x.get("ruleset") for x in got])
    t.ok(all(x.get("rule_hash") == hashes.get((x.get("jurisdiction"), x.get("rule_version"))) for x in got),
         "every audit line carries the deciding version's rule_hash",
         [(x.get("jurisdiction"), x.get("rule_version"), x.get("rule_hash")) for x in got])
    r = domicile("rules", "show", db, "--hash", got[0]["rule_hash"])
    t.ok(r.returncode == 0 and hashlib.sha256(r.stdout.encode()).hexdigest() == got[0]["rule_hash"],
         "an audit line's rule_hash resolves to its rule text", r.stderr)
    st = json.loads(X.admin_get(admin, "/status")[1])
    t.eq(st["rules"]["ruleset"], shown["ruleset"], "/status: rules.ruleset")
    t.ok(all(j["hash"] == hashes[(j["name"], j["version"])] for j in st["rules"]["jurisdictions"]),
         "/status: each version's hash")
    m = X.admin_get(admin, "/metrics")[1]
    t.ok(re.search(r'^domicile_rules_info\{ruleset="%s",generation="1",' % shown["ruleset"], m, re.M),
         "/metrics: domicile_rules_info{ruleset=...} 1",
         [ln for ln in m.splitlines() if ln.startswith("domicile_rules_info")])
    H.stop_gateways(t)
    H._gateways.clear()


def in_eu(t, d):
    rules = H.compile_rules(out_dir=d)
    flat = os.path.join(H.FIXTURES, "geo-flat.mmdb")
    for cc, member in (("DE", True), ("SE", True), ("US", False), ("GB", False)):
        ip = H.geo_addr(cc)
        e = H.explain(rules, ip, "PUT", "/v1/sync/x", geo=flat)
        t.ok(e["geo"]["country"] == cc and e["geo"]["in_eu"] is member and e["geo"]["in_eu_source"] == "derived",
             "flat database, %s: in_eu %s, derived" % (cc, member), e["geo"])
        words = H.run([H.BIN, "explain", "--rules", rules, "--geo-db", flat, "--ip", ip, "--method", "PUT", "--path",
                       "/v1/sync/x"]).stdout
        loc = [ln for ln in words.splitlines() if ln.startswith("location")]
        want = "%s, %s the EU (derived from the EU-27 list" % (cc, "in" if member else "not in")
        t.ok(loc and want in loc[0], "explain's words for %s: %r" % (cc, want), loc)
        t.ok(not (member and "not in the EU" in words), "explain never says a member state is outside the EU")
    e = H.explain(rules, H.geo_addr("AT"), "PUT", "/v1/sync/x")
    t.ok(e["geo"]["in_eu"] is True and e["geo"]["in_eu_source"] == "database",
         "GeoIP2 database: in_eu from its flag (source database)", e["geo"])


def main(t):
    H.require_tools("curl")
    cli(t, H.tmpdir())
    in_eu(t, H.tmpdir())
    gateway(t, H.tmpdir())


if __name__ == "__main__":
    H.run_test("rules_ledger", main, timeout=180)
