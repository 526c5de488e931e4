"""The shipped rule set (regions/) checks, compiles, and decides what docs/regions.md says.

Python standard library only. Environment (set by tests/CMakeLists.txt):
  DOMICILE_BIN        the domicile binary
  DOMICILE_FIXTURES   the built fixtures: geo-test.mmdb and its table geo-test.tsv
  DOMICILE_SOURCE_DIR the source tree (default: two levels up from this file)

Three parts:
  1. the text of regions/ keeps its promises (every jurisdiction cites its law and has a
     policy link; the EEA group is EU-27 + IS, LI, NO; REST-OF-WORLD overlaps nothing);
  2. `domicile rules check regions` exits 0 and `rules compile` writes a database; broken
     copies of the set are refused with file:line:col diagnostics;
  3. for a sample address of each country in the test geo database, `domicile explain`
     decides what regions/ says: e.g. account data from DE only to EU regions, from CN
     only to cn-*, from RU only to ru-*; NO, IS and LI get GDPR although the geo
     database's EU flag is false for them; US-CA gets its own jurisdiction; an unknown or
     private address is refused with 451.

EXPECT below is the golden table of the shipped rules: a change to regions/ that changes a
decision must change it too, on purpose. It states region *sets* (and, where the rules
promise it, the first region), so it holds on both sides of a staged version's effective
date (US-CA changes its region order on 2027-01-01).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("DOMICILE_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
REGIONS_DIR = os.path.join(SOURCE_DIR, "regions")
BIN = os.environ.get("DOMICILE_BIN", "")
FIXTURES = os.environ.get("DOMICILE_FIXTURES", "")
GEO_DB = os.path.join(FIXTURES, "geo-test.mmdb")
GEO_TSV = os.path.join(FIXTURES, "geo-test.tsv")
CONSENT_HEADER = "domicile-consent"  # the gateway's default consent header (examples/domicile.yaml)

EU27 = set("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
EEA = EU27 | {"IS", "LI", "NO"}

ALL_REGIONS = {"eu-central", "eu-west", "uk-south", "ch-north", "us-east", "us-west", "ca-central", "br-south",
               "in-west", "ap-northeast", "sa-central", "vn-south", "cn-north", "cn-east", "ru-central"}
EU_REGIONS = {"eu-central", "eu-west"}
US_REGIONS = {"us-east", "us-west"}


def same(regions, first=None, marketing=None, telemetry=None):
    """A jurisdiction whose personal classes all use `regions` (ordered: first is the primary)."""
    personal = (set(regions), first)
    return {
        "account": personal,
        "content": personal,
        "device": personal,
        "marketing": (set(marketing), first) if marketing else personal,
        "telemetry": telemetry if telemetry else personal,
    }


# Jurisdiction -> class -> (allowed region set, required first region or None). Every class is
# routed (writes and reads alike) except where DENIED says otherwise; marketing needs consent.
EXPECT = {
    "EU-GDPR": same(["eu-central", "eu-west"], "eu-central", telemetry=(ALL_REGIONS, "eu-central")),
    "UK-GDPR": same(["uk-south", "eu-west"], "uk-south",
                    telemetry=({"uk-south", "eu-west", "eu-central"}, "uk-south")),
    # 2026-12 (from 2026-12-01): the US for certified recipients (Swiss-US DPF, DPO Annex 1), last.
    "CH-FADP": same(["ch-north", "eu-central", "eu-west", "us-east"], "ch-north", marketing=["ch-north", "eu-central"]),
    "US": same(["us-east", "us-west"], "us-east", telemetry=({"us-east", "us-west", "eu-central"}, "us-east")),
    # Staged: 2026-01 prefers us-east, 2027-01 (from 2027-01-01) prefers us-west; both stay in the US
    # for personal data. Telemetry may reach eu-central under 2026-01 only.
    "US-CA": same(["us-east", "us-west"], None, telemetry=({"us-east", "us-west", "eu-central"}, None)),
    "CA-PIPEDA": same(["ca-central", "us-east"], "ca-central"),
    "CA-QC": same(["ca-central"], "ca-central", telemetry=({"ca-central", "us-east"}, "ca-central")),
    "BR-LGPD": same(["br-south", "us-east"], "br-south"),
    "IN-DPDP": same(["in-west", "us-east"], "in-west"),
    "CN-PIPL": same(["cn-north", "cn-east"], "cn-north"),
    "RU-152FZ": same(["ru-central"], "ru-central"),
    "SA-PDPL": same(["sa-central"], "sa-central", telemetry=({"sa-central", "eu-central"}, "sa-central")),
    "VN-Decree-53": same(["vn-south"], "vn-south"),
    "JP-APPI": same(["ap-northeast", "eu-central"], "ap-northeast"),
    "GLOBAL": same(["us-east", "eu-central"], "us-east"),
    "TR-KVKK": same(["eu-central", "eu-west"], "eu-central", telemetry=({"eu-central", "eu-west", "us-east"}, "eu-central")),
    "KR-PIPA": same(["ap-northeast", "us-east"], "ap-northeast",
                    telemetry=({"ap-northeast", "us-east", "eu-central"}, "ap-northeast")),
    "AU-APP": same(["us-east", "eu-central"], "us-east"),
    "ID-PDP": same(["ap-northeast", "eu-central"], "ap-northeast",
                   telemetry=({"ap-northeast", "eu-central", "us-east"}, "ap-northeast")),
    "KZ-PDL": {"telemetry": ({"eu-central"}, "eu-central")},
    "DEFAULT": {"telemetry": ({"eu-central", "us-east"}, "eu-central")},
}
# Classes a jurisdiction refuses outright (451 with this reason), reads and writes alike.
DENIED = {
    "DEFAULT": {"account": "location_unknown", "content": "location_unknown", "device": "location_unknown",
                "marketing": "location_unknown"},
    # art. 12(2): personal databases in Kazakhstan, and the service has no region there
    "KZ-PDL": {c: "localisation_required" for c in ("account", "content", "device", "marketing")},
}

# Where each country of the test geo database must land: (jurisdiction, jurisdiction_source).
COUNTRY_JURISDICTION = {c: ("EU-GDPR", "group") for c in EEA}
COUNTRY_JURISDICTION.update({
    "CH": ("CH-FADP", "country"), "GB": ("UK-GDPR", "country"), "US": ("US", "country"),
    "CA": ("CA-PIPEDA", "country"), "BR": ("BR-LGPD", "country"), "IN": ("IN-DPDP", "country"),
    "CN": ("CN-PIPL", "country"), "RU": ("RU-152FZ", "country"), "SA": ("SA-PDPL", "country"),
    "VN": ("VN-Decree-53", "country"), "JP": ("JP-APPI", "country"), "AU": ("AU-APP", "country"),
})
# Countries with subdivision rules, for an address whose subdivision the database does not give: the
# country's rule and every subdivision rule of the country decide together (never the laxest).
JOINED_WITHOUT_SUBDIVISION = {"CA": ["CA-PIPEDA", "CA-QC"], "US": ["US", "US-CA"]}
SUBDIVISION_JURISDICTION = {"US-CA": ("US-CA", "subdivision"), "CA-QC": ("CA-QC", "subdivision")}

# One request per class (and one path no route names, which is content by default_class).
REQUESTS = [
    ("PUT", "/v1/account/me", "account"),
    ("PATCH", "/v1/profile/me", "account"),
    ("PUT", "/v1/sync/notes/1", "content"),
    ("POST", "/v1/files/photo.jpg", "content"),
    ("PUT", "/v1/devices/d1", "device"),
    ("POST", "/v1/crash", "telemetry"),
    ("POST", "/v1/telemetry/events", "telemetry"),
    ("POST", "/v1/marketing/subscribe", "marketing"),
    ("PUT", "/v1/notifications/settings", "marketing"),
    ("DELETE", "/v1/notifications/sub", "marketing"),  # unsubscribing never needs consent (GDPR art. 7(3))
    ("PUT", "/v1/unrouted/thing", "content"),
    ("GET", "/v1/account/me", "account"),
    ("GET", "/v1/files/photo.jpg", "content"),
]

# Addresses whose location is unknown: special-purpose ranges (whatever a database says) and a
# public address outside the test database's networks.
UNKNOWN_ADDRESSES = ["10.1.2.3", "192.168.1.1", "127.0.0.1", "100.64.0.1", "::1", "fd00::1", "9.9.9.9"]


# The golden table is checked at a fixed date, so a version staged for later cannot turn this test
# red on its effective date; test_residency_promises runs at the real date and holds at any date.
GOLDEN_NOW = "2026-12-01"


def run(args, timeout=60):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def jurisdiction_documents():
    """(file name, document text) for every jurisdiction version in regions/."""
    docs = []
    for name in sorted(os.listdir(REGIONS_DIR)):
        if not name.endswith(".yaml") or name.startswith("_"):
            continue
        with open(os.path.join(REGIONS_DIR, name), encoding="utf-8") as f:
            text = f.read()
        for doc in re.split(r"(?m)^---[ \t]*$", text):
            if doc.strip():
                docs.append((name, doc))
    return docs


def scalar(doc, key):
    m = re.search(r"(?m)^%s:[ \t]*(.*?)(?:[ \t]+#.*)?[ \t]*$" % re.escape(key), doc)
    return m.group(1).strip().strip('"') if m else None


def groups():
    """Group name -> set of codes, from the flow lists of _groups.yaml."""
    with open(os.path.join(REGIONS_DIR, "_groups.yaml"), encoding="utf-8") as f:
        text = re.sub(r"#[^\n]*", "", f.read())
    out = {}
    for m in re.finditer(r"(?m)^[ \t]+([A-Z0-9-]+):[ \t]*\[([^\]]*)\]", text):
        out[m.group(1)] = {c.strip().strip('"') for c in m.group(2).split(",") if c.strip()}
    return out


def direct_claims():
    """Countries claimed directly (not via a group) by some jurisdiction."""
    names = set(groups())
    out = set()
    for _, doc in jurisdiction_documents():
        v = scalar(doc, "applies_to")
        if v:
            out |= {c.strip() for c in v.strip("[]").split(",") if c.strip() and c.strip() not in names}
    return out


class RuleText(unittest.TestCase):
    """What a compliance reviewer checks by eye, checked by machine."""

    def test_every_jurisdiction_cites_its_law(self):
        docs = jurisdiction_documents()
        self.assertGreaterEqual(len(docs), 15)
        for name, doc in docs:
            where = "%s (%s)" % (name, scalar(doc, "jurisdiction"))
            self.assertTrue(scalar(doc, "law"), where + ": no law: citation")
            self.assertRegex(scalar(doc, "policy_url") or "", r"^https://example\.com/privacy#[a-z0-9-]+$", where)
            self.assertRegex(scalar(doc, "version") or "", r"^\d{4}-\d{2}$", where)
            self.assertRegex(doc.lstrip(), r"^#", where + ": no comment citing the law")

    def test_policy_urls_are_one_per_jurisdiction(self):
        url_of = {}
        for name, doc in jurisdiction_documents():
            j, url = scalar(doc, "jurisdiction"), scalar(doc, "policy_url")
            self.assertEqual(url_of.setdefault(j, url), url, "%s: %s has two policy links" % (name, j))
        self.assertEqual(len(set(url_of.values())), len(url_of), "two jurisdictions share a policy link")

    def test_staging_is_shown(self):
        docs = jurisdiction_documents()
        future = [d for _, d in docs if (scalar(d, "effective") or "").startswith("2027-")]
        self.assertTrue(future, "no version staged for 2027")
        self.assertTrue([d for _, d in docs if scalar(d, "mode") == "report"], "no version in report mode")
        self.assertEqual(sum(1 for _, d in docs if scalar(d, "default") == "true"), 1, "exactly one default")

    def test_every_claimed_country_is_covered_today(self):
        # A country taken out of REST-OF-WORLD for a file of its own must not fall to DEFAULT (fail closed for
        # personal data) until that file's first enforced version takes effect: it must be in effect already.
        import datetime
        today = datetime.date.today().isoformat()
        names = set(groups())
        first = {}
        for name, doc in jurisdiction_documents():
            if (scalar(doc, "mode") or "enforce") != "enforce":
                continue
            v = scalar(doc, "applies_to") or ""
            for c in (x.strip() for x in v.strip("[]").split(",")):
                if c and c not in names:
                    first[c] = min(first.get(c, "9999"), scalar(doc, "effective") or "9999")
        for c, eff in sorted(first.items()):
            self.assertLessEqual(eff, today, "%s has no enforced rule before %s: it would get DEFAULT" % (c, eff))

    def test_groups_do_not_overlap(self):
        g = groups()
        self.assertEqual(g["EU27"], EU27)
        self.assertEqual(g["EEA"], EEA, "EEA is EU-27 plus IS, LI, NO (never the geo database's EU flag)")
        row = g["REST-OF-WORLD"]
        for other in ("EEA", "EU-TERRITORIES"):
            self.assertFalse(row & g[other], "REST-OF-WORLD overlaps %s" % other)
        self.assertFalse(g["EEA"] & g["EU-TERRITORIES"])
        self.assertFalse(row & direct_claims(), "a country with its own jurisdiction is also in REST-OF-WORLD")
        # Every country the test geo database knows is covered by some jurisdiction.
        for c in set(COUNTRY_JURISDICTION):
            self.assertTrue(c in direct_claims() or c in row or c in EEA, c)


@unittest.skipUnless(BIN, "DOMICILE_BIN is not set")
class CheckAndCompile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="domicile-rules-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_check_passes(self):
        r = run([BIN, "rules", "check", REGIONS_DIR])
        self.assertEqual(r.returncode, 0, "rules check regions failed:\n" + r.stdout + r.stderr)
        # The shipped set is clean: not even a warning.
        self.assertNotRegex(r.stdout + r.stderr, r"\.yaml:\d+:\d+: ", "check printed diagnostics")

    def test_compile_writes_a_database(self):
        out = os.path.join(self.tmp, "rules.mdb")
        r = run([BIN, "rules", "compile", REGIONS_DIR, "-o", out])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreater(os.path.getsize(out), 0)

    def broken_copy(self, file, old, new):
        copy = os.path.join(self.tmp, "regions")
        shutil.copytree(REGIONS_DIR, copy)
        path = os.path.join(copy, file)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(old in text, "test out of date: %s no longer contains %r" % (file, old))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
        r = run([BIN, "rules", "check", copy])
        self.assertNotEqual(r.returncode, 0, "a broken copy passed the check (%s: %r -> %r)" % (file, old, new))
        self.assertRegex(r.stdout + r.stderr, r"\.yaml:\d+:\d+: ", "diagnostics are file:line:col")
        return r.stdout + r.stderr

    def test_country_claimed_twice_at_group_level_is_refused(self):
        # NZ is in REST-OF-WORLD; putting it in the EEA too would give it two group-level jurisdictions.
        self.broken_copy("_groups.yaml", 'IS, LI, "NO"]', 'IS, LI, "NO", NZ]')

    def test_uncovered_class_is_refused(self):
        out = self.broken_copy("cn-pipl.yaml", "  marketing: {", "  # marketing: {")
        self.assertIn("cn-pipl.yaml", out)

    def test_region_typo_is_refused(self):
        out = self.broken_copy("ru-152fz.yaml", "account:   { write: [ru-central] }",
                               "account:   { write: [ru-centrl] }")
        self.assertIn("ru-152fz.yaml", out)


def explain_available():
    if not BIN:
        return False, "DOMICILE_BIN is not set"
    r = run([BIN, "explain", "--help"])
    if "not built yet" in r.stderr:
        return False, "domicile explain is not built yet"
    return True, ""


EXPLAIN_OK, EXPLAIN_WHY = explain_available()


@unittest.skipUnless(EXPLAIN_OK, EXPLAIN_WHY)
class Decisions(unittest.TestCase):
    """`domicile explain` against the compiled shipped rules and the test geo database."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="domicile-rules-")
        cls.rules = os.path.join(cls.tmp, "rules.mdb")
        r = run([BIN, "rules", "compile", REGIONS_DIR, "-o", cls.rules])
        if r.returncode != 0:
            raise AssertionError("rules compile failed:\n" + r.stdout + r.stderr)
        if not (os.path.exists(GEO_DB) and os.path.exists(GEO_TSV)):
            raise AssertionError("fixtures missing: %s, %s (build the `fixtures` target)" % (GEO_DB, GEO_TSV))
        cls.rows = []
        with open(GEO_TSV, encoding="utf-8") as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                fields = line.rstrip("\n").split("\t")
                if fields[0] == "address":  # a header line
                    continue
                address, country, subdivision, in_eu = [x.strip() for x in (fields + ["", "", "", ""])[:4]]
                country = "" if country == "-" else country  # "-": the database has no value
                subdivision = "" if subdivision == "-" else subdivision
                cls.rows.append({"address": address, "country": country, "subdivision": subdivision,
                                 "in_eu": in_eu.strip().lower() in ("1", "true", "yes")})
        if not cls.rows:
            raise AssertionError("%s has no rows" % GEO_TSV)
        # a consent token for marketing, as the account system mints it (consent keys have the pin key format)
        cls.consent_keys = os.path.join(cls.tmp, "consent-keys")
        with open(cls.consent_keys, "w") as f:
            f.write("c1 %s\n" % ("42" * 32))
        os.chmod(cls.consent_keys, 0o600)
        r = run([BIN, "consent", "issue", "--keys", cls.consent_keys, "--id", "golden", "--subject", "u1",
                 "--scopes", "marketing", "--issued-at", "2026-01-01", "--expires", "2099-01-01"])
        if r.returncode != 0:
            raise AssertionError("consent issue failed:\n" + r.stderr)
        cls.consent_token = r.stdout.strip()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def explain(self, ip, method, path, headers=(), now=None):
        args = [BIN, "explain", "--geo-db", GEO_DB, "--rules", self.rules, "--ip", ip, "--method", method,
                "--path", path, "--json", "--consent-keys", self.consent_keys]
        if now is not None:
            args += ["--now", now]
        for h in headers:
            args += ["--header", h]
        r = run(args)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            self.fail("explain %s %s %s: no JSON (exit %d):\n%s%s" % (ip, method, path, r.returncode, r.stdout,
                                                                      r.stderr))
        # Exit 0 means a decision was made, route or reject (1: an input cannot be used, 2: usage).
        self.assertEqual(r.returncode, 0,
                         "explain %s %s %s exited %d:\n%s" % (ip, method, path, r.returncode, r.stderr))
        d["_regions"] = [x["name"] if isinstance(x, dict) else x for x in (d.get("regions") or [])]
        return d

    def expect_jurisdiction(self, row):
        if not row["country"]:  # rows for addresses the fixture leaves unknown (special ranges)
            return ("DEFAULT", "default")
        if row["subdivision"] in SUBDIVISION_JURISDICTION:
            return SUBDIVISION_JURISDICTION[row["subdivision"]]
        self.assertIn(row["country"], COUNTRY_JURISDICTION, "the golden table does not know %s" % row["country"])
        return COUNTRY_JURISDICTION[row["country"]]

    def check_decision(self, where, d, jur, method, path, cls, consent):
        self.assertEqual(d.get("class"), cls, where)
        self.assertEqual(d.get("access"), "read" if method in ("GET", "HEAD", "OPTIONS") else "write", where)
        if cls in DENIED.get(jur, {}):
            self.assertEqual((d.get("action"), d.get("status"), d.get("reason")), ("reject", 451, DENIED[jur][cls]),
                             where)
            self.assertEqual(d["_regions"], [], where)
            return
        if cls == "marketing" and not consent and method != "DELETE":
            self.assertEqual((d.get("action"), d.get("status"), d.get("reason")), ("reject", 403, "consent_required"),
                             where)
            return
        allowed, first = EXPECT[jur][cls]
        for j in (d.get("jurisdictions") or [])[1:]:  # intersected with every joined jurisdiction's set
            allowed = allowed & EXPECT[j["jurisdiction"]][cls][0]
        self.assertEqual(d.get("action"), "route", "%s: %r" % (where, d))
        # Crash reports and system activity are anonymised in every jurisdiction, and only they are.
        self.assertEqual(d.get("anonymize"), cls == "telemetry", where + ": anonymize")
        self.assertTrue(d["_regions"], where + ": routed to no region")
        self.assertLessEqual(set(d["_regions"]), allowed, where + ": a region the rules do not allow")
        if first is not None:
            self.assertEqual(d["_regions"][0], first, where + ": primary region")

    def test_every_country_every_class(self):
        for row in self.rows:
            jur, source = self.expect_jurisdiction(row)
            for method, path, cls in REQUESTS:
                for consent in ((False, True) if cls == "marketing" else (False,)):
                    headers = ["%s: %s" % (CONSENT_HEADER, self.consent_token)] if consent else []
                    where = "%s (%s %s) %s %s consent=%s" % (row["address"], row["country"], row["subdivision"],
                                                            method, path, consent)
                    with self.subTest(where=where):
                        d = self.explain(row["address"], method, path, headers, now=GOLDEN_NOW)
                        geo = d.get("geo") or {}
                        self.assertEqual(geo.get("country") or "", row["country"], where)
                        self.assertEqual(geo.get("subdivision") or "", row["subdivision"], where)
                        self.assertEqual(bool(geo.get("in_eu")), row["in_eu"], where)
                        self.assertEqual((d.get("jurisdiction"), d.get("jurisdiction_source")), (jur, source), where)
                        joined = JOINED_WITHOUT_SUBDIVISION.get(row["country"]) if not row["subdivision"] else None
                        self.assertEqual([j["jurisdiction"] for j in d.get("jurisdictions") or []],
                                         joined or ([jur] if d.get("jurisdiction") else []), where)
                        self.assertRegex(d.get("rule_version") or "", r"^\d{4}-\d{2}$", where)
                        self.check_decision(where, d, jur, method, path, cls, consent)

    def test_residency_promises(self):
        """The headline promises, stated on their own so a failure reads as the broken promise."""
        seen = set()
        for row in self.rows:
            d = self.explain(row["address"], "PUT", "/v1/account/me")
            regions, c = d["_regions"], row["country"]
            seen.add(row["subdivision"] or c)
            if c in EEA:
                self.assertTrue(regions and set(regions) <= EU_REGIONS,
                                "%s account data left the EU: %r" % (c, regions))
                self.assertEqual(d["jurisdiction"], "EU-GDPR", c)
            if c in ("NO", "IS", "LI"):
                self.assertFalse(d["geo"].get("in_eu"), "%s: the fixture should have in_eu false" % c)
                self.assertEqual(d["jurisdiction"], "EU-GDPR", "%s gets GDPR although its EU flag is false" % c)
            if c == "CN":
                self.assertTrue(regions and all(r.startswith("cn-") for r in regions),
                                "CN account data left China: %r" % regions)
                t = self.explain(row["address"], "POST", "/v1/crash")
                self.assertTrue(t["_regions"] and all(r.startswith("cn-") for r in t["_regions"]),
                                "CN telemetry left China: %r" % t["_regions"])
            if c == "RU":
                self.assertTrue(regions and all(r.startswith("ru-") for r in regions),
                                "RU account data left Russia: %r" % regions)
            if c == "VN":
                self.assertEqual(regions, ["vn-south"])
            if row["subdivision"] == "US-CA":
                self.assertEqual((d["jurisdiction"], d["jurisdiction_source"]), ("US-CA", "subdivision"))
                self.assertTrue(regions and set(regions) <= US_REGIONS)
            elif c == "US":
                self.assertEqual((d["jurisdiction"], d["jurisdiction_source"]), ("US", "country"), row)
        # The fixture must have given us the countries these promises are about.
        for must in ("DE", "NO", "IS", "LI", "CN", "RU", "US-CA", "VN"):
            self.assertIn(must, seen, "the geo fixture has no %s address" % must)

    def us_ca_address(self):
        for row in self.rows:
            if row["subdivision"] == "US-CA":
                return row["address"]
        self.fail("the geo fixture has no US-CA address")

    def test_us_ca_change_is_watched_then_applied(self):
        """us-ca-ccpa.yaml: 2026-01 enforced; 2027-01 reported from 2026-10-01, enforced from 2027-01-01."""
        ip = self.us_ca_address()
        before = self.explain(ip, "PUT", "/v1/sync/x", now="2026-06-01")
        self.assertEqual((before["jurisdiction"], before["rule_version"]), ("US-CA", "2026-01"))
        self.assertEqual(before["_regions"], ["us-east", "us-west"])
        self.assertIsNone(before.get("report"), "nothing is watched before 2026-10-01")

        watched = self.explain(ip, "PUT", "/v1/sync/x", now="2026-12-01")
        self.assertEqual((watched["jurisdiction"], watched["rule_version"]), ("US-CA", "2026-01"), "report never bites")
        self.assertEqual(watched["_regions"], ["us-east", "us-west"])
        report = watched.get("report") or {}
        self.assertEqual((report.get("jurisdiction"), report.get("rule_version")), ("US-CA", "2027-01"))
        self.assertEqual(report.get("regions"), ["us-west", "us-east"])
        self.assertTrue(report.get("differs"))
        crash = self.explain(ip, "POST", "/v1/crash", now="2026-12-01")
        self.assertEqual(crash["_regions"], ["us-east", "us-west", "eu-central"])
        self.assertEqual((crash.get("report") or {}).get("regions"), ["us-west", "us-east"])

        after = self.explain(ip, "PUT", "/v1/sync/x", now="2027-01-01")
        self.assertEqual((after["jurisdiction"], after["rule_version"]), ("US-CA", "2027-01"))
        self.assertEqual(after["_regions"], ["us-west", "us-east"])
        self.assertIsNone(after.get("report"), "the watched version is older than the enforced one now")
        crash = self.explain(ip, "POST", "/v1/crash", now="2027-01-01")
        self.assertEqual(crash["_regions"], ["us-west", "us-east"], "California telemetry stays in the US from 2027")

    def test_unknown_location_fails_closed(self):
        for ip in UNKNOWN_ADDRESSES:
            for method, path, cls in REQUESTS:
                where = "%s %s %s" % (ip, method, path)
                with self.subTest(where=where):
                    d = self.explain(ip, method, path, now=GOLDEN_NOW)
                    self.assertFalse((d.get("geo") or {}).get("country"), where + ": expected an unknown location")
                    self.assertEqual((d.get("jurisdiction"), d.get("jurisdiction_source")), ("DEFAULT", "default"),
                                     where)
                    self.check_decision(where, d, "DEFAULT", method, path, cls, consent=True)
                    if cls != "telemetry":
                        self.assertEqual(d.get("status"), 451, where)
                        self.assertEqual(d.get("reason"), "location_unknown", where)


if __name__ == "__main__":
    unittest.main(verbosity=2)
