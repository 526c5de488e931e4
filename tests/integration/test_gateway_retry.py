#!/usr/bin/env python3
"""A write whose node refuses the connection goes to the next node in the decision's order.

Order of fallback (docs/internals/gateway.md): another node of the cluster, another cluster of
the same region, then (on_unavailable: next_region only) the next region in the decision's list,
then 503 region_unavailable with Retry-After. Never a region outside the list. A refused connect
means nothing of the request was sent, so the retry cannot duplicate a write; every 2xx the
client saw is recorded exactly once by a backend.

Passive marking is off (passive_fall 0) on the clusters with closed ports, so a refused node
stays "up" and every request goes through the retry path rather than the health flags.
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from test_ops_reload import admin_get, metric  # noqa: E402

RULES = {
    "_regions.yaml": "regions:\n  r-one: { location: DE }\n  r-two: { location: FR }\n"
                     "  r-dead: { location: IT }\n  r-out: { location: ES }\n",
    "_classes.yaml": "classes:\n  content: { description: files, personal: true }\ndefault_class: content\n",
    "de.yaml": """jurisdiction: T-DE
version: "rt-de"
effective: 2020-01-01
applies_to: [DE]
on_unavailable: reject
policy_url: https://example.test/p
classes:
  content: { write: [r-one], read: [r-one] }
""",
    "fr.yaml": """jurisdiction: T-FR
version: "rt-fr"
effective: 2020-01-01
applies_to: [FR]
on_unavailable: next_region
policy_url: https://example.test/p
classes:
  content: { write: [r-dead, r-two], read: [r-dead, r-two] }
""",
    "it.yaml": """jurisdiction: T-IT
version: "rt-it"
effective: 2020-01-01
applies_to: [IT]
on_unavailable: reject
policy_url: https://example.test/p
classes:
  content: { write: [r-dead, r-two], read: [r-dead, r-two] }
""",
    "default.yaml": """jurisdiction: T-ANY
version: "rt-any"
effective: 2020-01-01
default: true
on_unavailable: reject
policy_url: https://example.test/p
classes:
  content: { write: [r-one], read: [r-one] }
""",
}


def body(t):
    H.require_tools("h2load", "curl")
    d = H.tmpdir()
    rules = H.compile_rules(H.write_files(os.path.join(d, "rules-src"), RULES), d)
    backends = H.start_backends(d, ["r-one", "r-two", "r-out"])
    admin_port = H.free_port()
    passive_off = {"passive_fall": 0}
    closed = ["http://127.0.0.1:%d" % H.free_port() for _ in range(3)]
    clusters = [
        # the refused node first: round-robin sends every other request to it first
        {"name": "one-c", "region": "r-one", "nodes": [closed[0], backends["r-one"][0].url], "health": passive_off},
        # a whole region of refused nodes, in two clusters
        {"name": "dead-a", "region": "r-dead", "nodes": [closed[1]], "health": passive_off},
        {"name": "dead-b", "region": "r-dead", "nodes": [closed[2]], "health": passive_off},
        {"name": "two-c", "region": "r-two", "nodes": [backends["r-two"][0].url]},
        # live, but in no decision's list: must never see a write
        {"name": "out-c", "region": "r-out", "nodes": [backends["r-out"][0].url]},
    ]
    cfg = H.base_config(d, rules, backends, listeners=("clear",), clusters=clusters,
                        extra={"threads": 1, "admin": {"listen": "127.0.0.1:%d" % admin_port}})
    gw = H.Gateway(d, cfg).start()
    port = gw.listener("clear")[1]

    # 1. a cluster with a refused node: every write lands on the live node, once, with the id it was sent
    n = 40
    got = []
    for i in range(n):
        path = "/v1/sync/one-%s-%d" % (H.uid(), i)
        rid = "retry-%s-%d" % (H.uid(), i)
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": H.geo_addr("DE"), "X-Request-Id": rid}, b"w" * 100, "h2c")
        got.append((path, rid, r))
    statuses = collections.Counter(r.status for _, _, r in got)
    t.eq(dict(statuses), {200: n}, "r-one: all %d writes succeed although one of the two nodes refuses" % n)
    t.eq([p for p, rid, r in got if r.header("x-request-id") != rid], [],
         "a proxied answer carries the X-Request-Id the node was sent")
    recs = collections.Counter(x["path"] for x in backends["r-one"][0].records())
    t.eq([p for p, _, _ in got if recs[p] != 1], [], "every 2xx write is recorded exactly once on the live node")
    sent_ids = {x["path"]: x["headers"].get("x-request-id") for x in backends["r-one"][0].records()}
    t.eq([p for p, rid, _ in got if sent_ids.get(p) != rid], [], "the node was sent the client's X-Request-Id")
    t.eq(len(H.all_records(backends, "/v1/sync/one-")), n, "no write anywhere else")

    # the same under load: h2load's 2xx equal the live node's records, no duplicates
    payload = os.path.join(d, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(512))
    tag = "/v1/sync/load-" + H.uid()
    res = H.h2load("http://127.0.0.1:%d%s" % (port, tag), 2000, c=8, m=4, data_file=payload,
                   headers={"x-forwarded-for": H.geo_addr("DE")})
    load_recs = [x for x in backends["r-one"][0].records() if x["path"] == tag]
    t.eq(res.get("2xx"), 2000, "h2load: 2000 of 2000 writes 2xx with a refused node in the cluster")
    t.eq(len(load_recs), res.get("2xx"), "h2load: the live node recorded exactly the %d 2xx writes (none duplicated)"
         % res.get("2xx", 0))
    m = admin_get(admin_port, "/metrics")[1]
    retries = metric(m, "domicile_upstream_retries_total", {})
    t.ok(retries >= (n + 2000) // 2 - 50, "retries counted (%s for %d writes)" % (retries, n + 2000))
    t.note("FIGURE retry.connect_failures = %s, retries = %s for %d writes"
           % (metric(m, "domicile_upstream_connect_failures_total", {}), retries, n + 2000))

    # 2. every node of the first region refuses, on_unavailable next_region: the next listed region
    for i in range(10):
        path = "/v1/sync/fr-%s-%d" % (H.uid(), i)
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": H.geo_addr("FR")}, b"f" * 50, "h2c")
        t.eq(r.status, 200, "next_region: write %d routed" % i)
        t.eq(r.header("domicile-region"), "r-two", "next_region: answered from the next listed region r-two")
        where = [x["region"] for x in H.all_records(backends, path)]
        t.eq(where, ["r-two"], "next_region: recorded once, in r-two")

    # 3. the same regions with on_unavailable reject: 503 with Retry-After, nothing written anywhere
    for i in range(10):
        path = "/v1/sync/it-%s-%d" % (H.uid(), i)
        r = H.curl(port, path, "PUT", {"X-Forwarded-For": H.geo_addr("IT")}, b"i" * 50, "h2c")
        t.eq(r.status, 503, "reject: write %d refused" % i)
        t.eq(r.json().get("reason"), "region_unavailable", "reject: reason region_unavailable")
        t.ok(r.header("retry-after") is not None, "reject: 503 carries Retry-After")
        t.ok(r.header("x-request-id"), "reject: 503 carries X-Request-Id")
        t.eq(H.all_records(backends, path), [], "reject: nothing written in any region")

    t.eq([x["path"] for x in backends["r-out"][0].records()], [], "the region outside every list saw nothing")


if __name__ == "__main__":
    H.run_test("gateway_retry", body, timeout=120)
