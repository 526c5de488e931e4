#!/usr/bin/env python3
"""`domicile rules check|compile|show` end to end: the exit codes, the summary, every broken
fixture's file:line:col diagnostics, compile into a file, show (text and JSON), and a broken
directory that leaves the compiled database at its last good generation."""
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("DOMICILE_BIN", "domicile")
SRC = os.environ.get("DOMICILE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(SRC, "tests", "fixtures", "rules")
failures = 0


def check(cond, what):
    global failures
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures += 1
    return cond


def run(*args):
    p = subprocess.run([BIN, "rules", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def overlay(case, into):
    for name in os.listdir(os.path.join(FIX, "good")):
        shutil.copy(os.path.join(FIX, "good", name), into)
    case_dir = os.path.join(FIX, "broken", case)
    for name in os.listdir(case_dir):
        if name.endswith(".yaml"):
            shutil.copy(os.path.join(case_dir, name), into)
    remove = os.path.join(case_dir, "REMOVE")
    if os.path.exists(remove):
        for name in open(remove).read().split():
            os.unlink(os.path.join(into, name))


def main():
    tmp = tempfile.mkdtemp(prefix="dom-rules-cli-")
    try:
        rc, out, err = run("check", os.path.join(FIX, "good"))
        check(rc == 0, "check good: exit 0")
        check("7 jurisdictions (9 versions), 4 classes, 5 regions" in out and out.rstrip().endswith(": OK"),
              "check good: summary line")
        check("warning: subdivision \"FR-IDF\" not checked" in err, "check good: warning on stderr")

        for case in sorted(os.listdir(os.path.join(FIX, "broken"))):
            d = os.path.join(tmp, case)
            os.mkdir(d)
            overlay(case, d)
            rc, out, err = run("check", d)
            check(rc == 1, f"broken/{case}: exit 1")
            lines = [l.replace(d + "/", "") for l in err.splitlines()]
            for want in open(os.path.join(FIX, "broken", case, "EXPECT")).read().splitlines():
                if not want:
                    continue
                if want.startswith(":"):
                    found = any(l.startswith(d) and want in l for l in lines)
                else:
                    found = any(l.startswith(want) for l in lines)
                if not check(found, f"broken/{case}: {want}"):
                    print("#   stderr:\n#   " + "\n#   ".join(lines))

        db = os.path.join(tmp, "rules.mdb")
        rc, out, err = run("compile", os.path.join(FIX, "good"), "-o", db)
        check(rc == 0 and re.search(r"generation 1, ruleset [0-9a-f]{64}, source sha256 [0-9a-f]{64}", out), "compile good: generation 1")
        check(os.path.exists(db) and os.path.exists(db + "-lock"), "compile: FILE and FILE-lock")
        rc, out, err = run("compile", os.path.join(FIX, "good"), "-o", db)
        check(rc == 0 and "generation 2" in out, "compile again: generation 2")

        rc, out, err = run("show", db, "--json")
        check(rc == 0, "show --json: exit 0")
        data = json.loads(out)
        check(data["generation"] == 2 and len(data["source_hash"]) == 64, "show --json: generation and hash")
        names = sorted({j["name"] for j in data["jurisdictions"]})
        check(names == ["DE-BDSG", "DE-BDSG-draft", "EU-GDPR", "IN-DPDP", "US", "US-CA-CPRA", "default"],
              "show --json: jurisdictions")
        gdpr = [j for j in data["jurisdictions"] if j["name"] == "EU-GDPR" and j["version"] == "2024-01"][0]
        check(gdpr["classes"]["account"]["write"] == ["eu-central", "eu-west"] and gdpr["applies_to"] == "EEA",
              "show --json: class rules")
        rc, out, err = run("show", db)
        check(rc == 0 and "jurisdiction EU-GDPR version 2026-01" in out and "generation 2" in out, "show: text")

        # a broken directory: nothing is written, the database stays at generation 2
        d = os.path.join(tmp, "unknown-region")
        rc, out, err = run("compile", d, "-o", db)
        check(rc == 1 and "unknown region \"eu-centrl\"" in err and "not written" in err, "compile broken: exit 1")
        rc, out, err = run("show", db, "--json")
        check(rc == 0 and json.loads(out)["generation"] == 2, "compile broken: database unchanged")

        # files that are not rule databases
        junk = os.path.join(tmp, "junk.mdb")
        with open(junk, "w") as f:
            f.write("not lmdb\n" * 1000)
        rc, out, err = run("show", junk)
        check(rc == 1 and "not a domicile rules database" in err, "show junk: refused with a message")
        rc, out, err = run("compile", os.path.join(FIX, "good"), "-o", junk)
        check(rc == 1 and "not an LMDB file" in err, "compile over junk: refused")
        rc, out, err = run("check", os.path.join(tmp, "no-such-dir"))
        check(rc == 1 and "cannot open directory" in err, "check missing dir: exit 1")
        rc, out, err = run("check")
        check(rc == 2, "usage error: exit 2")
        rc, out, err = run("frobnicate")
        check(rc == 2, "unknown subcommand: exit 2")

        regions = os.path.join(SRC, "regions")
        if os.path.isdir(regions):
            rc, out, err = run("check", regions)
            if not check(rc == 0, "shipped regions/ passes check"):
                print("# " + err.replace("\n", "\n# "))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {failures} failed" if failures else "# all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
