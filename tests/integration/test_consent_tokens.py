#!/usr/bin/env python3
"""Consent tokens end to end (issue 12 items 1 and 2), through the real gateway.

- A forged, an expired, a revoked and a wrong-scope consent token are each refused with their
  own reason (consent_bad_signature, consent_expired, consent_revoked, consent_wrong_scope), and
  none reaches a backend; a class name in the header (the old unsigned mode) is consent_malformed.
- A valid token routes, and the audit line records its basis: token id hash, scopes, issued-at.
- Withdrawal is never blocked: DELETE and reads of a consent-gated class go through without
  consent (and with a revoked token); a class whose rule says required_for: [read, write] gates
  reads, but still never DELETE.
- Revocation under load: clients keep writing with one token while `domicile consent revoke`
  renames a new list into place; the gateway's /status says when the list was loaded. It must
  load within 2 s, and no request sent after that moment may be admitted (or reach a backend).
"""
import hashlib
import http.client
import json
import os
import threading
import time
import urllib.request

import harness as H

RULES = dict(H.SMALL_RULES)
RULES["_classes.yaml"] = RULES["_classes.yaml"].replace(
    "  - { prefix: /v1/notifications, class: marketing, methods: [POST, PUT] }",
    "  - { prefix: /v1/notifications, class: marketing }\n  - { prefix: /v1/marketing, class: marketing }")
RULES["t-eu.yaml"] = RULES["t-eu.yaml"].replace(
    "  account:   { write: [r-alpha], read: [r-alpha] }",
    "  account:   { write: [r-alpha], read: [r-alpha], consent: { required_for: [read, write] } }").replace(
    "  marketing: { write: [r-alpha], consent: required }",
    "  marketing: { write: [r-alpha], consent: { required_for: [write] } }")


def admin_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=5) as r:
        return json.loads(r.read().decode())


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    assert "{ prefix: /v1/marketing" in RULES["_classes.yaml"] and "required_for: [read, write]" in RULES["t-eu.yaml"]
    src = H.write_files(os.path.join(d, "rules-src"), RULES)
    rules = H.compile_rules(src, d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    secret = os.urandom(32)
    keys = H.write_pin_keys(d, {"c1key": secret})  # the consent key file has the pin key format
    rev = os.path.join(d, "revocations")
    with open(rev, "w") as f:
        f.write("# consent withdrawn\nid t-revoked\n")
    audit = os.path.join(d, "audit.log")
    admin_port = H.free_port()
    cfg = H.base_config(d, rules, backends, clusters=H.small_clusters(backends),
                        extra={"consent": {"keys": keys, "revocations": rev},
                               "admin": {"listen": "127.0.0.1:%d" % admin_port},
                               "audit": {"path": audit}})
    gw = H.Gateway(d, cfg).start()
    _, port = gw.listener("clear")
    de = H.geo_addr("DE")
    now = int(time.time())

    def issue(tid, scopes, *extra):
        r = H.run([H.BIN, "consent", "issue", "--keys", keys, "--id", tid, "--subject", "user-%s" % tid,
                   "--scopes", scopes] + list(extra or ["--ttl", "3600"]))
        t.require(r.returncode == 0 and r.stdout.startswith("c1."), "consent issue %s" % tid, r.stderr)
        return r.stdout.strip()

    def send(method, path, token=None, body=b"x"):
        headers = {"X-Forwarded-For": de}
        if token is not None:
            headers["domicile-consent"] = token
        return H.curl(port, path, method=method, headers=headers, body=body if method in ("POST", "PUT") else None,
                      proto="h1c")

    def recorded(path):
        return [r for r in H.all_records(backends) if r["path"] == path]

    valid = issue("t-valid", "marketing,notifications")
    expired = issue("t-expired", "marketing", "--issued-at", str(now - 7200), "--expires", str(now - 60))
    revoked = issue("t-revoked", "marketing")
    wrong = issue("t-wrong", "content")
    head, sig = valid.rsplit(".", 1)
    forged_sig = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    widened = valid.replace(".marketing+notifications.", ".account+marketing+notifications.")

    # ---- each invalid token refused with its own reason, nothing upstream ----
    cases = [("forged signature", forged_sig, 403, "consent_bad_signature"),
             ("scopes widened by the client", widened, 403, "consent_bad_signature"),
             ("expired", expired, 403, "consent_expired"),
             ("revoked", revoked, 403, "consent_revoked"),
             ("wrong scope", wrong, 403, "consent_wrong_scope"),
             ("unsigned class names", "marketing", 400, "consent_malformed"),
             ("none", None, 403, "consent_required")]
    for label, token, status, reason in cases:
        path = "/v1/notifications/%s" % H.uid()
        r = send("POST", path, token)
        j = r.json() or {}
        t.eq((r.status, j.get("reason")), (status, reason), "%s consent token: %d %s" % (label, status, reason))
        t.eq(recorded(path), [], "%s consent token: nothing reached a backend" % label)

    # ---- a valid token routes; its basis is in the audit line ----
    path = "/v1/notifications/%s" % H.uid()
    r = send("POST", path, valid, body=b"consented")
    recs = recorded(path)
    t.ok(r.status == 200 and len(recs) == 1 and recs[0]["region"] == "r-alpha", "valid consent token routed to r-alpha",
         (r, recs))

    # an anonymized class never forwards the token (it names its subject); other classes keep it
    path = "/v1/crash/%s" % H.uid()
    r = send("POST", path, valid)
    recs = recorded(path)
    t.ok(r.status == 200 and len(recs) == 1 and "domicile-consent" not in recs[0]["headers"],
         "telemetry (anonymized): the consent token is stripped before forwarding", recs)

    # ---- withdrawal never blocked ----
    for method, p, token, want, label in [
            ("DELETE", "/v1/notifications/sub", None, 200, "DELETE of a consent-gated class without consent"),
            ("DELETE", "/v1/notifications/sub", revoked, 200, "DELETE with a revoked consent token"),
            ("GET", "/v1/marketing/prefs", None, 200, "own-data GET of a consent-gated class without consent"),
            ("GET", "/v1/marketing/prefs", expired, 200, "own-data GET with an expired consent token"),
            ("DELETE", "/v1/account/me", None, 200, "DELETE where the rule gates reads and writes"),
            ("GET", "/v1/account/me", None, 403, "GET where the rule says required_for: [read, write]")]:
        path = p + "-" + H.uid()
        r = send(method, path, token)
        t.eq(r.status, want, "%s: %d" % (label, want))
        t.eq(len(recorded(path)), 1 if want == 200 else 0, "%s: %s a backend" % (label, "reached" if want == 200
                                                                                    else "did not reach"))

    # ---- revocation under load ----
    load_token = issue("t-load", "marketing")
    st0 = admin_status(admin_port)["consent"]["revocations"]
    t.require(st0 is not None and st0["entries"] == 1, "/status shows the revocation list loaded at start", st0)
    results = []  # (sent_at, status, reason, path)
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(5000):  # bounded: stop is set long before
            if stop.is_set():
                break
            path = "/v1/notifications/load-%d-%d" % (n, i)
            sent = time.monotonic()
            conn.request("POST", path, body=b"load", headers={"X-Forwarded-For": de, "domicile-consent": load_token})
            resp = conn.getresponse()
            data = resp.read()
            reason = None
            if resp.status != 200:
                try:
                    reason = json.loads(data).get("reason")
                except ValueError:
                    reason = data[:80]
            with lock:
                results.append((sent, resp.status, reason, path))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    H.wait_until(lambda: len(results) >= 200, 20, what="200 admitted requests before the revocation")
    t_revoke = time.monotonic()
    r = H.run([H.BIN, "consent", "revoke", "--revocations", rev, "--id", "t-load"])
    t.require(r.returncode == 0, "consent revoke --id t-load", r.stderr)
    want_sha = hashlib.sha256(open(rev, "rb").read()).hexdigest()
    H.wait_until(lambda: (admin_status(admin_port)["consent"]["revocations"] or {}).get("sha256") == want_sha, 5,
                 interval=0.005, what="/status shows the new revocation list")
    t_loaded = time.monotonic()
    H.wait_until(lambda: sum(1 for x in results if x[0] > t_loaded) >= 200, 20,
                 what="200 requests after the list was loaded")
    stop.set()
    for th in threads:
        th.join(20)
    st1 = admin_status(admin_port)["consent"]["revocations"]
    t.eq((st1["entries"], st1["generation"]), (2, st0["generation"] + 1), "/status: 2 entries, generation +1")
    before = [x for x in results if x[0] < t_revoke]
    after = [x for x in results if x[0] > t_loaded]
    admitted_after = [x for x in after if x[1] == 200]
    t.ok(t_loaded - t_revoke < 2.0, "the revocation took effect within 2 s (%.3f s)" % (t_loaded - t_revoke))
    t.ok(before and all(x[1] == 200 for x in before), "%d requests before the revocation admitted" % len(before))
    t.eq(len(admitted_after), 0, "0 of %d requests sent after the list was loaded admitted" % len(after),)
    t.ok(all(x[1] == 403 and x[2] == "consent_revoked" for x in after), "every later request: 403 consent_revoked",
         [x for x in after if x[2] != "consent_revoked"][:3])
    late_paths = set(x[3] for x in after)
    t.eq([r for r in H.all_records(backends) if r["path"] in late_paths], [],
         "no request sent after the list was loaded reached a backend")
    t.note("revocation: %d requests, loaded %.0f ms after the rename, %d admitted before, %d refused after" %
           (len(results), (t_loaded - t_revoke) * 1000, len(before), len(after)))
    _, m = 0, urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=5).read().decode()
    t.ok("domicile_consent_revocation_reloads_total 1" in m, "metrics count the reload")

    # ---- `domicile consent verify` says the same as the gateway ----
    for token, rc, reason in [(valid, 0, "consent_valid"), (forged_sig, 1, "consent_bad_signature"),
                              (expired, 1, "consent_expired"), (load_token, 1, "consent_revoked"),
                              ("c1.x", 1, "consent_malformed")]:
        r = H.run([H.BIN, "consent", "verify", "--keys", keys, "--revocations", rev, "--json", token])
        j = json.loads(r.stdout or "{}")
        t.eq((r.returncode, j.get("reason")), (rc, reason), "consent verify: %s (exit %d)" % (reason, rc))
    r = H.run([H.BIN, "consent", "revoke", "--revocations", rev, "--subject", "user-t-valid", "--before", "2000-01-01"])
    t.ok(r.returncode == 0 and r.stdout.startswith("subject ") and " before 946684800" in r.stdout,
         "consent revoke --subject writes a subject line", r.stdout + r.stderr)

    # ---- the audit line of every consent-gated request carries its basis ----
    gw.signal(15)
    gw.wait_exit(15)
    lines = [json.loads(x) for x in open(audit, encoding="utf-8")]
    hid = hashlib.sha256(b"t-valid").hexdigest()[:16]
    ok_lines = [x for x in lines if (x.get("consent") or {}).get("token") == hid and x["action"] == "route"]
    t.ok(len(ok_lines) == 1 and ok_lines[0]["consent"]["scopes"] == "marketing+notifications"
         and ok_lines[0]["consent"]["issued_at"] > 0 and ok_lines[0]["consent"]["status"] == "consent_valid"
         and ok_lines[0]["consent"]["needed"] is True,
         "the valid token's audit line records its basis: token id hash, scopes, issued-at", ok_lines[:1])
    t.ok(all(x.get("consent") is not None for x in lines if x.get("class") == "marketing"),
         "every marketing request has a consent basis in its audit line")
    t.ok(all(x.get("consent") is None for x in lines if x.get("class") == "content"),
         "a class without consent has consent: null")
    t.ok(not any("t-valid" in json.dumps(x) or "t-load" in json.dumps(x) for x in lines),
         "no token id in clear in the audit log")
    dels = [x for x in lines if x.get("method") == "DELETE" and x.get("class") == "marketing"]
    t.ok(dels and all(x["consent"]["needed"] is False and x["status"] == 200 for x in dels),
         "DELETE audit lines: consent not needed, 200")


if __name__ == "__main__":
    H.run_test("consent_tokens", main, timeout=120)
