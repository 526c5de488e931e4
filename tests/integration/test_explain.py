#!/usr/bin/env python3
"""`domicile explain` end to end: the real binary, the test geo database
($DOMICILE_FIXTURES/geo-test.mmdb) and the policy fixture rules (tests/fixtures/policy/,
compiled here with `domicile rules compile`).

Checks: country and EU flag for IPv4, IPv6 and IPv4-mapped addresses (every network of
geo-test.tsv); special-purpose addresses come out unknown; pins change the jurisdiction and
bad pins give 400/401; X-Forwarded-For and Forwarded through a trusted --ip resolve; consent,
staged rules and report mode; -c CONFIG; exit statuses; JSON escaping; the text form.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("DOMICILE_BIN", "domicile")
FIXTURES = os.environ.get("DOMICILE_FIXTURES", "")
SOURCE = os.environ.get("DOMICILE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
GEO_DB = os.path.join(FIXTURES, "geo-test.mmdb")
RULES_DIR = os.path.join(SOURCE, "tests", "fixtures", "policy")

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
NOW = 1750000000  # 2025-06-15: EU-GDPR "2025-01" is in force, the 2026 versions are staged
T1 = "2026-01-20"  # EU-GDPR "2026-01" takes effect
T2 = "2026-07-01"  # EU-GDPR "2026-07" (report mode) takes effect


def make_pin(jurisdiction, expiry=NOW + 86400, kid="k1", key=KEY):
    msg = "v1.%s.%s.%d" % (kid, jurisdiction, expiry)
    mac = hmac.new(key, msg.encode(), hashlib.sha256).digest()
    return msg + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class ExplainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(GEO_DB):
            raise unittest.SkipTest("no %s (build the fixtures target)" % GEO_DB)
        cls.tmp = tempfile.mkdtemp(prefix="domicile-explain-")
        cls.rules = os.path.join(cls.tmp, "rules.mdb")
        r = subprocess.run([BIN, "rules", "compile", RULES_DIR, "-o", cls.rules], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("rules compile failed: %s%s" % (r.stdout, r.stderr))
        cls.keys = os.path.join(cls.tmp, "pin-keys")
        with open(cls.keys, "w") as f:
            f.write("# test keys\nk1 %s\nk2 %s\n" % (KEY.hex(), OTHER_KEY.hex()))
        os.chmod(cls.keys, 0o600)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----

    def run_explain(self, *args, geo=True, rules=True, now=NOW):
        argv = [BIN, "explain"]
        if geo:
            argv += ["--geo-db", GEO_DB]
        if rules:
            argv += ["--rules", self.rules]
        if now is not None:
            argv += ["--now", str(now)]
        argv += list(args)
        return subprocess.run(argv, capture_output=True, timeout=30)

    def explain(self, *args, **kw):
        r = self.run_explain("--json", *args, **kw)
        self.assertEqual(r.returncode, 0, "explain %s failed: %s" % (args, r.stderr.decode(errors="replace")))
        return json.loads(r.stdout.decode("utf-8"))

    # ---- geolocation ----

    def test_every_network_of_the_test_database(self):
        tsv = os.path.join(FIXTURES, "geo-test.tsv")
        with open(tsv) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip() and not line.startswith("#")]
        self.assertGreater(len(rows), 50)
        for addr, country, subdivision, in_eu in rows:
            with self.subTest(addr=addr):
                d = self.explain("--ip", addr, "--method", "GET", "--path", "/v1/sync/x")
                self.assertEqual(d["geo"]["country"], None if country == "-" else country)
                self.assertEqual(d["geo"]["subdivision"], None if subdivision == "-" else subdivision)
                self.assertIs(d["geo"]["in_eu"], in_eu == "1")
                self.assertEqual(d["client"]["source"], "peer")

    def test_ipv4_ipv6_and_mapped(self):
        for addr, country, in_eu in [
            ("5.1.2.3", "DE", True),
            ("2a00:1::1", "DE", True),
            ("::ffff:5.1.2.3", "DE", True),
            ("5.4.0.1", "NO", False),
            ("2a00:4:ffff::1", "NO", False),
            ("5.21.9.9", "AT", True),
            ("2a00:15::abcd", "AT", True),
            ("::ffff:5.21.0.1", "AT", True),
            ("5.8.0.1", "GB", False),
        ]:
            with self.subTest(addr=addr):
                d = self.explain("--ip", addr)
                self.assertEqual(d["geo"]["country"], country)
                self.assertIs(d["geo"]["in_eu"], in_eu)
                self.assertEqual(d["geo"]["source"], "database")
        d = self.explain("--ip", "::ffff:5.1.2.3")
        self.assertEqual(d["client"]["address"], "5.1.2.3")  # mapped addresses are unmapped

    def test_special_purpose_addresses_are_unknown(self):
        # the test database maps each of these to a country on purpose
        for addr in ["10.1.2.3", "127.0.0.1", "192.0.2.10", "100.64.1.2", "fd00::1", "::ffff:10.1.2.3"]:
            with self.subTest(addr=addr):
                d = self.explain("--ip", addr, "--method", "PUT", "--path", "/v1/sync/x")
                self.assertIsNone(d["geo"]["country"])
                self.assertIsNone(d["geo"]["subdivision"])
                self.assertIs(d["geo"]["in_eu"], False)
                self.assertEqual(d["geo"]["source"], "special")
                self.assertEqual(d["jurisdiction"], "DEFAULT")
                self.assertEqual(d["jurisdiction_source"], "default")
                self.assertEqual(d["action"], "reject")
                self.assertEqual(d["status"], 451)
                self.assertEqual(d["reason"], "location_unknown")

    def test_address_not_in_database(self):
        d = self.explain("--ip", "6.1.2.3")
        self.assertIsNone(d["geo"]["country"])
        self.assertEqual(d["geo"]["source"], "none")
        self.assertEqual(d["jurisdiction"], "DEFAULT")

    def test_without_geo_database_location_is_unknown(self):
        d = self.explain("--ip", "5.1.2.3", geo=False)
        self.assertIsNone(d["geo"]["country"])
        self.assertEqual(d["geo"]["source"], "none")
        self.assertIsNone(d["geo"]["database"])
        self.assertEqual(d["jurisdiction"], "DEFAULT")
        r = self.run_explain("--ip", "5.1.2.3", geo=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"no geo database", r.stdout)

    # ---- the levels ----

    def test_levels(self):
        cases = [
            ("5.9.0.1", "US-CCPA", "subdivision", ["us-west", "us-east"]),
            ("2a00:9::1", "US-CCPA", "subdivision", ["us-west", "us-east"]),
            ("5.10.0.1", "US-FED", "country", ["us-east", "us-west"]),  # US-NY: no rule, so the country
            ("5.11.0.1", "US-FED", "country", ["us-east", "us-west"]),
            ("5.1.0.1", "DE-BDSG", "country", ["eu-central"]),  # country beats the EEA group
            ("5.21.0.1", "EU-GDPR", "group", ["eu-central", "eu-west"]),
            ("5.3.0.1", "EU-GDPR", "group", ["eu-central", "eu-west"]),
        ]
        for addr, jurisdiction, source, regions in cases:
            with self.subTest(addr=addr):
                d = self.explain("--ip", addr, "--method", "PUT", "--path", "/v1/account/me")
                self.assertEqual(d["jurisdiction"], jurisdiction)
                self.assertEqual(d["jurisdiction_source"], source)
                self.assertEqual(d["action"], "route")
                self.assertEqual(d["status"], 200)
                self.assertEqual(d["reason"], "routed")
                self.assertEqual(d["regions"], regions)
                self.assertEqual(d["class"], "account")
                self.assertEqual(d["access"], "write")
                self.assertIsNotNone(d["policy_url"])

    def test_class_access_and_deny(self):
        d = self.explain("--ip", "5.9.0.1", "--method", "GET", "--path", "/v1/account/me?x=1")
        self.assertEqual(d["access"], "read")
        self.assertEqual(d["regions"], ["us-west"])  # US-CCPA's read list
        self.assertEqual(d["request"]["path"], "/v1/account/me")  # the query string is not part of the path
        d = self.explain("--ip", "5.11.0.1", "--method", "DELETE", "--path", "/v1/device/1")
        self.assertEqual((d["action"], d["status"], d["reason"], d["class"]), ("reject", 451, "embargo", "device"))
        self.assertEqual(d["regions"], [])
        d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/telemetry/crash")
        self.assertIs(d["anonymize"], True)
        self.assertEqual(d["regions"], ["eu-central", "eu-west", "us-east", "us-west"])
        self.assertEqual(d["on_unavailable"], "next_region")

    def test_path_is_canonical_like_the_gateway(self):
        for raw, path, cls in [
            ("/v1/sync/../account/x?q=1", "/v1/account/x", "account"),
            ("/v1/%61ccount/me", "/v1/account/me", "account"),
            ("/v1/./device/1", "/v1/device/1", "device"),
            ("//v1//account", "/v1/account", "account"),  # merged slashes, as nginx reads them
            ("/v1/accounting", "/v1/accounting", "content"),  # prefixes match whole segments
            ("/v1/account;v=1/x", "/v1/account;v=1/x", "account"),  # a ';' ends the segment for matching
        ]:
            with self.subTest(raw=raw):
                d = self.explain("--ip", "5.21.0.1", "--method", "PUT", "--path", raw)
                self.assertEqual((d["request"]["raw_path"], d["request"]["path"], d["class"]), (raw, path, cls))
                self.assertIsNone(d["request"]["path_refused"])
        # what cannot be canonicalised without guessing is refused, as the gateway refuses it
        for raw in ["/../../v1/account", "/v1/crash/%2e%2e/account", "/v1/a%2fb", "relative", "*",
                    "http://host/v1/x", "/v1/x\\y", "/v1/%c0%ae%c0%ae/x", "/v1/crash/..;/account"]:
            with self.subTest(raw=raw):
                d = self.explain("--ip", "5.21.0.1", "--method", "PUT", "--path", raw)
                self.assertEqual((d["action"], d["status"], d["reason"]), ("reject", 400, "non_canonical_path"))
                self.assertIsNone(d["request"]["path"])
                self.assertIsNone(d["class"])
                self.assertTrue(d["request"]["path_refused"])

    def test_consent(self):
        d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/notifications")
        self.assertEqual((d["class"], d["status"], d["reason"]), ("marketing", 403, "consent_required"))
        for value in ["marketing", " Marketing ", "account, MARKETING", "*"]:
            with self.subTest(value=value):
                d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/notifications",
                                 "--header", "Domicile-Consent: " + value)
                self.assertEqual(d["action"], "route")
                self.assertEqual(d["regions"], ["eu-central"])
        d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/notifications",
                         "--header", "domicile-consent: marketingx")
        self.assertEqual(d["status"], 403)
        # like the gateway, only the first consent header counts
        d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/notifications",
                         "--header", "domicile-consent: account", "--header", "domicile-consent: marketing")
        self.assertEqual(d["status"], 403)
        d = self.explain("--ip", "5.21.0.1", "--method", "POST", "--path", "/v1/notifications",
                         "--header", "domicile-consent: marketing", "--header", "domicile-consent: account")
        self.assertEqual(d["action"], "route")

    def test_staged_versions_and_report_mode(self):
        args = ("--ip", "5.21.0.1", "--method", "PUT", "--path", "/v1/sync/x")
        d = self.explain(*args, now="2026-01-19")
        self.assertEqual((d["rule_version"], d["regions"]), ("2025-01", ["eu-central", "eu-west"]))
        self.assertIsNone(d["report"])
        d = self.explain(*args, now=T1)
        self.assertEqual((d["rule_version"], d["regions"]), ("2026-01", ["eu-west", "eu-central"]))
        self.assertEqual(d["rule_effective"], T1)
        d = self.explain(*args, now=T2)
        self.assertEqual(d["rule_version"], "2026-01")
        self.assertEqual(d["regions"], ["eu-west", "eu-central"])
        rep = d["report"]
        self.assertEqual((rep["jurisdiction"], rep["rule_version"]), ("EU-GDPR", "2026-07"))
        self.assertEqual((rep["action"], rep["regions"], rep["differs"]), ("route", ["eu-west"], True))
        # France: the country rule is report-only; enforced from the group, reported from the country
        d = self.explain("--ip", "5.2.0.1", "--method", "PUT", "--path", "/v1/sync/x")
        self.assertEqual((d["jurisdiction"], d["jurisdiction_source"], d["action"]), ("EU-GDPR", "group", "route"))
        rep = d["report"]
        self.assertEqual((rep["jurisdiction"], rep["jurisdiction_source"]), ("FR-REPORT", "country"))
        self.assertEqual((rep["action"], rep["status"], rep["reason"], rep["differs"]), ("reject", 451, "fr_test", True))

    # ---- pins ----

    def test_pins_change_the_jurisdiction(self):
        pin = make_pin("CORP-OFFICE")
        for how in (["--pin", pin], ["--header", "domicile-pin: " + pin], ["--header", "Domicile-Pin:" + pin]):
            with self.subTest(how=how[0]):
                d = self.explain("--ip", "5.1.2.3", "--method", "PUT", "--path", "/v1/account/me",
                                 "--pin-keys", self.keys, *how)
                self.assertEqual(d["geo"]["country"], "DE")  # located, but the pin wins
                self.assertEqual(d["jurisdiction"], "CORP-OFFICE")
                self.assertEqual(d["jurisdiction_source"], "pin")
                self.assertEqual(d["regions"], ["us-west"])
                self.assertEqual(d["pin"]["status"], "valid")
        # a pin also works from an unknown location
        d = self.explain("--ip", "10.1.2.3", "--pin-keys", self.keys, "--pin", make_pin("US-FED", kid="k2", key=OTHER_KEY))
        self.assertEqual((d["jurisdiction"], d["jurisdiction_source"]), ("US-FED", "pin"))

    def test_bad_pins_are_refused(self):
        cases = [
            ("garbage", 400, "pin_malformed"),
            ("v1.k1.EU-GDPR.1", 400, "pin_malformed"),
            (make_pin("EU-GDPR", kid="nokey"), 401, "pin_unknown_key"),
            (make_pin("EU-GDPR", key=OTHER_KEY), 401, "pin_bad_signature"),
            (make_pin("EU-GDPR", expiry=NOW - 1), 401, "pin_expired"),
        ]
        for token, status, reason in cases:
            with self.subTest(reason=reason, token=token):
                d = self.explain("--ip", "5.1.2.3", "--pin-keys", self.keys, "--pin", token)
                self.assertEqual((d["action"], d["status"], d["reason"]), ("reject", status, reason))
                self.assertIsNone(d["jurisdiction"])  # never replaced by geolocation
                self.assertEqual(d["regions"], [])
        # a genuine pin naming a jurisdiction the rules do not enforce
        d = self.explain("--ip", "5.1.2.3", "--pin-keys", self.keys, "--pin", make_pin("ATLANTIS"))
        self.assertEqual((d["status"], d["reason"], d["jurisdiction_source"]), (451, "pin_unknown_jurisdiction", "pin"))
        # without a key file every pin is signed with an unknown key
        d = self.explain("--ip", "5.1.2.3", "--pin", make_pin("EU-GDPR"))
        self.assertEqual((d["status"], d["reason"]), (401, "pin_unknown_key"))
        # like the gateway, the first pin header counts; --pin and a pin header together are a usage error
        d = self.explain("--ip", "5.1.2.3", "--pin-keys", self.keys, "--header", "domicile-pin: garbage",
                         "--header", "domicile-pin: " + make_pin("US-FED"))
        self.assertEqual((d["status"], d["reason"]), (400, "pin_malformed"))
        r = self.run_explain("--ip", "5.1.2.3", "--pin", make_pin("US-FED"), "--header", "domicile-pin: x")
        self.assertEqual(r.returncode, 2)

    # ---- forwarding headers ----

    def test_forwarded_for_through_a_trusted_peer(self):
        d = self.explain("--ip", "10.0.0.1", "--trusted", "10.0.0.0/8", "--header", "X-Forwarded-For: 5.1.2.3")
        self.assertEqual(d["client"]["address"], "5.1.2.3")
        self.assertEqual(d["client"]["source"], "x-forwarded-for")
        self.assertEqual(d["client"]["peer"], "10.0.0.1")
        self.assertEqual(d["geo"]["country"], "DE")
        self.assertEqual(d["jurisdiction"], "DE-BDSG")
        # a chain: the rightmost untrusted hop wins
        d = self.explain("--ip", "10.0.0.1", "--trusted", "10.0.0.0/8",
                         "--header", "X-Forwarded-For: 5.8.0.1, 5.21.0.1, 10.9.9.9")
        self.assertEqual(d["client"]["address"], "5.21.0.1")
        self.assertEqual(d["geo"]["country"], "AT")
        # IPv6 in RFC 7239 Forwarded
        d = self.explain("--ip", "::1", "--trusted", "::1/128", "--header", 'Forwarded: for="[2a00:9::1]:443"')
        self.assertEqual((d["client"]["address"], d["client"]["source"]), ("2a00:9::1", "forwarded"))
        self.assertEqual(d["geo"]["subdivision"], "US-CA")
        self.assertEqual(d["jurisdiction"], "US-CCPA")

    def test_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        d = self.explain("--ip", "5.2.0.1", "--header", "X-Forwarded-For: 5.1.2.3")
        self.assertEqual((d["client"]["address"], d["client"]["source"]), ("5.2.0.1", "peer"))
        self.assertEqual(d["geo"]["country"], "FR")
        d = self.explain("--ip", "5.2.0.1", "--trusted", "10.0.0.0/8", "--header", "X-Forwarded-For: 5.1.2.3")
        self.assertEqual(d["client"]["address"], "5.2.0.1")

    def test_hidden_client_is_unknown(self):
        d = self.explain("--ip", "10.0.0.1", "--trusted", "10.0.0.0/8", "--header", "Forwarded: for=_hidden",
                         "--method", "PUT", "--path", "/v1/sync/x")
        self.assertIs(d["client"]["hidden"], True)
        self.assertEqual((d["jurisdiction"], d["status"]), ("DEFAULT", 451))

    def test_malformed_forwarding_header_falls_back_to_the_peer(self):
        d = self.explain("--ip", "10.0.0.1", "--trusted", "10.0.0.0/8", "--header", "X-Forwarded-For: 5.1.2.3.4")
        self.assertEqual((d["client"]["address"], d["client"]["source"]), ("10.0.0.1", "peer"))
        self.assertIs(d["client"]["malformed"], True)
        self.assertIsNone(d["geo"]["country"])

    # ---- the config file ----

    def write_config(self, extra=""):
        path = os.path.join(self.tmp, "domicile.yaml")
        with open(path, "w") as f:
            f.write(
                "listen:\n"
                "  - address: \"127.0.0.1:18080\"\n"
                "trusted_proxies: [\"10.0.0.0/8\"]\n"
                "geo:\n"
                "  database: %s\n"
                "overrides:\n"
                "  - { cidr: \"198.51.100.0/24\", country: AT }\n"
                "  - { cidr: \"203.0.113.0/24\", jurisdiction: CORP-OFFICE }\n"
                "rules: %s\n"
                "pins:\n"
                "  header: x-my-pin\n"
                "  keys: %s\n"
                "consent_header: x-my-consent\n"
                "clusters:\n"
                "  - name: west-1\n"
                "    region: eu-west\n"
                "    nodes: [\"http://127.0.0.1:9102\"]\n"
                "  - name: central-1\n"
                "    region: eu-central\n"
                "    nodes: [\"http://127.0.0.1:9101\"]\n" % (GEO_DB, self.rules, self.keys) + extra
            )
        return path

    def test_config(self):
        cfg = self.write_config()
        r = subprocess.run([BIN, "explain", "-c", cfg, "--ip", "10.0.0.1", "--header", "X-Forwarded-For: 5.21.0.1",
                            "--method", "PUT", "--path", "/v1/sync/x", "--now", str(NOW), "--json"],
                           capture_output=True, timeout=30)
        if r.returncode == 2 and b"not supported" in r.stderr:
            self.skipTest("explain -c not supported by this build")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual((d["client"]["address"], d["geo"]["country"], d["jurisdiction"]), ("5.21.0.1", "AT", "EU-GDPR"))
        self.assertEqual(d["regions"], ["eu-central", "eu-west"])
        self.assertEqual(d["cluster"], "central-1")
        # overrides from the config: country, and straight to a jurisdiction
        base = [BIN, "explain", "-c", cfg, "--now", str(NOW), "--json", "--method", "PUT", "--path", "/v1/account/x"]
        d = json.loads(subprocess.run(base + ["--ip", "198.51.100.7"], capture_output=True, check=True).stdout)
        self.assertEqual((d["geo"]["source"], d["geo"]["country"]), ("override", "AT"))
        self.assertEqual((d["jurisdiction"], d["jurisdiction_source"]), ("EU-GDPR", "override"))
        d = json.loads(subprocess.run(base + ["--ip", "203.0.113.9"], capture_output=True, check=True).stdout)
        self.assertEqual((d["jurisdiction"], d["jurisdiction_source"], d["regions"]), ("CORP-OFFICE", "override", ["us-west"]))
        self.assertIsNone(d["cluster"])  # no cluster serves us-west
        # the config's pin and consent header names
        d = json.loads(subprocess.run(base + ["--ip", "5.1.2.3", "--header", "X-My-Pin: " + make_pin("US-FED")],
                                      capture_output=True, check=True).stdout)
        self.assertEqual((d["jurisdiction"], d["jurisdiction_source"]), ("US-FED", "pin"))
        d = json.loads(subprocess.run([BIN, "explain", "-c", cfg, "--now", str(NOW), "--json", "--ip", "5.21.0.1",
                                       "--method", "POST", "--path", "/v1/notifications",
                                       "--header", "x-my-consent: marketing"], capture_output=True, check=True).stdout)
        self.assertEqual(d["action"], "route")
        # command-line flags win over the config
        d = json.loads(subprocess.run(base + ["--ip", "5.1.2.3", "--geo-db", os.path.join(FIXTURES, "geo-flat.mmdb")],
                                      capture_output=True, check=True).stdout)
        self.assertEqual(d["geo"]["country"], "DE")
        self.assertTrue(d["geo"]["database"].endswith("geo-flat.mmdb"))
        # the text form names the cluster
        r = subprocess.run([BIN, "explain", "-c", cfg, "--now", str(NOW), "--ip", "5.21.0.1", "--method", "PUT",
                            "--path", "/v1/sync/x"], capture_output=True, check=True)
        self.assertIn(b"central-1", r.stdout)
        # the config's warnings (regions no cluster serves) are counted in one line; --verbose prints them
        lines = r.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r"^domicile explain: .* has \d+ warnings? \(--verbose shows them")
        n = int(lines[0].split(" has ")[1].split()[0])
        r = subprocess.run([BIN, "explain", "-c", cfg, "--now", str(NOW), "--ip", "5.21.0.1", "--verbose"],
                           capture_output=True, check=True)
        warnings = [x for x in r.stderr.decode().splitlines() if ": warning: " in x]
        self.assertEqual(len(warnings), n, r.stderr)
        self.assertEqual(len(r.stderr.decode().splitlines()), n, r.stderr)
        # a broken config is an unusable input
        bad = os.path.join(self.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("listen: [\n")
        r = subprocess.run([BIN, "explain", "-c", bad, "--ip", "5.1.2.3"], capture_output=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"bad.yaml", r.stderr)

    # ---- output ----

    def test_text_output(self):
        r = self.run_explain("--ip", "5.21.0.1", "--method", "PUT", "--path", "/v1/sync/x", now=T2)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        for want in ["5.21.0.1", "AT", "in the EU", "EU-GDPR", "2026-01", "group", "content", "write",
                     "ROUTE", "eu-west, eu-central", "Regulation (EU) 2016/679", "https://example.com/privacy#eea",
                     "2026-07", "DIFFERS"]:
            self.assertIn(want, out)
        r = self.run_explain("--ip", "5.1.2.3", "--pin", "garbage")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"REJECT 400 pin_malformed", r.stdout)

    def test_json_escaping(self):
        path = '/v1/sync/"quoted"\\back\x01\x1f\ttab/\u00e9t\u00e9'
        d = self.explain("--ip", "5.1.2.3", "--path", path)
        self.assertEqual(d["request"]["raw_path"], path)
        self.assertEqual(d["reason"], "non_canonical_path")  # control bytes and backslashes are refused
        path = '/v1/sync/"quoted"/\u00e9t\u00e9'
        d = self.explain("--ip", "5.1.2.3", "--path", path)
        self.assertEqual(d["request"]["path"], path)
        # invalid UTF-8 in the path becomes U+FFFD: the output stays valid JSON
        r = subprocess.run([BIN.encode(), b"explain", b"--json", b"--rules", self.rules.encode(), b"--ip", b"5.1.2.3",
                            b"--path", b"/v1/sync/\xff\xc3("], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout.decode("utf-8"))
        self.assertEqual(d["request"]["raw_path"], "/v1/sync/\ufffd\ufffd(")
        # text form: control bytes are shown escaped, not sent to the terminal
        r = self.run_explain("--ip", "5.1.2.3", "--path", "/x\x1b[31m")
        self.assertNotIn(b"\x1b", r.stdout)

    # ---- exit statuses ----

    def test_usage_errors(self):
        for args in (
            [],
            ["--rules", "x"],  # no --ip
            ["--ip", "5.1.2.3"],  # no --rules
            ["--ip", "5.1.2", "--rules", "x"],
            ["--ip", "010.1.2.3", "--rules", "x"],
            ["--ip", "5.1.2.3", "--rules", "x", "--bogus"],
            ["--ip", "5.1.2.3", "--rules", "x", "--method"],
            ["--ip", "5.1.2.3", "--rules", "x", "--method", "PU T"],
            ["--ip", "5.1.2.3", "--rules", "x", "--header", "no colon"],
            ["--ip", "5.1.2.3", "--rules", "x", "--trusted", "10.0.0.1/8"],
            ["--ip", "5.1.2.3", "--rules", "x", "--now", "2026-02-30"],
            ["--ip", "5.1.2.3", "--rules", "x", "--now", "tomorrow"],
        ):
            with self.subTest(args=args):
                r = subprocess.run([BIN, "explain"] + args, capture_output=True)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.startswith(b"domicile explain: "), r.stderr)
        r = subprocess.run([BIN, "explain", "--help"], capture_output=True)
        self.assertEqual(r.returncode, 0)
        for flag in [b"--geo-db", b"--rules", b"--ip", b"--method", b"--path", b"--pin", b"--header", b"--json", b"-c"]:
            self.assertIn(flag, r.stdout)

    def test_unusable_inputs(self):
        missing = os.path.join(self.tmp, "missing.mmdb")
        for args, want in [
            (["--geo-db", missing, "--rules", self.rules], b"missing.mmdb"),
            (["--geo-db", os.path.join(FIXTURES, "geo-not-mmdb.mmdb"), "--rules", self.rules], b"geo-not-mmdb.mmdb"),
            (["--geo-db", os.path.join(FIXTURES, "geo-empty.mmdb"), "--rules", self.rules], b"geo-empty.mmdb"),
            (["--rules", os.path.join(self.tmp, "missing.mdb")], b"missing.mdb"),
            (["--rules", GEO_DB], b"geo-test.mmdb"),  # not a rules database
            (["--rules", self.rules, "--pin-keys", missing], b"missing.mmdb"),
        ]:
            with self.subTest(args=args):
                r = subprocess.run([BIN, "explain", "--ip", "5.1.2.3"] + args, capture_output=True)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(want, r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_rules_directory_is_accepted(self):
        r = subprocess.run([BIN, "explain", "--json", "--geo-db", GEO_DB, "--rules", RULES_DIR, "--ip", "5.21.0.1",
                            "--now", str(NOW)], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["jurisdiction"], "EU-GDPR")


if __name__ == "__main__":
    unittest.main(verbosity=2)
