#!/usr/bin/env python3
"""A WebDAV client session through the gateway to WebDAV servers of Debian's (`rclone serve webdav`).

One storage directory per region, each served by `rclone serve webdav`; the gateway in front;
`rclone` itself as the client (a webdav remote pointing at the gateway, its requests carrying
X-Forwarded-For of a German client through the trusted loopback proxy). The session: mkdir
(MKCOL), copy files up (PUT), list (PROPFIND), rename inside a class (MOVE), move into a class
the rules keep in another region (MOVE refused with 451 destination_not_allowed).

Checks: PROPFIND is decided as a read and MKCOL, PUT, MOVE as writes (audit lines); every file
lands only in a region its class allows for DE (the storage directories); the refused MOVE
left the file where it was and stored nothing anywhere else; rclone's listing through the
gateway shows what the storage holds.
"""
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

RULES = {
    "_regions.yaml": """regions:
  r-alpha: { location: DE }
  r-beta:  { location: FR }
""",
    "_classes.yaml": """classes:
  content: { description: "synced files", personal: true }
  archive: { description: "cold storage", personal: true }
routes:
  - { prefix: /v1/sync, class: content }
  - { prefix: /v1/archive, class: archive }
default_class: content
methods:
  read: [PROPFIND, REPORT, SEARCH]
  write: [MKCOL, MOVE, COPY, PROPPATCH, LOCK, UNLOCK]
""",
    "de.yaml": """jurisdiction: T-DE
version: "dav-1"
effective: 2020-01-01
applies_to: [DE]
policy_url: https://example.test/p
classes:
  content: { write: [r-alpha] }
  archive: { write: [r-beta] }
""",
    "default.yaml": """jurisdiction: T-DEFAULT
version: "dav-1"
effective: 2020-01-01
default: true
policy_url: https://example.test/p
classes:
  content: { deny: true, reason: location_unknown }
  archive: { deny: true, reason: location_unknown }
""",
}


def stored(root):
    """Every file under a storage directory, as paths relative to it."""
    out = set()
    for dirpath, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def main(t):
    H.require_tools("rclone")
    d = H.tmpdir()
    src = H.write_files(os.path.join(d, "rules-src"), RULES)
    rules = H.compile_rules(src, d)
    stores, procs, nodes = {}, [], {}
    for region in ("r-alpha", "r-beta"):
        root = os.path.join(d, "store-" + region)
        os.makedirs(root)
        if region == "r-beta":
            # provisioned by the operator: the archive's collection lives in r-beta (its parent /v1 is content,
            # kept in r-alpha, so a client cannot create it there)
            os.makedirs(os.path.join(root, "v1", "archive"))
        port = H.free_port()
        procs.append(H.spawn(["rclone", "serve", "webdav", root, "--addr", "127.0.0.1:%d" % port],
                             log_prefix=os.path.join(d, "rclone-" + region)))
        H.wait_until(lambda: H.port_refuses(port) is False, 15, what="rclone serve webdav %s" % region)
        stores[region], nodes[region] = root, "http://127.0.0.1:%d" % port
    audit = os.path.join(d, "audit.log")
    cfg = H.base_config(d, rules, {}, listeners=("clear",), extra={"audit": {"path": audit}},
                        clusters=[{"name": r + "-dav", "region": r, "nodes": [u]} for r, u in nodes.items()])
    gw = H.Gateway(d, cfg).start()
    port = gw.listener("clear")[1]
    de = H.geo_addr("DE")
    env = dict(os.environ, RCLONE_CONFIG=os.path.join(d, "rclone.conf"), RCLONE_CONFIG_GW_TYPE="webdav",
               RCLONE_CONFIG_GW_URL="http://127.0.0.1:%d" % port, RCLONE_CONFIG_GW_VENDOR="other")

    def rclone(*args):
        r = subprocess.run(["rclone", "--header", "X-Forwarded-For: " + de, "--retries", "1",
                            "--low-level-retries", "1", "--contimeout", "5s", "--timeout", "20s"] + list(args),
                           capture_output=True, text=True, env=env, timeout=60)
        return r

    local = os.path.join(d, "local")
    os.makedirs(local)
    for name in ("a.txt", "b.txt"):
        with open(os.path.join(local, name), "w") as f:
            f.write("contents of %s\n" % name)

    r = rclone("mkdir", "gw:v1/sync/docs")
    t.eq(r.returncode, 0, "MKCOL through the gateway", )
    r = rclone("copy", local, "gw:v1/sync/docs")
    t.eq(r.returncode, 0, "PUT two files through the gateway")
    if r.returncode != 0:
        t.note(r.stderr[-2000:])
    r = rclone("lsf", "gw:v1/sync/docs")
    t.eq(sorted(r.stdout.split()), ["a.txt", "b.txt"], "PROPFIND through the gateway lists them")
    r = rclone("moveto", "gw:v1/sync/docs/a.txt", "gw:v1/sync/docs/renamed.txt")
    t.eq(r.returncode, 0, "MOVE inside the content class")
    if r.returncode != 0:
        t.note(r.stderr[-2000:])
    r = rclone("moveto", "gw:v1/sync/docs/b.txt", "gw:v1/archive/b.txt")
    t.ok(r.returncode != 0, "MOVE of content into the archive class (kept in r-beta for DE) fails", r.stdout)
    t.ok("451" in r.stderr or "Unavailable For Legal Reasons" in r.stderr, "the client saw 451", r.stderr[-1500:])

    alpha, beta = stored(stores["r-alpha"]), stored(stores["r-beta"])
    t.eq(alpha, {"v1/sync/docs/renamed.txt", "v1/sync/docs/b.txt"}, "r-alpha holds the content files, renamed")
    t.eq(beta, set(), "r-beta holds nothing: the refused MOVE stored nothing there")
    r = rclone("lsf", "-R", "gw:v1/sync")
    t.eq(sorted(r.stdout.split()), ["docs/", "docs/b.txt", "docs/renamed.txt"],
         "the listing through the gateway shows what r-alpha holds")

    gw.signal(__import__("signal").SIGTERM)
    gw.wait_exit(20)
    lines = [json.loads(x) for x in open(audit, encoding="utf-8").read().splitlines()]
    de_lines = [x for x in lines if x.get("country") == "DE"]
    t.note("audit: %s" % sorted({(x["method"], x["access"], x["class"], x["status"], x["region"]) for x in de_lines}))
    seen = {x["method"] for x in de_lines}
    t.ok({"PROPFIND", "MKCOL", "PUT", "MOVE"} <= seen, "the session used PROPFIND, MKCOL, PUT and MOVE", seen)
    t.ok(all(x["access"] == "read" for x in de_lines if x["method"] == "PROPFIND"), "PROPFIND is decided as a read")
    t.ok(all(x["access"] == "write" for x in de_lines if x["method"] in ("MKCOL", "PUT", "MOVE")),
         "MKCOL, PUT and MOVE are decided as writes")
    t.ok(all(x["region"] in (None, "r-alpha") for x in lines if x.get("class") == "content"),
         "every content request went to r-alpha or nowhere")
    refused = [x for x in lines if x.get("reason") == "destination_not_allowed"]
    t.eq([x["status"] for x in refused], [451], "one MOVE refused with destination_not_allowed")
    for p in procs:
        H._kill_group(p)


if __name__ == "__main__":
    H.run_test("webdav_rclone", main, timeout=120)
