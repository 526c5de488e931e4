#!/usr/bin/env python3
"""The pages a person reads, opened in a real browser (issue 15): headless Chromium (Debian's
`chromium`) loads `domicile rules report`'s HTML, the admin listener's status page at / and its
decision explorer at /explain, saves 1280x900 PNG screenshots into the build directory
(screenshots/) and the test asserts on the DOM Chromium built (--dump-dom):

- report of the shipped regions/: built in under 1 s, under 1 MiB, `tidy -errors` finds no error;
  the map paths of DE, FR and NO carry the EU-GDPR class, RU and CN their own;
- report with --plan-from: a change that moves NO to JP-APPI outlines NO and lists it;
- status page: every configured region with the health the test arranged (us-east's node stopped);
- explorer: five requests answered with exactly what `domicile explain -c CONFIG --json` says
  (words too, but for the time line); oversized and malformed input refused with a clear message;
  `<script>` in each field comes back as text, never as an element.

Skips (exit 77, ctest SKIP) only when chromium or tidy is not installed; scripts/setup installs both.
"""
import concurrent.futures
import html.parser
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SKIP = 77
CHROMIUM = shutil.which("chromium")
TIDY = shutil.which("tidy")
BUILD = os.environ.get("DOMICILE_BINARY_DIR", os.getcwd())
SHOTS = os.path.join(BUILD, "screenshots")
# Chromium starts slowly on a loaded machine; each page is one process with its own profile.
BROWSER_TIMEOUT = 240
PARALLEL = 4


class Dom(html.parser.HTMLParser):
    """The elements of a serialised DOM: attributes by id, and the text under each id'd element."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
            "path"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements = []  # (tag, attrs dict)
        self.by_id = {}
        self.text_of = {}
        self.stack = []  # (tag, id) of open elements
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if "id" in a:
            self.by_id[a["id"]] = a
            self.text_of.setdefault(a["id"], "")
        if tag not in self.VOID:
            self.stack.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for _, ident in self.stack:
            if ident is not None:
                self.text_of[ident] += data

    def classes(self, ident):
        return set(self.by_id.get(ident, {}).get("class", "").split())

    def find(self, tag, **attrs):
        return [a for t, a in self.elements if t == tag and all(a.get(k.replace("_", "-")) == v
                                                                 for k, v in attrs.items())]


def browser(d, url, screenshot=None):
    """One headless Chromium run: the serialised DOM (--dump-dom), or a 1280x900 PNG (--screenshot)."""
    profile = tempfile.mkdtemp(prefix="domicile-chromium-")
    argv = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--hide-scrollbars", "--user-data-dir=" + profile]
    if os.geteuid() == 0:
        argv.append("--no-sandbox")  # Chromium's sandbox refuses to run as root (CI containers)
    if screenshot:
        # the virtual-time budget lets layout and paint settle before the capture
        argv += ["--screenshot=" + screenshot, "--window-size=1280,900", "--virtual-time-budget=3000"]
    else:
        argv.append("--dump-dom")
    argv.append(url)
    r = subprocess.run(argv, capture_output=True, timeout=BROWSER_TIMEOUT, cwd=profile)
    shutil.rmtree(profile, ignore_errors=True)
    if r.returncode != 0:
        raise h.TestFailure("chromium %s failed (%d): %s" % (url, r.returncode, r.stderr.decode(errors="replace")[-800:]))
    return r.stdout.decode("utf-8", errors="replace")


def browse_all(d, jobs):
    """jobs: {key: (url, screenshot or None)} run PARALLEL at a time; returns {key: DOM text or ""}."""
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = {k: pool.submit(browser, d, url, shot) for k, (url, shot) in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def is_png(t, path, what):
    ok = os.path.exists(path) and os.path.getsize(path) > 10000
    if ok:
        with open(path, "rb") as f:
            ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
    t.ok(ok, "%s: a PNG screenshot in %s" % (what, path))


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------
# the report


def check_report(t, d):
    out = os.path.join(SHOTS, "report.html")
    start = time.monotonic()
    r = h.run([h.BIN, "rules", "report", "--html", out, os.path.join(h.SOURCE_DIR, "regions")], timeout=60)
    took = time.monotonic() - start
    t.require(r.returncode == 0, "rules report of regions/ succeeds", r.stderr)
    t.ok(took < 1.0, "the report of regions/ builds in under 1 s (%.3f s)" % took)
    size = os.path.getsize(out)
    t.ok(size < 1024 * 1024, "the report is under 1 MiB (%d bytes)" % size)
    tidy = subprocess.run([TIDY, "-errors", "-quiet", out], capture_output=True, text=True, timeout=60)
    t.ok(tidy.returncode in (0, 1) and "Error:" not in tidy.stderr,
         "tidy -errors finds no error in the report (exit %d)" % tidy.returncode, tidy.stderr[-1500:])
    with open(out, encoding="utf-8") as f:
        raw = f.read()
    t.ok("http://" not in raw.split("<body>")[0] and "<script" not in raw and "<link" not in raw,
         "the report is self-contained: no script, no linked asset")
    t.ok("@media print" in raw, "the report has a print stylesheet")

    # a change that moves Norway from EU-GDPR to JP-APPI, planned against the compiled live rules
    live = os.path.join(d, "live.mdb")
    h.run([h.BIN, "rules", "compile", os.path.join(h.SOURCE_DIR, "regions"), "-o", live], check=True, timeout=60)
    changed = os.path.join(d, "regions-no-to-jp")
    shutil.copytree(os.path.join(h.SOURCE_DIR, "regions"), changed)
    jp = os.path.join(changed, "jp-appi.yaml")
    with open(jp, encoding="utf-8") as f:
        text = f.read()
    t.require("applies_to: [JP]" in text, "regions/jp-appi.yaml says applies_to: [JP] (the test edits it)")
    with open(jp, "w", encoding="utf-8") as f:
        f.write(text.replace("applies_to: [JP]", 'applies_to: [JP, "NO"]'))
    plan_out = os.path.join(SHOTS, "report-plan.html")
    at = "2026-12-01"  # one instant for both: the plan of the report and of `rules plan --at`
    r = h.run([h.BIN, "rules", "report", "--html", plan_out, changed, "--plan-from", live, "--at", at], timeout=60)
    t.require(r.returncode == 0, "rules report --plan-from succeeds", r.stderr)
    tidy = subprocess.run([TIDY, "-errors", "-quiet", plan_out], capture_output=True, text=True, timeout=60)
    t.ok(tidy.returncode in (0, 1) and "Error:" not in tidy.stderr, "tidy -errors: no error in the plan report",
         tidy.stderr[-1500:])

    pages = browse_all(d, {
        "report": ("file://" + out, None),
        "report.png": ("file://" + out, os.path.join(SHOTS, "report.png")),
        "plan": ("file://" + plan_out, None),
        "plan.png": ("file://" + plan_out, os.path.join(SHOTS, "report-plan.png")),
    })
    dom = Dom(pages["report"])
    for cc in ("DE", "FR", "NO"):
        t.ok("j-EU-GDPR" in dom.classes(cc), "map: %s carries the EU-GDPR class" % cc, dom.classes(cc))
    t.ok("j-RU-152FZ" in dom.classes("RU"), "map: RU carries its own class (RU-152FZ)", dom.classes("RU"))
    t.ok("j-CN-PIPL" in dom.classes("CN"), "map: CN carries its own class (CN-PIPL)", dom.classes("CN"))
    t.ok("j-EU-GDPR" not in dom.classes("RU") | dom.classes("CN"), "map: RU and CN are not EU-GDPR")
    t.ok("sub" in dom.classes("US") and "sub" in dom.classes("CA"),
         "map: US and CA are marked: some subdivisions have rules of their own")
    paths = dom.find("path")
    t.ok(len([p for p in paths if "id" in p]) > 200, "map: more than 200 country paths (%d)" % len(paths))
    t.ok("EU-GDPR" in dom.text_of.get("jur-j-EU-GDPR", ""), "the EU-GDPR section is there, named in words")
    t.ok("Regulation (EU) 2016/679" in dom.text_of.get("jur-j-EU-GDPR", ""), "it cites the law")
    legend = "".join(dom.text_of.get(k, "") for k in ("map",))
    t.ok("CN-PIPL" in legend and "decides" in legend, "the legend names each jurisdiction in words")
    t.ok(not dom.classes("NO") & {"changed"}, "no plan: nothing is outlined as changed")
    is_png(t, os.path.join(SHOTS, "report.png"), "report")

    plan = Dom(pages["plan"])
    t.ok({"j-JP-APPI", "changed"} <= plan.classes("NO"), "plan: NO is JP-APPI's now and highlighted",
         plan.classes("NO"))
    t.ok("changed" not in plan.classes("DE"), "plan: DE does not change")
    moves = plan.find("tr", data_location="NO")
    t.ok(len(moves) == 1, "plan: NO is listed among the locations that move")
    t.ok("EU-GDPR" in plan.text_of.get("plan-moves", "") and "JP-APPI" in plan.text_of.get("plan-moves", ""),
         "plan: the move reads EU-GDPR to JP-APPI")
    want = json.loads(h.run([h.BIN, "rules", "plan", "--from", live, "--to", changed, "--at", at, "--json"],
                            timeout=60).stdout)
    got = json.loads(plan.text_of.get("plan-json", "null"))
    for k in ("changes", "moves"):
        t.ok(got is not None and got.get(k) == want.get(k), "plan: the page's JSON has rules plan --json's %s" % k)
    is_png(t, os.path.join(SHOTS, "report-plan.png"), "plan report")


# ---------------------------------------------------------------------------------------------
# the admin listener's pages

INJECT = "<script>alert(1)</script>"


def check_admin_pages(t, d):
    regions = ["eu-central", "us-east", "ap-northeast"]
    rules = h.compile_rules(os.path.join(h.SOURCE_DIR, "regions"), d)
    backends = h.start_backends(d, regions)
    keys = h.write_pin_keys(d, {"k1": bytes(range(32))})
    admin_port = h.free_port()
    clusters = [{"name": "%s-c" % r, "region": r, "nodes": [b.url for b in backends[r]],
                 "health": {"path": "/__health", "interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 1}}
                for r in regions]
    cfg = h.base_config(d, rules, backends, listeners=("clear",), pin_keys=keys, clusters=clusters,
                        extra={"admin": {"listen": "127.0.0.1:%d" % admin_port}})
    gw = h.Gateway(d, cfg).start()
    admin = "http://127.0.0.1:%d" % admin_port

    def status():
        code, body = get(admin + "/status")
        return json.loads(body) if code == 200 else None

    h.wait_until(lambda: status() and all(r["up"] for r in status()["regions"]), 20, what="every region up")
    # arrange: us-east's only node stopped
    stopped = backends["us-east"][0]
    h._kill_group(stopped.proc)
    stopped.proc.wait(timeout=10)
    h.wait_until(lambda: {r["name"]: r["up"] for r in status()["regions"]} ==
                 {"eu-central": True, "us-east": False, "ap-northeast": True}, 20, what="us-east marked down")
    # traffic for the per-minute tables: a routed write from Germany, a refusal from Russia (no cluster)
    host, port = gw.listener("clear")
    for ip in (h.geo_addr("DE", ""), h.geo_addr("RU", "")):
        req = urllib.request.Request("http://%s:%d/v1/sync/report-test" % (host, port), data=b"x", method="PUT",
                                     headers={"X-Forwarded-For": ip})
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            e.read()

    pin = h.mint_pin(keys, "k1", "JP-APPI")
    xff_client = h.geo_addr("US", "US-CA")
    asks = [  # five requests: (form fields, explain's own arguments for the same)
        ({"ip": h.geo_addr("DE", ""), "method": "PUT", "path": "/v1/sync/a.txt"},
         ["--method", "PUT", "--path", "/v1/sync/a.txt"]),
        ({"ip": h.geo_addr("RU", ""), "method": "PUT", "path": "/v1/notifications/x"},
         ["--method", "PUT", "--path", "/v1/notifications/x"]),
        ({"ip": "127.0.0.1", "method": "POST", "path": "/v1/files/x", "headers": "X-Forwarded-For: " + xff_client},
         ["--method", "POST", "--path", "/v1/files/x", "--header", "X-Forwarded-For: " + xff_client]),
        ({"ip": h.geo_addr("FR", ""), "method": "PUT", "path": "/v1/marketing/prefs", "consent": "marketing"},
         ["--method", "PUT", "--path", "/v1/marketing/prefs", "--header", "domicile-consent: marketing"]),
        ({"ip": h.geo_addr("DE", ""), "method": "PUT", "path": "/v1/sync/../sync/b", "pin": pin},
         ["--method", "PUT", "--path", "/v1/sync/../sync/b", "--pin", pin]),
    ]
    for form, _ in asks:
        form.setdefault("ip", "")
    long_path = "/v1/sync/" + "a" * 3000
    refusals = {  # key: (query, words the error must hold)
        "oversized": ({"ip": "127.0.0.1", "path": long_path}, "field path is too long"),
        "bad-escape": ("ip=%zz", "broken %-escape"),
        "bad-ip": ({"ip": "not-an-address"}, "address wants an IPv4 or IPv6 address"),
        "bad-method": ({"ip": "127.0.0.1", "method": "GE T"}, "method must be an HTTP method token"),
        "bad-header": ({"ip": "127.0.0.1", "headers": "no colon here"}, "each header line wants 'Name: value'"),
        "unknown-field": ("ip=127.0.0.1&evil=1", "unknown field"),
    }
    fields = ["ip", "method", "path", "headers", "pin", "consent"]
    injections = {}
    for f in fields:
        form = {"ip": "127.0.0.1", "method": "GET", "path": "/v1/account"}
        form[f] = INJECT if f != "headers" else "X-Note: " + INJECT
        injections[f] = form

    def url(q):
        return admin + "/explain?" + (q if isinstance(q, str) else urllib.parse.urlencode(q))

    jobs = {"status": (admin + "/", None), "status.png": (admin + "/", os.path.join(SHOTS, "status.png")),
            "explorer.png": (url(asks[0][0]), os.path.join(SHOTS, "explorer.png"))}
    for i, (form, _) in enumerate(asks):
        jobs["ask%d" % i] = (url(form), None)
    for k, (q, _) in refusals.items():
        jobs["refuse-" + k] = (url(q), None)
    for f, form in injections.items():
        jobs["inject-" + f] = (url(form), None)
    pages = browse_all(d, jobs)

    # the status page
    dom = Dom(pages["status"])
    want = {"eu-central": "up", "us-east": "down", "ap-northeast": "up"}
    for region, health in want.items():
        rows = dom.find("tr", **{"class": "region", "data_region": region})
        t.ok(len(rows) == 1 and rows[0].get("data-health") == health,
             "status page: region %s shows %s" % (region, health), rows)
        nodes = dom.find("tr", **{"class": "node", "data_region": region})
        t.ok(len(nodes) == 1 and nodes[0].get("data-health") == health,
             "status page: region %s's node shows %s" % (region, health), nodes)
    s = status()
    t.eq(dom.text_of.get("rules-hash", "").strip(), s["rules"]["source_hash"], "status page: the ruleset's hash")
    t.eq(dom.text_of.get("geo-hash", "").strip(), s["geo"]["sha256"], "status page: the geo database's hash")
    t.ok("EU-GDPR" in dom.text_of.get("requests", ""), "status page: requests per jurisdiction count EU-GDPR")
    t.ok(dom.text_of.get("refusals", "").count("no_compliant_region") + dom.text_of.get("refusals", "").count(
        "region_unavailable") >= 1, "status page: refusals per reason count the refused write",
        dom.text_of.get("refusals", ""))
    t.ok(any(a.get("http-equiv") == "refresh" for a in dom.find("meta")), "status page refreshes itself")
    is_png(t, os.path.join(SHOTS, "status.png"), "status page")

    # the explorer: the same answer as explain -c
    for i, (form, args) in enumerate(asks):
        page = Dom(pages["ask%d" % i])
        r = h.run([h.BIN, "explain", "-c", gw.cfg_path, "--ip", form["ip"], "--json"] + args, timeout=60)
        t.require(r.returncode == 0, "explain -c for request %d" % i, r.stderr)
        want = json.loads(r.stdout)
        got = json.loads(page.text_of.get("explain-json", "null") or "null")
        if got is not None:
            got["request"].pop("now", None)
        want["request"].pop("now", None)
        t.ok(got == want, "explorer %d (%s %s from %s): the answer equals explain --json (%s %s)" % (
            i, form.get("method"), form.get("path"), form["ip"], want["action"], want["reason"]),
            "got %s\nwant %s" % (json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)))
        words = h.run([h.BIN, "explain", "-c", gw.cfg_path, "--ip", form["ip"]] + args, timeout=60).stdout
        strip = lambda s: [ln for ln in s.strip().splitlines() if not ln.startswith("decided at")]  # noqa: E731
        t.ok(strip(page.text_of.get("explain-words", "")) == strip(words),
             "explorer %d: the words are explain's too" % i)
    is_png(t, os.path.join(SHOTS, "explorer.png"), "explorer")

    for k, (q, words) in refusals.items():
        page = Dom(pages["refuse-" + k])
        err = page.text_of.get("error", "")
        t.ok(words in err and "Refused (400)" in err, "explorer refuses %s input: %r" % (k, err.strip()[:120]))
        t.ok("explain-json" not in page.by_id, "explorer: no answer for %s input" % k)
    code, _ = get(url(refusals["oversized"][0]))
    t.eq(code, 400, "explorer: oversized input is a 400")
    with socket.create_connection(("127.0.0.1", admin_port), timeout=10) as c:
        # exactly the 8 KiB the listener reads, without the end of the header section (more would be reset unread)
        line = "GET /explain?ip=127.0.0.1&path=" + "b" * 8192
        c.sendall(line[:8192].encode())
        answer = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            answer += chunk
    t.ok(answer.startswith(b"HTTP/1.1 431") and b"request too large" in answer,
         "a request over the admin listener's 8 KiB is refused as too large", answer[:200])

    for f in fields:
        page_text = pages["inject-" + f]
        page = Dom(page_text)
        scripts = [tag for tag, _ in page.elements if tag == "script"]
        t.ok(not scripts and "<script>alert" not in page_text, "explorer: <script> in %s is no element" % f)
        t.ok("&lt;script&gt;alert(1)&lt;/script&gt;" in page_text, "explorer: <script> in %s comes back as text" % f)
    code, body = get(url(injections["path"]))
    t.ok("<script>" not in body and "&lt;script&gt;" in body, "explorer: the raw answer escapes it too")


def main(t):
    if CHROMIUM is None or TIDY is None:
        print("SKIP: chromium and tidy are needed (scripts/setup installs them)", flush=True)
        sys.exit(SKIP)
    if not os.path.exists(h.GEO_DB):
        raise h.TestFailure("no %s (build the fixtures target)" % h.GEO_DB)
    os.makedirs(SHOTS, exist_ok=True)
    d = h.tmpdir()
    check_report(t, d)
    check_admin_pages(t, d)
    if os.environ.get("DOMICILE_UPDATE_DOCS"):
        shutil.copy(os.path.join(SHOTS, "report.png"), os.path.join(h.SOURCE_DIR, "docs", "report.png"))
        t.note("docs/report.png updated from this run's screenshot")


if __name__ == "__main__":
    h.run_test("report_pages", main, timeout=900)
