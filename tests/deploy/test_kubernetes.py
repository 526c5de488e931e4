#!/usr/bin/env python3
"""The Kubernetes manifests and the Containerfile (issue 13), checked without a cluster or a container engine.

- every file of deploy/kubernetes parses as YAML, the kustomization's resources and generator files exist;
- the Deployment has what a fleet needs: readiness on /readyz and liveness on /healthz of the admin port, a
  preStop that drains, terminationGracePeriodSeconds above the preStop wait plus limits.drain_timeout, every
  container non-root with a read-only root filesystem and no capabilities, the rules ConfigMap compiled by a
  sidecar into a shared emptyDir that the gateway reads at the config's `rules:` path, the geo database fetched
  by an updater into another shared emptyDir at the config's `geo.database` path, the Service on the named port;
- the pod's configuration passes `domicile serve --check` (its paths moved to a temp dir);
- the sidecar scripts run here as they would in the pod: compile-rules.sh compiles regions/ and renames it in,
  and refuses broken rule files; fetch-geo.sh fetches (file:// here), checks and renames a geo database in;
- `kubectl kustomize` renders the kustomization where a kubectl is on PATH (said either way);
- the Containerfile builds on Debian 12 and runs as a non-root user with domicile as its entry point.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
try:
    import yaml
except ImportError:  # python3-yaml is Debian's (scripts/setup): another python3 first on PATH may lack it
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

K8S = os.path.join(H.SOURCE_DIR, "deploy", "kubernetes")


def load(name):
    with open(os.path.join(K8S, name), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def seconds(v):
    m = re.match(r"^(\d+)(ms|s|m)?$", str(v))
    n = int(m.group(1))
    return n / 1000 if m.group(2) == "ms" else n * 60 if m.group(2) == "m" else n


def body(t):
    files = sorted(f for f in os.listdir(K8S) if f.endswith(".yaml"))
    docs = {}
    for f in files:
        try:
            docs[f] = load(f)
            t.ok(True, "%s parses as YAML (%d documents)" % (f, len(docs[f])))
        except yaml.YAMLError as e:
            t.ok(False, "%s parses as YAML" % f, e)
    kust = docs["kustomization.yaml"][0]
    for res in kust["resources"]:
        t.ok(os.path.exists(os.path.join(K8S, res)), "kustomization resource %s exists" % res)
    generated = {}
    for gen in kust.get("configMapGenerator", []):
        for f in gen["files"]:
            t.ok(os.path.exists(os.path.join(K8S, f.split("=")[-1])), "configMapGenerator %s: %s exists" %
                 (gen["name"], f))
        generated[gen["name"]] = gen
    objs = [d for res in kust["resources"] for d in docs[res]]
    kinds = {d["kind"]: d for d in objs}
    for k in ("Deployment", "Service", "Namespace", "PodDisruptionBudget", "NetworkPolicy"):
        t.ok(k in kinds, "the kustomization has a %s" % k)
    for d in objs:
        t.ok(d.get("apiVersion") and d.get("metadata", {}).get("name"), "%s has apiVersion and metadata.name" %
             d.get("kind"))

    dep = kinds["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    t.ok(dep["spec"]["replicas"] >= 2, "Deployment: more than one replica (%d)" % dep["spec"]["replicas"])
    labels = dep["spec"]["template"]["metadata"]["labels"]
    t.eq(dep["spec"]["selector"]["matchLabels"], {k: labels[k] for k in dep["spec"]["selector"]["matchLabels"]},
         "Deployment: the selector matches the pod's labels")
    psc = spec.get("securityContext", {})
    t.ok(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "pod: runAsNonRoot, a non-zero uid")
    containers = spec["containers"] + spec.get("initContainers", [])
    for c in containers:
        sc = c.get("securityContext", {})
        t.ok(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False and
             sc.get("capabilities", {}).get("drop") == ["ALL"],
             "container %s: read-only root filesystem, no privilege escalation, no capabilities" % c["name"], sc)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for c in containers:
        for m in c.get("volumeMounts", []):
            t.ok(m["name"] in volumes, "container %s mounts volume %s, which exists" % (c["name"], m["name"]))

    gw = next(c for c in spec["containers"] if c["name"] == "domicile")
    ports = {p["name"]: p["containerPort"] for p in gw["ports"]}
    rp, lp = gw["readinessProbe"]["httpGet"], gw["livenessProbe"]["httpGet"]
    t.ok(rp["path"] == "/readyz" and ports.get(rp["port"], rp["port"]) == 9090,
         "readinessProbe: /readyz on the admin port (never ?region=)", rp)
    t.ok(lp["path"] == "/healthz" and ports.get(lp["port"], lp["port"]) == 9090, "livenessProbe: /healthz", lp)
    pre = " ".join(gw["lifecycle"]["preStop"]["exec"]["command"])
    t.ok("kill -TERM 1" in pre, "preStop drains: SIGTERM to the gateway and waits for it", pre)

    cfg_path = [a for a in gw["args"] if a.endswith(".yaml")][0]
    mounts = {m["mountPath"]: m for m in gw["volumeMounts"]}
    cfg_mount = mounts[os.path.dirname(cfg_path)]
    t.ok(volumes[cfg_mount["name"]]["configMap"]["name"] in generated,
         "the gateway's config comes from the generated ConfigMap")
    cfg = yaml.safe_load(open(os.path.join(K8S, os.path.basename(cfg_path))))
    wait = int(re.search(r"sleep (\d+)", pre).group(1))
    drain = seconds(cfg["limits"]["drain_timeout"])
    grace = spec["terminationGracePeriodSeconds"]
    t.ok(grace > wait + drain, "terminationGracePeriodSeconds %d > preStop wait %d s + drain_timeout %d s" %
         (grace, wait, drain))

    def mount_of(container, path):
        for m in container.get("volumeMounts", []):
            if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/"):
                return m
        return None

    rules_m, geo_m = mount_of(gw, cfg["rules"]), mount_of(gw, cfg["geo"]["database"])
    t.ok(rules_m is not None and "emptyDir" in volumes[rules_m["name"]], "the gateway reads rules from an emptyDir")
    t.ok(geo_m is not None and "emptyDir" in volumes[geo_m["name"]] and geo_m.get("readOnly"),
         "the gateway reads the geo database from an emptyDir, read-only")
    compiler = next(c for c in spec["containers"] if c["name"] == "rules-compiler")
    updater = next(c for c in spec["containers"] if c["name"] == "geo-updater")
    cm = mount_of(compiler, cfg["rules"])
    t.ok(cm is not None and cm["name"] == rules_m["name"] and not cm.get("readOnly"),
         "the rules-compiler sidecar writes the same emptyDir")
    regions_vol = [m for m in compiler["volumeMounts"] if "configMap" in volumes[m["name"]] and
                   volumes[m["name"]]["configMap"]["name"] == "domicile-rules"]
    t.ok(regions_vol, "the rules-compiler reads the domicile-rules ConfigMap (rule YAML files)")
    um = mount_of(updater, cfg["geo"]["database"])
    t.ok(um is not None and um["name"] == geo_m["name"] and not um.get("readOnly"),
         "the geo-updater sidecar writes the geo emptyDir")
    inits = [c["name"] for c in spec.get("initContainers", [])]
    t.eq(inits, ["rules-init", "geo-init"], "init containers put the first rules and geo database in place")
    t.ok(cfg["admin"].get("token_file") and cfg["admin"].get("open_probes") is True,
         "admin: a token for /status and /metrics, open probes for the kubelet")

    svc = kinds["Service"]
    t.ok(all(svc["spec"]["selector"].get(k) == v for k, v in svc["spec"]["selector"].items() if k in labels) and
         set(svc["spec"]["selector"]) <= set(labels), "Service: the selector matches the pods")
    t.ok(all(p["targetPort"] in ports for p in svc["spec"]["ports"]) and
         all(ports.get(p["targetPort"]) != 9090 for p in svc["spec"]["ports"]),
         "Service: targets the named client port, never the admin port")

    # the pod's configuration, checked by the gateway itself
    d = H.tmpdir()
    cert, key = H.tls_cert()
    token = os.path.join(d, "token")
    with open(token, "w") as f:
        f.write("k8s-test-token-0123456789abcdef\n")
    os.chmod(token, 0o600)
    rules_db = os.path.join(d, "rules", "rules.mdb")
    os.makedirs(os.path.dirname(rules_db))
    geo = os.path.join(d, "geo", "geo.mmdb")
    os.makedirs(os.path.dirname(geo))
    text = open(os.path.join(K8S, os.path.basename(cfg_path))).read()
    for a, b in ((cfg["rules"], rules_db), (cfg["geo"]["database"], geo), (cfg["admin"]["token_file"], token),
                 (cfg["listen"][0]["tls"]["certificate"], cert), (cfg["listen"][0]["tls"]["key"], key),
                 (cfg["audit"]["path"], os.path.join(d, "audit.log"))):
        text = text.replace(a, b)
    text = text.replace('"*:8443"', '"127.0.0.1:%d"' % H.free_port()).replace('"*:9090"', '"*:%d"' % H.free_port())
    pod_cfg = os.path.join(d, "pod.yaml")
    with open(pod_cfg, "w") as f:
        f.write(text)

    # the sidecars' scripts, run as in the pod (ONCE=1: the init containers' mode)
    scripts = os.path.join(K8S, "scripts")
    env = dict(os.environ, PATH=os.path.dirname(H.BIN) + ":" + os.environ.get("PATH", ""), ONCE="1")
    r = subprocess.run(["sh", os.path.join(scripts, "compile-rules.sh")], capture_output=True, text=True, timeout=60,
                       env=dict(env, RULES_SRC=os.path.join(H.SOURCE_DIR, "regions"), RULES_DEST=rules_db))
    t.ok(r.returncode == 0 and os.path.exists(rules_db) and not os.path.exists(rules_db + ".new"),
         "compile-rules.sh compiles the rule files and renames the database in", r.stdout + r.stderr)
    broken = H.write_files(os.path.join(d, "broken"), {"_regions.yaml": "regions: [\n"})
    ino = os.stat(rules_db).st_ino
    r = subprocess.run(["sh", os.path.join(scripts, "compile-rules.sh")], capture_output=True, text=True, timeout=60,
                       env=dict(env, RULES_SRC=broken, RULES_DEST=rules_db))
    t.ok(r.returncode != 0 and os.stat(rules_db).st_ino == ino and "rules in use stay" in r.stderr,
         "compile-rules.sh refuses rule files that do not check and leaves the database in use", r.stderr)
    r = subprocess.run(["sh", os.path.join(scripts, "fetch-geo.sh")], capture_output=True, text=True, timeout=60,
                       env=dict(env, GEO_URL="file://" + H.GEO_DB, GEO_DEST=geo, RULES_DB=rules_db))
    t.ok(r.returncode == 0 and open(geo, "rb").read() == open(H.GEO_DB, "rb").read(),
         "fetch-geo.sh fetches, checks and renames the geo database in", r.stdout + r.stderr)
    bad = os.path.join(d, "bad.mmdb")
    with open(bad, "wb") as f:
        f.write(b"not a maxmind db\n" * 100)
    os.utime(bad, (os.stat(geo).st_mtime + 60,) * 2)  # newer than the one in use: fetched, then refused
    r = subprocess.run(["sh", os.path.join(scripts, "fetch-geo.sh")], capture_output=True, text=True, timeout=60,
                       env=dict(env, GEO_URL="file://" + bad, GEO_DEST=geo, RULES_DB=rules_db))
    t.ok(r.returncode != 0 and open(geo, "rb").read() == open(H.GEO_DB, "rb").read(),
         "fetch-geo.sh refuses a file that is no geo database and keeps the one in use", r.stderr)

    r = H.run([H.BIN, "serve", "--check", "-c", pod_cfg])
    t.ok(r.returncode == 0, "the pod's configuration passes serve --check (paths moved to a temp dir)",
         r.stdout + r.stderr)

    kubectl = shutil.which("kubectl")
    if kubectl:
        r = H.run([kubectl, "kustomize", K8S], timeout=60)
        rendered = list(yaml.safe_load_all(r.stdout)) if r.returncode == 0 else []
        rk = sorted(x["kind"] for x in rendered if x)
        t.ok(r.returncode == 0 and "Deployment" in rk and rk.count("ConfigMap") == len(generated),
             "kubectl kustomize renders it: %s" % rk, r.stderr[-1500:])
        t.note("kubectl kustomize was run (%s)" % H.run([kubectl, "version", "--client"]).stdout.splitlines()[0])
    else:
        t.note("kubectl is not installed: `kubectl kustomize` was not run (YAML parse and field checks only)")

    cf = open(os.path.join(H.SOURCE_DIR, "deploy", "container", "Containerfile")).read()
    froms = re.findall(r"^FROM\s+(\S+)", cf, re.M)
    t.ok(froms and all(re.search(r"debian:12", f) for f in froms), "Containerfile: Debian 12 images", froms)
    final = cf.split("FROM ")[-1]
    t.ok(re.search(r"^USER\s+(?!0\b|root\b)\S+", final, re.M) and 'ENTRYPOINT ["/usr/bin/domicile"]' in final,
         "Containerfile: the runtime image runs domicile as a non-root user")
    t.ok("-dev" not in final, "Containerfile: the runtime stage installs no -dev package")


if __name__ == "__main__":
    H.run_test("deploy_kubernetes", body, timeout=150)
