#!/usr/bin/env python3
"""Semantic lints of `domicile rules check` (warnings; --strict: errors) and `serve --check`, each with
its exact message at file:line:col: a new version dated in the past, a country moving between
jurisdictions, countries only the DEFAULT claims, subdivision rules the geo database never resolves
(and what those requests get instead), and "did you mean" for near-miss codes."""
import os
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

REGIONS = os.path.join(H.SOURCE_DIR, "regions")
FLAT = os.path.join(H.FIXTURES, "geo-flat.mmdb")
NOW = "2026-11-30"


def check(*args):
    return H.run([H.BIN, "rules", "check", *args], timeout=60)


def tree(d, name, edits=(), files=None):
    out = os.path.join(d, name)
    shutil.copytree(REGIONS, out)
    for fname, old, new in edits:
        p = os.path.join(out, fname)
        text = open(p, encoding="utf-8").read()
        if old not in text:
            raise H.TestFailure("%s does not contain %r" % (fname, old))
        open(p, "w", encoding="utf-8").write(text.replace(old, new, 1))
    for fname, text in (files or {}).items():
        open(os.path.join(out, fname), "w", encoding="utf-8").write(text)
    return out


def lines(stderr, prefix):
    return [l.replace(prefix + "/", "") for l in stderr.splitlines()]


def past_version(t, d, live):
    # the version in force only (the file also holds a report-mode version)
    src = open(os.path.join(REGIONS, "eu-gdpr.yaml"), encoding="utf-8").read().split("\n---\n")[0]
    past = src.replace('version: "2026-01"', 'version: "2026-02"').replace("effective: 2026-01-01",
                                                                          "effective: 2026-10-01")
    to = tree(d, "past", files={"eu-gdpr-2026-02.yaml": past})
    r = check(to, "--against", live, "--now", NOW)
    t.eq(r.returncode, 0, "past-dated new version: a warning, exit 0")
    want = ('eu-gdpr-2026-02.yaml:28:12: warning: EU-GDPR version "2026-02" is new and its effective date 2026-10-01 '
            "is in the past: compiled, it applies at once, and what was decided before cannot be told apart from it "
            "(date it today or later)")
    t.eq(lines(r.stderr, to), [want], "past-dated new version: the exact message at effective:")
    r = check(to, "--now", NOW)
    t.eq(r.stderr, "", "past-dated new version: not judged without the live set (--against)")
    future = tree(d, "future", files={"eu-gdpr-2026-02.yaml": past.replace("2026-10-01", "2026-12-02")})
    r = check(future, "--against", live, "--now", NOW)
    t.eq((r.returncode, r.stderr), (0, ""), "a new version dated in the future: no warning")
    r = check(to, "--against", live, "--now", NOW, "--strict")
    t.eq(r.returncode, 1, "--strict: the lint is an error (exit 1)")
    t.eq(lines(r.stderr, to), [want.replace("warning: ", "")], "--strict: the same message as an error")
    t.ok(r.stdout.rstrip().endswith(": 1 lint (--strict)"), "--strict: the summary says why", r.stdout)


def moving_country(t, d, live):
    to = tree(d, "norway", edits=[("jp-appi.yaml", "applies_to: [JP]", 'applies_to: [JP, "NO"]')])
    r = check(to, "--against", live, "--now", NOW)
    t.eq(r.returncode, 0, "moving country: a warning, exit 0")
    t.eq(lines(r.stderr, to), ["jp-appi.yaml:17:18: warning: 1 location moves from EU-GDPR to JP-APPI: NO"],
         "moving country: the exact message at the applies_to entry")
    r = check(REGIONS, "--against", live, "--now", NOW)
    t.eq((r.returncode, r.stderr), (0, ""), "the shipped rules against themselves: no warning")


def default_only(t, d, live):
    to = tree(d, "no-trinidad", edits=[("_groups.yaml", " TO, TT, TV,", " TO, TV,")])
    r = check(to, "--now", NOW)
    t.eq(r.returncode, 0, "default-only country: a warning, exit 0")
    want = ("default.yaml:18:15: warning: 1 country is claimed by no jurisdiction and gets DEFAULT, the rule for unknown "
            "locations (content write: 451 location_unknown): TT")
    t.eq(lines(r.stderr, to), [want], "default-only country: the exact message at the default's name")
    r = check(to, "--against", live, "--now", NOW)
    t.eq(lines(r.stderr, to), ["default.yaml:18:15: warning: 1 location moves from GLOBAL to DEFAULT: TT", want],
         "default-only country against the live set: it also moves from GLOBAL")


def geo_db(t, d, live):
    r = check(REGIONS, "--geo-db", FLAT, "--now", NOW)
    t.eq(r.returncode, 0, "subdivisions a flat geo database never gives: warnings, exit 0")
    t.eq(lines(r.stderr, REGIONS), [
        "ca-qc-law25.yaml:18:14: warning: CA-QC never decides alone: the geo database %s (geo-whois-asn-country) never "
        "gives subdivision CA-QC; such requests get CA-PIPEDA 2026-01 (by country CA) intersected with CA-QC 2026-01 instead" % FLAT,
        "us-ca-ccpa.yaml:27:14: warning: US-CA never decides alone: the geo database %s (geo-whois-asn-country) never "
        "gives subdivision US-CA; such requests get US 2026-01 (by country US) intersected with US-CA 2026-01 instead" % FLAT,
    ], "flat geo database: US-CA and CA-QC, each at its applies_to entry, and what those requests get")
    r = check(REGIONS, "--geo-db", H.GEO_DB, "--now", NOW)
    got = lines(r.stderr, REGIONS)
    t.ok(len(got) == 1 and got[0].startswith("ca-qc-law25.yaml:18:14: warning: CA-QC never decides alone"),
         "a City database that has US-CA but no CA-QC: only CA-QC", got)

    # serve --check with the live config names the same
    cfg = H.base_config(d, live, {}, listeners=("clear",),
                        clusters=[{"name": "%s-c" % r, "region": r, "nodes": ["http://127.0.0.1:9"]}
                                  for r in H.rules_regions()])
    cfg["geo"] = {"database": FLAT}
    path = os.path.join(d, "flat.yaml")
    open(path, "w", encoding="utf-8").write(H.to_yaml(cfg))
    r = H.run([H.BIN, "serve", "-c", path, "--check"], timeout=60)
    t.eq(r.returncode, 0, "serve --check: warnings only, exit 0")
    t.ok(REGIONS + "/us-ca-ccpa.yaml:27:14: warning: US-CA never decides alone: the geo database %s "
         "(geo-whois-asn-country) never gives subdivision US-CA; such requests get US 2026-01 (by country US) intersected with US-CA 2026-01 instead"
         % FLAT in r.stderr, "serve --check: the subdivision lint, with positions from the rules' source", r.stderr)


def did_you_mean(t, d):
    cases = [
        ("ch-fadp.yaml", "applies_to: [CH]", "applies_to: [CHE]", "ch-fadp.yaml:22:14: unknown group \"CHE\"; did you mean CH?"),
        ("uk-gdpr.yaml", "applies_to: [GB]", "applies_to: [UK]",
         "uk-gdpr.yaml:19:14: unknown country \"UK\" (not an ISO 3166-1 alpha-2 code); did you mean GB?"),
        ("eu-gdpr.yaml", "applies_to: [EEA, EU-TERRITORIES]", "applies_to: [EAA, EU-TERRITORIES]",
         "eu-gdpr.yaml:30:14: unknown group \"EAA\"; did you mean EEA?"),
        ("jp-appi.yaml", "applies_to: [JP]", "applies_to: [jp]",
         "jp-appi.yaml:17:14: unknown country \"jp\" (not an ISO 3166-1 alpha-2 code; codes are upper case); did you mean "
         "JP?"),
        ("_groups.yaml", " TO, TT, TV,", " TO, TTO, TV,",
         "_groups.yaml:48:65: unknown country \"TTO\" (groups hold ISO 3166-1 alpha-2 codes); did you mean TT?"),
    ]
    for i, (fname, old, new, want) in enumerate(cases):
        to = tree(d, "dym%d" % i, edits=[(fname, old, new)])
        r = check(to)
        t.eq(r.returncode, 1, "did you mean (%s): an error, exit 1" % new)
        got = lines(r.stderr, to)
        t.ok(want in got, "did you mean: %s" % want, got)


def main(t):
    d = H.tmpdir()
    live = H.compile_rules(REGIONS, d)
    past_version(t, d, live)
    moving_country(t, d, live)
    default_only(t, d, live)
    geo_db(t, d, live)
    did_you_mean(t, d)


if __name__ == "__main__":
    H.run_test("rules_lint", main, timeout=120)
