#!/usr/bin/env python3
"""`domicile rules plan`: an unchanged tree exits 0; moving NO into jp-appi's applies_to shows Norway
moving from EU-GDPR to JP-APPI for every class, and exits 2; a staged future version shows its
effect only from its effective date; `--replay` over an audit log recorded from a real gateway run
counts the requests that would be decided differently, against a count made by hand; the full grid
is decided in under 2 s."""
import json
import os
import re
import shutil
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

REGIONS = os.path.join(H.SOURCE_DIR, "regions")
AT = "2026-12-01"  # a fixed instant: the shipped rules' staged US-CA version (2027-01-01) is after it


def plan(*args):
    return H.run([H.BIN, "rules", "plan", *args], timeout=60)


def copy_regions(d, name):
    out = os.path.join(d, name)
    shutil.copytree(REGIONS, out)
    return out


def edit(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise H.TestFailure("%s does not contain %r" % (path, old))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, 1))


def unchanged(t, live):
    r = plan("--from", live, "--to", REGIONS)
    t.eq(r.returncode, 0, "unchanged tree: exit 0")
    t.ok("plan: no change" in r.stdout, "unchanged tree: says no change", r.stdout)
    m = re.search(r"= (\d+) requests, each decided under both rule sets in ([0-9.]+) s", r.stdout)
    t.ok(m is not None, "unchanged tree: the grid's size and time are printed", r.stdout)
    if m:
        t.ok(float(m.group(2)) < 2.0, "the whole grid is decided in under 2 s", m.group(0))
        t.note("FIGURE plan.grid = %s requests per side, %s s" % (m.group(1), m.group(2)))
    r = plan("--from", live, "--to", REGIONS, "--json")
    t.eq(r.returncode, 0, "unchanged tree --json: exit 0")
    j = json.loads(r.stdout)
    t.eq((j["format"], j["changed"], j["changes"], j["moves"]), ("domicile-plan/1", False, [], []),
         "unchanged tree --json: format, changed false, no changes, no moves")
    g = j["grid"]
    t.eq(g["countries"], 250, "grid: every ISO 3166-1 country (249 and XK)")
    t.eq(g["subdivisions"], 2, "grid: the subdivisions rules name (US-CA, CA-QC)")
    t.eq(g["classes"], ["account", "content", "device", "telemetry", "marketing"], "grid: every class")
    per_instant = (g["countries"] + g["subdivisions"] + 1 + g["pins"]) * 5 * 2 * 2
    t.eq(g["requests"], per_instant * g["instants"], "grid: subjects x classes x read/write x consent x instants")


def norway(t, d, live):
    to = copy_regions(d, "norway")
    edit(os.path.join(to, "jp-appi.yaml"), "applies_to: [JP]", 'applies_to: [JP, "NO"]')
    r = plan("--from", live, "--to", to, "--at", AT)
    t.eq(r.returncode, 2, "NO into jp-appi: exit 2")
    t.ok("    NO: EU-GDPR → JP-APPI (every class)" in r.stdout, "NO into jp-appi: Norway moves, every class", r.stdout)
    t.ok("    EU-GDPR 2026-01 → JP-APPI 2026-01, content, write: eu-central, eu-west → ap-northeast, eu-central — "
         "1 country: NO" in r.stdout, "NO into jp-appi: the content write line", r.stdout)
    t.ok("    ap-northeast: account, write — 1 country: NO" in r.stdout, "NO into jp-appi: a route to a new region")
    t.ok(to + "/jp-appi.yaml:17:18: warning: 1 location moves from EU-GDPR to JP-APPI: NO" in r.stderr,
         "NO into jp-appi: the lint at applies_to's NO", r.stderr)
    r = plan("--from", live, "--to", to, "--at", AT, "--json")
    t.eq(r.returncode, 2, "NO into jp-appi --json: exit 2")
    j = json.loads(r.stdout)
    t.eq(j["moves"], [{"at": AT + "T00:00:00Z", "subject": "NO", "from": "EU-GDPR", "to": "JP-APPI",
                       "every_class": True}], "--json: the one move")
    t.eq({s for c in j["changes"] for s in c["subjects"]}, {"NO"}, "--json: only Norway's decisions change")
    seen = {(c["class"], c["access"]) for c in j["changes"]
            if c["from"]["jurisdiction"] == "EU-GDPR" and c["to"]["jurisdiction"] == "JP-APPI"}
    want = {(c, a) for c in j["grid"]["classes"] for a in ("read", "write")}
    t.eq(seen, want, "--json: every class, read and write, goes from EU-GDPR to JP-APPI")
    t.eq(j["lints"], [{"file": to + "/jp-appi.yaml", "line": 17, "col": 18, "severity": "warning",
                       "message": "1 location moves from EU-GDPR to JP-APPI: NO"}], "--json: the lint")
    return to


def staged(t, d, live):
    to = copy_regions(d, "staged")
    with open(os.path.join(REGIONS, "eu-gdpr.yaml"), encoding="utf-8") as f:
        text = f.read()
    text = text.replace('version: "2026-01"', 'version: "2026-02"').replace("effective: 2026-01-01",
                                                                            "effective: 2027-06-01")
    text = re.sub(r"content:\s*\{[^}]*\}", "content:   { write: [eu-central, us-east] }", text, count=1)
    with open(os.path.join(to, "eu-gdpr-2026-02.yaml"), "w", encoding="utf-8") as f:
        f.write(text)
    r = plan("--from", live, "--to", to, "--window", "2026-12-01..2028-01-01", "--json")
    t.eq(r.returncode, 2, "staged version: exit 2 over a window that holds its date")
    j = json.loads(r.stdout)
    t.eq(j["instants"], ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z"],
         "staged version: the window's start and each effective date in it")
    t.eq({c["at"] for c in j["changes"]}, {"2027-06-01T00:00:00Z"}, "staged version: changes only at its date")
    w = [c for c in j["changes"] if c["class"] == "content" and c["access"] == "write"]
    t.eq(len(w), 1, "staged version: one content-write change")
    if w:
        t.eq((w[0]["from"]["version"], w[0]["to"]["version"], w[0]["from"]["regions"], w[0]["to"]["regions"],
              w[0]["new_regions"], len(w[0]["subjects"])),
             ("2026-01", "2026-02", ["eu-central", "eu-west"], ["eu-central", "us-east"], ["us-east"], 38),
             "staged version: EEA and EU territories (37) and a user pinned to EU-GDPR write content to "
             "eu-central, us-east")
    r = plan("--from", live, "--to", to, "--at", "2027-05-31")
    t.eq(r.returncode, 0, "staged version: the day before its date, no change")
    r = plan("--from", live, "--to", to, "--at", "2027-06-01")
    t.eq(r.returncode, 2, "staged version: on its date, changes")
    t.ok("EU-GDPR 2026-01 → 2026-02, content, write: eu-central, eu-west → eu-central, us-east — 37 countries, 1 pinned user: "
         "AT, AX, BE," in r.stdout and ", YT, pin EU-GDPR\n" in r.stdout, "staged version: the grouped line in words", r.stdout)


def replay(t, d, live, to):
    """A real gateway run under the live rules; its audit log re-decided under live and NO-in-JP-APPI."""
    regions = H.rules_regions()
    backends = H.start_backends(d, regions)
    audit = os.path.join(d, "audit.log")
    gw = H.Gateway(d, H.base_config(d, live, backends, listeners=("clear",),
                                    extra={"audit": {"path": audit}})).start()
    port = gw.listener("clear")[1]
    # the gateway's readiness probe is a request too: count only the lines of the requests below
    H.wait_until(lambda: os.path.exists(audit) and os.path.getsize(audit) > 0, 10, what="the readiness probe's line")
    before = len(open(audit).read().splitlines())
    no, de, ca = H.geo_addr("NO"), H.geo_addr("DE"), H.geo_addr("US", "US-CA")
    sends = [  # (client address, method, path, extra headers, differs under the change: counted by hand)
        (no, "PUT", "/v1/sync/r1", {}, True),  # content write: eu-central → ap-northeast
        (no, "GET", "/v1/sync/r1", {}, True),  # content read
        (no, "PUT", "/v1/account/r2", {}, True),  # account write
        (no, "PUT", "/v1/marketing/r3", {}, True),  # 403 under both, but JP-APPI's 403
        (no, "PUT", "/v1/marketing/r4", {"domicile-consent": "marketing"}, True),  # with consent: routed
        (de, "PUT", "/v1/sync/r5", {}, False),
        (de, "GET", "/v1/account/r6", {}, False),
        (ca, "PUT", "/v1/sync/r7", {}, False),
        ("10.1.2.3", "PUT", "/v1/sync/r8", {}, False),  # the unknown location
        (no, "PUT", "/v1/sync/r9", {"domicile-pin": "not-a-pin"}, None),  # refused before any rule: skipped
    ]
    for addr, method, path, headers, _ in sends:
        h = dict(headers)
        h["X-Forwarded-For"] = addr
        resp = H.curl(port, path, method=method, headers=h, body=b"x" if method == "PUT" else None, proto="h1c")
        t.ok(resp.status in (200, 403, 451, 400, 401), "replay: %s %s from %s answered" % (method, path, addr), resp)
    H.wait_until(lambda: len(open(audit).read().splitlines()) >= before + len(sends), 10,
                 what="every request in the audit log")
    gw.signal(signal.SIGTERM)
    gw.wait_exit(15)
    recorded = open(audit).read().splitlines()[before:]
    audit = os.path.join(d, "audit-requests.log")
    with open(audit, "w") as f:
        f.write("".join(x + "\n" for x in recorded))
    lines = [json.loads(x) for x in recorded]
    t.eq(len(lines), len(sends), "replay: one audit line per request")
    mk = [x for x in lines if x["class"] == "marketing" and x["status"] == 200]
    t.ok(len(mk) == 1 and mk[0]["consent"] is True and mk[0]["pin"] is None,
         "replay: audit lines say whether consent named the class, and the pin", mk)
    differ = sum(1 for s in sends if s[4])
    r = plan("--from", live, "--to", to, "--at", AT, "--replay", audit, "--json")
    t.eq(r.returncode, 2, "replay: exit 2")
    j = json.loads(r.stdout)
    rp = j["replay"]
    t.eq((rp["lines"], rp["decided"], rp["skipped"], rp["malformed"]), (10, 9, 1, 0),
         "replay: 10 lines, 9 re-decided, 1 refused before the rules (skipped)")
    t.eq(rp["at"][0]["differ"], differ, "replay: %d requests decided differently (counted by hand)" % differ)
    counts = {c["change"]: c["requests"] for c in rp["at"][0]["changes"]}
    t.eq(counts.get("content, write: EU-GDPR 2026-01: eu-central, eu-west → JP-APPI 2026-01: ap-northeast, "
                    "eu-central"), 1, "replay: the content write from Norway, by kind of change")
    t.eq(counts.get("marketing, write: EU-GDPR 2026-01: 403 consent_required → JP-APPI 2026-01: 403 "
                    "consent_required"), 1, "replay: the marketing write without consent")
    r = plan("--from", live, "--to", REGIONS, "--at", AT, "--replay", audit)
    t.eq(r.returncode, 0, "replay: unchanged rules exit 0")
    t.ok("at 2026-12-01: 0 requests would be decided differently" in r.stdout, "replay: unchanged rules, 0 differ",
         r.stdout)


def usage(t, live):
    r = plan("--from", live)
    t.eq(r.returncode, 1, "usage: --to missing is an error (exit 1)")
    r = plan("--from", live, "--to", REGIONS, "--window", "2027-01-01..2026-01-01")
    t.eq(r.returncode, 1, "usage: a window that ends before it starts (exit 1)")
    r = plan("--from", "/nonexistent", "--to", REGIONS)
    t.eq(r.returncode, 1, "a missing --from is an error (exit 1)")


def main(t):
    d = H.tmpdir()
    live = H.compile_rules(REGIONS, d)
    unchanged(t, live)
    to = norway(t, d, live)
    staged(t, d, live)
    usage(t, live)
    replay(t, d, live, to)


if __name__ == "__main__":
    H.run_test("rules_plan", main, timeout=150)
