#!/usr/bin/env python3
"""Issue 12 item 3: a pin no longer silently overrides the law of the place. A valid pin naming
another jurisdiction than the client's location is intersected with it (the location rule's
order); nothing in common is 451 conflict_of_laws, with both jurisdictions in the body, in
`explain` (words and JSON) and in the audit line. Real gateway, shipped rules, recording backends.

- EEA-located (DE), RU-pinned: 451 conflict_of_laws (EU-GDPR and RU-152FZ share no region).
- EEA-located, EU-pinned: routed (the same law: the pin decides as before).
- US-located (US-NY), EU-pinned: routed to the intersection the rules give: crash reports to
  us-east (US's order, of US {us-east, us-west, eu-central} and EU {any}); account data 451; and
  with a copy of the rules where US also allows eu-central for account data, to eu-central.
- unknown location (a private address), RU-pinned: the pin alone (no law of the place is known).
"""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def send(gw, method, path, addr, pin, rid, body=b'{"app": "notes", "event": "crash"}'):
    # a JSON body: crash reports are declared JSON (the shipped telemetry class checks identity fields)
    headers = {"X-Forwarded-For": addr, "domicile-pin": pin, "X-Request-Id": rid, "Content-Type": "application/json"}
    return H.curl(gw.listener("clear")[1], path, method=method, headers=headers, body=body, proto="h2c")


def records_for(backends, path):
    return [r for r in H.all_records(backends) if r["path"] == path]


def audit_line(path, rid):
    def find():
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n") and rid in line:
                    d = json.loads(line)
                    if d.get("request_id") == rid:
                        return d
        return None

    return H.wait_until(find, 10, interval=0.05, what="audit line %s" % rid)


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    rules = H.compile_rules(out_dir=d)
    backends = H.start_backends(d, H.rules_regions())
    keys = H.write_pin_keys(d, {"law1": os.urandom(32)})
    audit = os.path.join(d, "audit.log")
    cfg = H.base_config(d, rules, backends, listeners=("clear",), pin_keys=keys, extra={"audit": {"path": audit}})
    gw = H.Gateway(d, cfg).start()
    ru, eu = H.mint_pin(keys, "law1", "RU-152FZ"), H.mint_pin(keys, "law1", "EU-GDPR")
    de, us_ny = H.geo_addr("DE"), H.geo_addr("US", "US-NY")
    pin_args = ("--pin-keys", keys)

    # 1. EEA-located, RU-pinned: refused, both laws named everywhere
    path, rid = "/v1/account/law-%s" % H.uid(), "law-ru-" + H.uid()
    resp = send(gw, "PUT", path, de, ru, rid)
    body = resp.json() or {}
    t.ok((resp.status, body.get("reason")) == (451, "conflict_of_laws"), "DE + RU pin: 451 conflict_of_laws", resp)
    t.eq([(j.get("jurisdiction"), j.get("source")) for j in body.get("jurisdictions") or []],
         [("EU-GDPR", "group"), ("RU-152FZ", "pin")], "the body names both jurisdictions, the place's first")
    t.eq(body.get("jurisdiction"), "EU-GDPR", "the body's jurisdiction is the law of the place")
    t.ok("RU-152FZ" in (body.get("message") or "") or "home jurisdiction" in (body.get("message") or ""),
         "the message says why in words", body.get("message"))
    t.eq(records_for(backends, path), [], "DE + RU pin: nothing reached a backend")
    line = audit_line(audit, rid)
    t.ok((line.get("jurisdiction"), line.get("reason"), line.get("status")) == ("EU-GDPR", "conflict_of_laws", 451),
         "audit: the place's jurisdiction and the reason", line)
    t.ok([(j.get("jurisdiction"), j.get("source")) for j in line.get("joined") or []] == [("RU-152FZ", "pin")],
         "audit: the pin's jurisdiction is recorded as joined", line)
    ex = H.explain(rules, de, "PUT", "/v1/account/x", extra=pin_args + ("--pin", ru))
    t.eq((ex["status"], ex["reason"], ex.get("joint")), (451, "conflict_of_laws", ["pin"]), "explain --json agrees")
    t.eq([j["jurisdiction"] for j in ex.get("jurisdictions") or []], ["EU-GDPR", "RU-152FZ"], "explain names both")
    words = H.run([H.BIN, "explain", "--rules", rules, "--geo-db", H.GEO_DB, "--ip", de, "--method", "PUT", "--path",
                   "/v1/account/x", "--pin", ru, "--pin-keys", keys], timeout=30).stdout
    words = words.decode() if isinstance(words, bytes) else words
    t.ok("the pin names RU-152FZ, but the client's location is under EU-GDPR" in words and
         "REJECT 451 conflict_of_laws" in words, "explain says it in words", words)

    # 2. EEA-located, EU-pinned: routed as before
    path = "/v1/account/law-%s" % H.uid()
    resp = send(gw, "PUT", path, de, eu, "law-eu-" + H.uid())
    recs = records_for(backends, path)
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"] == "eu-central",
         "DE + EU pin: routed to eu-central", (resp, recs))
    t.eq(recs[0]["headers"].get("x-domicile-jurisdiction") if recs else None, "EU-GDPR", "upstream jurisdiction")

    # 3. US-located, EU-pinned: the intersection of US and EU-GDPR
    ex = H.explain(rules, us_ny, "POST", "/v1/crash", extra=pin_args + ("--pin", eu))
    t.ok((ex["action"], H.region_names(ex)) == ("route", ["us-east", "us-west", "eu-central"]),
         "explain: US telemetry {us-east, us-west, eu-central} and EU {any}, in US's order", ex)
    path = "/v1/crash/law-%s" % H.uid()
    resp = send(gw, "POST", path, us_ny, eu, "law-us-" + H.uid())
    recs = records_for(backends, path)
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"] == "us-east",
         "US + EU pin, crash report: routed to us-east (first of the intersection)", (resp, recs))
    t.eq(recs[0]["headers"].get("x-domicile-jurisdiction") if recs else None, "US", "the law of the place decides")
    path = "/v1/account/law-%s" % H.uid()
    resp = send(gw, "PUT", path, us_ny, eu, "law-us-" + H.uid())
    t.ok(((resp.json() or {}).get("reason"), resp.status) == ("conflict_of_laws", 451),
         "US + EU pin, account data: US {us-east, us-west} and EU {eu-central, eu-west} share nothing", resp)
    t.eq(records_for(backends, path), [], "refused account write reached no backend")

    # ... and where the rules share a region for personal data, it is routed there (a copy of the shipped set)
    src = os.path.join(d, "regions-us-eu")
    shutil.copytree(os.path.join(H.SOURCE_DIR, "regions"), src)
    us_yaml = os.path.join(src, "us.yaml")
    with open(us_yaml, encoding="utf-8") as f:
        text = f.read()
    old = "account:   { write: [us-east, us-west] }"
    t.require(old in text, "us.yaml has the account line this test edits")
    with open(us_yaml, "w", encoding="utf-8") as f:
        f.write(text.replace(old, "account:   { write: [us-east, us-west, eu-central] }", 1))
    os.makedirs(os.path.join(d, "r2"))
    rules2 = H.compile_rules(src, os.path.join(d, "r2"))
    ex = H.explain(rules2, us_ny, "PUT", "/v1/account/x", extra=pin_args + ("--pin", eu))
    t.ok((ex["action"], H.region_names(ex), ex["jurisdiction"]) == ("route", ["eu-central"], "US"),
         "US {us-east, us-west, eu-central} and EU {eu-central, eu-west}: eu-central", ex)
    cfg2 = H.base_config(d, rules2, backends, listeners=("clear",), pin_keys=keys)
    gw2 = H.Gateway(d, cfg2, name="gateway-us-eu").start()
    path = "/v1/account/law-%s" % H.uid()
    resp = send(gw2, "PUT", path, us_ny, eu, "law-us2-" + H.uid())
    recs = records_for(backends, path)
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"] == "eu-central",
         "US + EU pin with a shared region: the account write lands on eu-central", (resp, recs))

    # 4. unknown location, RU-pinned: the pin alone (DEFAULT names no law of the place)
    path = "/v1/account/law-%s" % H.uid()
    resp = send(gw, "PUT", path, "10.1.2.3", ru, "law-unk-" + H.uid())
    recs = records_for(backends, path)
    t.ok(resp.status == 200 and len(recs) == 1 and recs[0]["region"] == "ru-central",
         "unknown location + RU pin: routed by the pin alone to ru-central", (resp, recs))
    t.ok(gw.proc.poll() is None and gw2.proc.poll() is None, "gateways still running")


if __name__ == "__main__":
    H.run_test("law_pin_conflict_of_laws", main, timeout=120)
