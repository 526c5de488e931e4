#!/usr/bin/env python3
"""Identity in anonymized JSON bodies (issue 12 item 5): a crash report carrying {"user": {"email": ...}}
is refused with 422 identity_in_anonymous_data and never reaches a backend; with `identity: scrub` it
arrives without the field (the recording backend's digest and length are those of the JSON without it);
invalid JSON is 400, a nesting bomb 400 json_too_deep, a compressed or non-JSON body 415; over HTTP/2 and
HTTP/1.1 (TLS) and h2c. A clean body in the refusing class is forwarded byte for byte."""
import gzip
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

IDENTITY = "[email, user_id, device_id, phone]"


def rules_files():
    """SMALL_RULES with a JSON telemetry class that refuses and a JSON diagnostics class that scrubs."""
    files = dict(H.SMALL_RULES)
    files["_classes.yaml"] = files["_classes.yaml"].replace(
        '  telemetry: { description: "crash reports", personal: false }\n',
        '  telemetry: { description: "crash reports", personal: false, body: json,\n'
        '               identity_fields: %s }\n'
        '  diagnostics: { description: "diagnostics", personal: false, body: json,\n'
        '                 identity_fields: %s, identity: scrub }\n' % (IDENTITY, IDENTITY)).replace(
        "  - { prefix: /v1/crash, class: telemetry }\n",
        "  - { prefix: /v1/crash, class: telemetry }\n  - { prefix: /v1/diag, class: diagnostics }\n")
    for name, text in list(files.items()):
        if not name.startswith("_"):
            files[name] = text.replace("  telemetry: { write: any, anonymize: true }\n",
                                       "  telemetry: { write: any, anonymize: true }\n"
                                       "  diagnostics: { write: any, anonymize: true }\n")
    return files


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def main(t):
    H.require_tools("curl")
    d = H.tmpdir()
    rules = H.compile_rules(H.write_files(os.path.join(d, "rules-src"), rules_files()), d)
    backends = H.start_backends(d, H.SMALL_LIVE_REGIONS)
    audit_log = os.path.join(d, "audit.log")
    cfg = H.base_config(d, rules, backends, clusters=H.small_clusters(backends), extra={"audit": {"path": audit_log}})
    gw = H.Gateway(d, cfg).start()
    ports = {"h2": gw.listener("tls")[1], "h1": gw.listener("tls")[1], "h2c": gw.listener("clear")[1]}
    de = H.geo_addr("DE")

    def send(proto, path, body, ctype="application/json", extra_headers=None):
        headers = {"X-Forwarded-For": de}
        if ctype is not None:
            headers["Content-Type"] = ctype
        headers.update(extra_headers or {})
        return H.curl(ports[proto], path, method="POST", headers=headers, body=body, proto=proto)

    def records(path):
        return [r for r in H.all_records(backends) if r["path"] == path]

    def audit_line(request_id):
        with open(audit_log, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n") and json.loads(line).get("request_id") == request_id:
                    return json.loads(line)
        return None

    scrub_ids = []

    report = {"app": "notes", "version": "4.2.1", "user": {"email": "someone@example.com", "locale": "de-DE"},
              "frames": [{"fn": "main", "line": 12}, {"fn": "sync", "line": 40, "deviceId": "D-1234"}],
              "USER-ID": 77}
    without = {"app": "notes", "version": "4.2.1", "user": {"locale": "de-DE"},
               "frames": [{"fn": "main", "line": 12}, {"fn": "sync", "line": 40}]}

    for proto in ("h2", "h1", "h2c"):
        # refuse (the default): 422 naming the field, nothing upstream
        path = "/v1/crash/refuse-%s" % H.uid()
        r = send(proto, path, compact(report))
        j = r.json() or {}
        t.eq((r.status, j.get("reason"), j.get("field")), (422, "identity_in_anonymous_data", "email"),
             "%s: a crash report with user.email is refused, naming the field" % proto)
        t.eq(records(path), [], "%s: the refused report reached no backend" % proto)
        if proto != "h1":
            t.eq(r.http_version, "2", "%s: answered over HTTP/2" % proto)

        # scrub: the same report arrives without any identity field, re-serialised, Content-Length fixed
        path = "/v1/diag/scrub-%s" % H.uid()
        rid = "scrub-%s" % H.uid()
        r = send(proto, path, compact(report), extra_headers={"X-Request-Id": rid})
        recs = records(path)
        if t.ok(r.status == 200 and len(recs) == 1, "%s: the scrubbing class forwards the report" % proto,
                (r, recs)):
            want = compact(without)
            t.eq((recs[0]["body_len"], recs[0]["body_sha256"]), (len(want), H.sha256(want)),
                 "%s: the backend stored exactly the report without email, deviceId and USER-ID" % proto)
            t.ok(recs[0]["body_sha256"] != H.sha256(compact(report)), "%s: not the report as sent" % proto)
            scrub_ids.append((proto, rid))

        # a clean report in the refusing class goes byte for byte (no re-serialisation)
        path = "/v1/crash/clean-%s" % H.uid()
        clean = b'{ "app" : "notes",\n  "user": {"locale": "de-DE"}, "n": 1.50 }'
        r = send(proto, path, clean)
        recs = records(path)
        t.ok(r.status == 200 and len(recs) == 1 and recs[0]["body_sha256"] == H.sha256(clean),
             "%s: a clean report is forwarded as sent" % proto, (r, recs))

        # bodies that cannot be checked: refused, nothing upstream
        bomb = b"[" * 200000 + b"]" * 200000
        cases = [
            ("invalid JSON", b'{"app": "notes", "user": ', "application/json", None, 400, "invalid_json"),
            ("duplicate member names", b'{"email": 1, "email": 2}', "application/json", None, 400, "invalid_json"),
            ("nesting bomb (200,000 deep)", bomb, "application/json", None, 400, "json_too_deep"),
            ("gzip-compressed", gzip.compress(compact(report)), "application/json", {"Content-Encoding": "gzip"},
             415, "body_not_inspectable"),
            ("text/plain", compact(report), "text/plain", None, 415, "unsupported_media_type"),
            ("form-encoded", b"email=someone%40example.com", "application/x-www-form-urlencoded", None, 415,
             "unsupported_media_type"),
        ]
        for label, body, ctype, extra, status, reason in cases:
            for base in ("/v1/crash", "/v1/diag"):
                path = "%s/bad-%s" % (base, H.uid())
                r = send(proto, path, body, ctype, extra)
                j = r.json() or {}
                t.eq((r.status, j.get("reason")), (status, reason), "%s %s: %s refused" % (proto, base, label))
                t.eq(records(path), [], "%s %s: %s reached no backend" % (proto, base, label))

    # HTTP/1.1 chunked upload: buffered whole too, forwarded scrubbed with a Content-Length
    path = "/v1/diag/chunked-%s" % H.uid()
    r = H.curl(ports["h2c"], path, method="POST", body=compact(report), proto="h1c",
               headers={"X-Forwarded-For": de, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    recs = records(path)
    want = compact(without)
    t.ok(r.status == 200 and len(recs) == 1 and (recs[0]["body_len"], recs[0]["body_sha256"]) ==
         (len(want), H.sha256(want)), "h1 chunked: the backend stored the report without the fields", (r, recs))
    path = "/v1/crash/chunked-%s" % H.uid()
    r = H.curl(ports["h2c"], path, method="POST", body=compact(report), proto="h1c",
               headers={"X-Forwarded-For": de, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    t.ok(r.status == 422 and records(path) == [], "h1 chunked: refused, nothing upstream", r)

    # the audit line of a scrubbed request says how many fields were removed
    for proto, rid in scrub_ids:
        line = H.wait_until(lambda: audit_line(rid), 10, what="audit line of %s" % rid)
        t.eq((line.get("status"), line.get("identity_removed")), (200, 3),
             "%s: the audit line records 3 identity fields removed" % proto)

    # explain shows the same rule (the gateway's pipeline, from the command line)
    dec = H.explain(rules, de, "POST", "/v1/diag/x")
    t.eq(dec.get("body"), {"format": "json", "identity_fields": ["email", "user_id", "device_id", "phone"],
                           "identity": "scrub", "identity_checked": True}, "explain: the class's body rule")
    t.eq(H.explain(rules, de, "POST", "/v1/sync/x").get("body"), None, "explain: no body rule for content")

    # not a JSON class: bodies pass unchecked, as before
    path = "/v1/sync/raw-%s" % H.uid()
    body = H.random_body()
    r = H.curl(ports["h2"], path, method="PUT", headers={"X-Forwarded-For": de}, body=body, proto="h2")
    recs = records(path)
    t.ok(r.status == 200 and len(recs) == 1 and recs[0]["body_sha256"] == H.sha256(body),
         "content (no body rule): an opaque body is forwarded as sent", (r, recs))
    t.ok(gw.proc.poll() is None, "gateway still running at the end", gw.stderr()[-2000:])


if __name__ == "__main__":
    H.run_test("body_identity", main, timeout=120)
