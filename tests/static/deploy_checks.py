#!/usr/bin/env python3
"""Static checks of pacspull's deployment artefacts; driven by check_deploy.sh.

Prints one line per check: `PASS <name>`, `FAIL <name>: <why>` or
`SKIP <name>: <why>`. The exit status is 0 when this script ran to the end,
whatever the checks found; check_deploy.sh counts the lines.

Usage: deploy_checks.py REPO_ROOT [RENDERED_KUSTOMIZE_YAML [HAPROXY_EXE]]

The site file deploy/site.example.yaml is the source of truth for ports and AE
titles; everything else must agree with it. deploy/grafana/README.md is the
source of truth for metric names.
"""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

import yaml

SERVICES = ["finder", "mover", "receiver", "filter", "checker", "dispatcher"]
SINGLETONS = ["finder", "mover", "filter", "checker", "dispatcher"]
STORE_READERS = ["filter", "checker", "dispatcher"]
STORE_PATH = "/var/lib/pacspull/store"
CONFIG_PATH = "/etc/pacspull/site.yaml"


class Report:
    def __init__(self):
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def emit(self, kind, name, why=""):
        self.counts[kind] += 1
        print(f"{kind} {name}" + (f": {why}" if why else ""), flush=True)

    def check(self, name, ok, why=""):
        """Records one check; `why` explains a failure."""
        self.emit("PASS" if ok else "FAIL", name, "" if ok else why)
        return ok

    def skip(self, name, why):
        self.emit("SKIP", name, why)


R = Report()


def rel(root, path):
    return os.path.relpath(path, root)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def walk_files(base, suffixes):
    out = []
    for d, _, files in os.walk(base):
        for f in files:
            if f.endswith(suffixes):
                out.append(os.path.join(d, f))
    return sorted(out)


def key_paths(node, prefix=""):
    """Set of dotted key paths of a YAML mapping; list items are merged under []."""
    paths = set()
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            paths.add(p)
            paths |= key_paths(v, p)
    elif isinstance(node, list):
        for item in node:
            paths |= key_paths(item, prefix + "[]")
    return paths


def subst_env_default(s):
    """Resolves compose interpolation ${VAR:-default} / ${VAR-default} / ${VAR} with
    the defaults only (the check must not depend on the caller's environment)."""
    def repl(m):
        body = m.group(1)
        for sep in (":-", "-", ":?", "?"):
            if sep in body:
                name, default = body.split(sep, 1)
                return default if sep in (":-", "-") else ""
        return ""
    return re.sub(r"\$\{([^}]*)\}", repl, s)


# --------------------------------------------------------------------------- YAML/JSON
def check_parse(root):
    docs = {}
    yaml_files = [os.path.join(root, "docker-compose.yml")]
    yaml_files += walk_files(os.path.join(root, "k8s"), (".yaml", ".yml"))
    yaml_files += walk_files(os.path.join(root, "deploy"), (".yaml", ".yml"))
    for path in yaml_files:
        try:
            docs[path] = load_yaml_docs(path)
            R.check(f"yaml parses: {rel(root, path)}", len(docs[path]) > 0, "empty document")
        except (OSError, yaml.YAMLError) as e:
            R.check(f"yaml parses: {rel(root, path)}", False, str(e).replace("\n", " "))
    json_files = walk_files(os.path.join(root, "deploy"), (".json",))
    jsons = {}
    for path in json_files:
        try:
            with open(path, encoding="utf-8") as f:
                jsons[path] = json.load(f)
            R.check(f"json parses: {rel(root, path)}", True)
        except (OSError, ValueError) as e:
            R.check(f"json parses: {rel(root, path)}", False, str(e))
    R.check("grafana dashboards present", any("/grafana/dashboards/" in p for p in jsons),
            "no JSON under deploy/grafana/dashboards")
    return docs, jsons


# --------------------------------------------------------------------------- site files
def check_site_copies(root, site):
    """The compose and k8s site files are copies of the example with other hosts:
    same keys (the loader rejects unknown keys) and the same ports."""
    ref_paths = key_paths(site)
    ref_ports = port_values(site)
    for path in ["deploy/docker/site.compose.yaml", "k8s/config/site.yaml"]:
        full = os.path.join(root, path)
        try:
            other = load_yaml_docs(full)[0]
        except (OSError, yaml.YAMLError, IndexError) as e:
            R.check(f"site copy {path} loads", False, str(e))
            continue
        paths = key_paths(other)
        R.check(f"site copy {path} has the example's keys", paths == ref_paths,
                f"missing {sorted(ref_paths - paths)} extra {sorted(paths - ref_paths)}")
        R.check(f"site copy {path} has the example's ports", port_values(other) == ref_ports,
                f"{port_values(other)} != {ref_ports}")
        R.check(f"site copy {path} has the example's AE titles", ae_titles(other) == ae_titles(site),
                f"{ae_titles(other)} != {ae_titles(site)}")


def port_values(site):
    out = {}
    for section in SERVICES:
        for k, v in (site.get(section) or {}).items():
            if k.endswith("_port"):
                out[f"{section}.{k}"] = v
    return out


def ae_titles(site):
    return (site["local"]["ae_title"], site["local"]["receiver_ae_title"])


# --------------------------------------------------------------------------- compose
def check_compose(root, compose, site):
    svcs = compose.get("services", {})
    for s in SERVICES + ["postgres", "nats", "haproxy", "prometheus", "grafana"]:
        R.check(f"compose has service {s}", s in svcs, "missing")
    for name, svc in svcs.items():
        image = svc.get("image", "")
        R.check(f"compose {name}: image pinned", image and not image.endswith(":latest")
                and (":" in subst_env_default(image)), f"image '{image}'")
        build = svc.get("build")
        if build:
            ctx = os.path.join(root, build.get("context", "."))
            dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            R.check(f"compose {name}: Dockerfile exists", os.path.isfile(dockerfile),
                    rel(root, dockerfile))
        for vol in svc.get("volumes", []) or []:
            src = (subst_env_default(vol).split(":")[0] if isinstance(vol, str)
                   else subst_env_default(vol.get("source", "")))
            if src.startswith(".") or src.startswith("/"):
                R.check(f"compose {name}: mount source {src} exists",
                        os.path.exists(os.path.join(root, src)), "not found")
            elif src:
                R.check(f"compose {name}: named volume {src} declared",
                        src in (compose.get("volumes") or {}), "not in top-level volumes")
        if "depends_on" in svc and isinstance(svc["depends_on"], dict):
            for dep in svc["depends_on"]:
                R.check(f"compose {name}: depends_on {dep} exists", dep in svcs, "unknown service")

    for dep in ["postgres", "nats"]:
        R.check(f"compose {dep}: has a healthcheck", "healthcheck" in svcs.get(dep, {}), "missing")
    R.check("compose postgres: image postgres:15", svcs.get("postgres", {}).get("image") == "postgres:15",
            svcs.get("postgres", {}).get("image", ""))
    nats = svcs.get("nats", {})
    cmd = nats.get("command", [])
    cmd = cmd.split() if isinstance(cmd, str) else cmd
    R.check("compose nats: 2.9 with JetStream and a store dir on a volume",
            str(nats.get("image", "")).startswith("nats:2.9") and "-js" in cmd and "-sd" in cmd
            and any(str(v).endswith(":" + cmd[cmd.index("-sd") + 1]) for v in nats.get("volumes", [])),
            f"image {nats.get('image')} command {cmd} volumes {nats.get('volumes')}")

    for s in SERVICES:
        svc = svcs.get(s)
        if svc is None:
            continue
        grpc, metrics = site[s]["grpc_port"], site[s]["metrics_port"]
        cmd = svc.get("command", [])
        cmd = cmd.split() if isinstance(cmd, str) else cmd
        R.check(f"compose {s}: command selects the service", cmd[:1] == [s], f"command {cmd}")
        R.check(f"compose {s}: built from deploy/docker/Dockerfile",
                (svc.get("build") or {}).get("dockerfile") == "deploy/docker/Dockerfile", str(svc.get("build")))
        env = svc.get("environment", {})
        R.check(f"compose {s}: ledger and bus URLs from env",
                isinstance(env, dict) and "PACSPULL_LEDGER_URL" in env and "PACSPULL_BUS_URL" in env
                and "postgres:5432/" in env["PACSPULL_LEDGER_URL"] and env["PACSPULL_BUS_URL"] == "nats://nats:4222",
                str(env))
        R.check(f"compose {s}: TCP_NODELAY=1", str(env.get("TCP_NODELAY")) == "1", str(env.get("TCP_NODELAY")))
        deps = svc.get("depends_on", {})
        R.check(f"compose {s}: waits for healthy postgres and nats",
                isinstance(deps, dict) and all((deps.get(d) or {}).get("condition") == "service_healthy"
                                               for d in ["postgres", "nats"]), str(deps))
        vols = [subst_env_default(v) for v in svc.get("volumes", [])]
        R.check(f"compose {s}: site file mounted read-only at {CONFIG_PATH}",
                any(v.split(":")[1:] == [CONFIG_PATH, "ro"] for v in vols), str(vols))
        hc = (svc.get("healthcheck") or {}).get("test", [])
        R.check(f"compose {s}: healthcheck asks gRPC health on {grpc}",
                hc[:3] == ["CMD", "pacspull-healthcheck", str(grpc)], str(hc))
        expose = [str(p) for p in svc.get("expose", [])]
        R.check(f"compose {s}: exposes gRPC {grpc} and metrics {metrics}",
                str(grpc) in expose and str(metrics) in expose, str(expose))
        store = [v for v in vols if v.split(":")[1:2] == [STORE_PATH]]
        if s == "receiver":
            R.check("compose receiver: store mounted read-write", len(store) == 1 and not store[0].endswith(":ro"),
                    str(store))
        elif s in STORE_READERS:
            R.check(f"compose {s}: store mounted read-only", len(store) == 1 and store[0].endswith(":ro"), str(store))
        else:
            R.check(f"compose {s}: no store mount", not store, str(store))

    rcv = svcs.get("receiver", {})
    dicom = site["receiver"]["dicom_port"]
    R.check("compose receiver: scalable (no host ports, no container_name)",
            "ports" not in rcv and "container_name" not in rcv, "has ports or container_name")
    R.check("compose receiver: deploy.replicas >= 2",
            int((rcv.get("deploy") or {}).get("replicas", 0)) >= 2, str(rcv.get("deploy")))
    R.check(f"compose receiver: DICOM port {dicom} exposed and set",
            str(dicom) in [str(p) for p in rcv.get("expose", [])]
            and str(rcv.get("environment", {}).get("PACSPULL_RECEIVER_DICOM_PORT")) == str(dicom),
            f"expose {rcv.get('expose')} env {rcv.get('environment', {}).get('PACSPULL_RECEIVER_DICOM_PORT')}")
    for s in SINGLETONS:
        R.check(f"compose {s}: not replicated",
                int((svcs.get(s, {}).get("deploy") or {}).get("replicas", 1)) == 1, "replicas != 1")
    hap = svcs.get("haproxy", {})
    ports = [subst_env_default(str(p)) for p in hap.get("ports", [])]
    R.check(f"compose haproxy: publishes DICOM {dicom}", any(p.split(":")[-1] == str(dicom) for p in ports),
            str(ports))
    R.check("compose haproxy: mounts deploy/haproxy/haproxy.cfg",
            any("deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg" in v for v in hap.get("volumes", [])),
            str(hap.get("volumes")))
    prom = svcs.get("prometheus", {})
    R.check("compose prometheus: mounts prometheus.yml and alerts.yml",
            any(v.startswith("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml") for v in prom.get("volumes", []))
            and any(v.startswith("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml") for v in prom.get("volumes", [])),
            str(prom.get("volumes")))
    graf = svcs.get("grafana", {})
    R.check("compose grafana: provisioning and dashboards mounted",
            any(v.startswith("./deploy/grafana/provisioning:/etc/grafana/provisioning") for v in graf.get("volumes", []))
            and any(v.startswith("./deploy/grafana/dashboards:/etc/grafana/dashboards") for v in graf.get("volumes", [])),
            str(graf.get("volumes")))
    demo = [n for n, s in svcs.items() if "demo" in (s.get("profiles") or [])]
    R.check("compose demo profile: orthanc and an AI node",
            "orthanc" in demo and "ainode" in demo, str(demo))
    if "orthanc" in svcs:
        R.check("compose orthanc: TCP_NODELAY=1",
                str(svcs["orthanc"].get("environment", {}).get("TCP_NODELAY")) == "1", "missing")
    if "ainode" in svcs:
        cmd = svcs["ainode"].get("command", [])
        R.check("compose ainode: storescp with AE/port of ai_node and timeouts",
                cmd[:1] == ["storescp"] and site["ai_node"]["ae_title"] in cmd
                and str(site["ai_node"]["port"]) in cmd and "--acse-timeout" in cmd and "--dimse-timeout" in cmd,
                str(cmd))
    return svcs


# --- credentials (issue 11 part 4) -------------------------------------------------
# Each service: its own PostgreSQL role and NATS user, passwords only from secret files,
# never migrating; the schema by a one-shot step as the owner; NATS with the shipped users
# and permissions; no literal password or placeholder that a service would accept.
CRED_USERS = SERVICES + ["operator"]
NATS_USERS = CRED_USERS + ["ai_backend"]
PLACEHOLDERS = ("changeme", "placeholder", "password", "secret", "replaceme")


def is_placeholder(v):
    k = re.sub(r"[^a-z0-9]", "", str(v).lower())
    return k != "" and (k in PLACEHOLDERS or "changeme" in k or "placeholder" in k)


def url_password(url):
    m = re.match(r"^[a-z]+://[^/@:]*:([^@/]*)@", str(url))
    return m.group(1) if m else ""


def nats_conf_users(root, path):
    """user -> (password reference, publish allow list) from a nats-server.conf we ship."""
    text = open(os.path.join(root, path), encoding="utf-8").read()
    users = {}
    for m in re.finditer(r"\{user: (\w+), password: (\$\w+), permissions: \{\s*publish: \{allow: \[([^\]]*)\]\}", text):
        users[m.group(1)] = (m.group(2), [x.strip().strip('"') for x in m.group(3).split(",") if x.strip()])
    return text, users


def check_nats_conf(root):
    text, users = nats_conf_users(root, "deploy/nats/nats-server.conf")
    R.check("nats conf: a user per service, pullctl and the AI backend", sorted(users) == sorted(NATS_USERS),
            str(sorted(users)))
    for u, (pw, allow) in users.items():
        R.check(f"nats conf {u}: password from the environment", pw == "$PACSPULL_NATS_PASSWORD_" + u.upper(), pw)
        pipeline = sorted(a for a in allow if a.startswith("pacspull."))
        R.check(f"nats conf {u}: no wildcard publish, no stream delete or purge",
                not any(a in (">", "pacspull.>", "$JS.API.>") or "DELETE" in a or "PURGE" in a for a in allow),
                str(allow))
        R.check(f"nats conf {u}: subscribes only to its own inbox", f'subscribe: {{allow: ["_INBOX_{u}.>"]}}' in text,
                "other subscribe permissions")
    want = {"finder": ["pacspull.move.request"], "mover": [], "receiver": [], "filter": ["pacspull.study.filtered"],
            "checker": ["pacspull.move.request", "pacspull.study.received"], "dispatcher": ["pacspull.dispatch.done"],
            "ai_backend": []}
    for u, subjects in want.items():
        got = sorted(a for a in users.get(u, ("", []))[1] if a.startswith("pacspull."))
        R.check(f"nats conf {u}: publishes exactly {subjects or 'no pipeline subject'}", got == sorted(subjects), str(got))
    k8s_copy = os.path.join(root, "k8s/config/nats-server.conf")
    R.check("k8s/config/nats-server.conf is a copy of deploy/nats/nats-server.conf",
            os.path.isfile(k8s_copy) and open(k8s_copy, encoding="utf-8").read() == text, "differs")
    script = open(os.path.join(root, "deploy/nats/start-with-secrets.sh"), encoding="utf-8").read()
    m = re.search(r"for user in ([a-z_ ]+); do", script)
    R.check("nats start-with-secrets.sh exports every conf user's password",
            m is not None and sorted(m.group(1).split()) == sorted(NATS_USERS), m.group(1) if m else "no loop")


def check_compose_credentials(compose):
    svcs = compose.get("services", {})
    declared = compose.get("secrets") or {}
    R.check("compose secret grpc-tokens: declared (deploy/make-secrets.sh makes it)",
            str((declared.get("grpc-tokens") or {}).get("file", "")) == "./secrets/grpc-tokens", str(list(declared)))
    for name, sec in declared.items():
        R.check(f"compose secret {name}: a file under ./secrets (deploy/make-secrets.sh)",
                str((sec or {}).get("file", "")).startswith("./secrets/"), str(sec))
    for name, svc in svcs.items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if "=" in e)
        literal = [k for k, v in env.items() if re.search(r"(PASSWORD|TOKEN)$", k) and "GRAFANA" not in k
                   and k != "GF_SECURITY_ADMIN_PASSWORD"]
        R.check(f"compose {name}: no password in the environment (files only)", not literal, str(literal))
        for k, v in env.items():
            if "URL" in k:
                R.check(f"compose {name}: {k} carries no password", url_password(v) == "", str(v))
            if k.endswith("_FILE") and str(v).startswith("/run/secrets/"):
                sec = str(v).rsplit("/", 1)[-1]
                R.check(f"compose {name}: {k} names a secret it mounts",
                        sec in (svc.get("secrets") or []) and sec in declared, sec)
    for s in SERVICES:
        env = (svcs.get(s) or {}).get("environment") or {}
        R.check(f"compose {s}: own ledger role and NATS user, passwords from files, no migrations",
                env.get("PACSPULL_LEDGER_USER") == f"pacspull_{s}"
                and env.get("PACSPULL_LEDGER_PASSWORD_FILE") == f"/run/secrets/pg-{s}"
                and env.get("PACSPULL_BUS_USER") == s
                and env.get("PACSPULL_BUS_PASSWORD_FILE") == f"/run/secrets/nats-{s}"
                and str(env.get("PACSPULL_LEDGER_MIGRATE")) == "off", str(env))
        R.check(f"compose {s}: mounts the gRPC token (state-changing calls; pullctl in the container sends it)",
                env.get("PACSPULL_GRPC_TOKEN_FILE") == "/run/secrets/grpc-tokens"
                and "grpc-tokens" in ((svcs.get(s) or {}).get("secrets") or []), str(env.get("PACSPULL_GRPC_TOKEN_FILE")))
        deps = (svcs.get(s) or {}).get("depends_on") or {}
        R.check(f"compose {s}: starts after the migrate one-shot succeeded",
                isinstance(deps, dict) and (deps.get("migrate") or {}).get("condition") == "service_completed_successfully",
                str(deps))
    mig = svcs.get("migrate") or {}
    cmd = mig.get("command") or []
    env = mig.get("environment") or {}
    R.check("compose migrate: one-shot --migrate as the owner, restart no",
            cmd[-1:] == ["--migrate"] and str(mig.get("restart")) == "no"
            and env.get("PACSPULL_LEDGER_PASSWORD_FILE") == "/run/secrets/pg-owner", f"{cmd} {mig.get('restart')}")
    R.check("compose migrate: sets every service role's password",
            all(env.get(f"PACSPULL_ROLE_PASSWORD_{u.upper()}_FILE") == f"/run/secrets/pg-{u}" for u in CRED_USERS),
            str(env))
    pg = (svcs.get("postgres") or {}).get("environment") or {}
    R.check("compose postgres: owner password from a secret file",
            pg.get("POSTGRES_PASSWORD_FILE") == "/run/secrets/pg-owner" and "POSTGRES_PASSWORD" not in pg, str(pg))
    nats = svcs.get("nats") or {}
    cmd = [str(c) for c in nats.get("command") or []]
    R.check("compose nats: runs deploy/nats/nats-server.conf through start-with-secrets.sh",
            "-c" in cmd and cmd[cmd.index("-c") + 1] == "/etc/nats/nats-server.conf"
            and any(v.startswith("./deploy/nats/nats-server.conf:/etc/nats/nats-server.conf") for v in nats.get("volumes", []))
            and "start-with-secrets.sh" in " ".join(nats.get("entrypoint") or []), f"{nats.get('entrypoint')} {cmd}")
    R.check("compose nats: every NATS user's secret mounted",
            sorted(nats.get("secrets") or []) == sorted(f"nats-{u}" for u in NATS_USERS), str(nats.get("secrets")))


def check_k8s_service_credentials(s, pod, c, env, secrets):
    val = lambda k: str((env.get(k) or {}).get("value", ""))
    R.check(f"k8s pacspull-{s}: own ledger role and NATS user, passwords from files, no migrations",
            val("PACSPULL_LEDGER_USER") == f"pacspull_{s}" and val("PACSPULL_BUS_USER") == s
            and val("PACSPULL_LEDGER_PASSWORD_FILE").startswith("/run/secrets/")
            and val("PACSPULL_BUS_PASSWORD_FILE").startswith("/run/secrets/")
            and val("PACSPULL_LEDGER_MIGRATE") == "off", str({k: v.get("value") for k, v in env.items()}))
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    cred = (vols.get("credentials") or {}).get("secret") or {}
    items = {i["key"]: i["path"] for i in cred.get("items", [])}
    R.check(f"k8s pacspull-{s}: mounts only its own secrets and the gRPC token",
            items == {f"pg-{s}": "pg-password", f"nats-{s}": "nats-password", "grpc-tokens": "grpc-tokens"}, str(items))
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    R.check(f"k8s pacspull-{s}: PACSPULL_GRPC_TOKEN_FILE is the mounted token (pullctl via kubectl exec sends it)",
            val("PACSPULL_GRPC_TOKEN_FILE") == mounts.get("credentials", "?") + "/grpc-tokens",
            val("PACSPULL_GRPC_TOKEN_FILE"))
    have = (secrets.get(cred.get("secretName", ""), {}).get("stringData") or {})
    R.check(f"k8s pacspull-{s}: its secret keys exist", all(k in have for k in items), str(sorted(have)))
    R.check(f"k8s pacspull-{s}: no password in env values",
            not any(re.search(r"(PASSWORD|TOKEN)$", k) for k in env), str(list(env)))


def check_k8s_credentials(root):
    docs = load_yaml_docs(os.path.join(root, "k8s/secret.yaml"))
    cred = [d for d in docs if d["metadata"]["name"] == "pacspull-credentials"]
    if not R.check("k8s secret pacspull-credentials exists", len(cred) == 1, "missing"):
        return
    data = cred[0].get("stringData") or {}
    want = ["pg-owner"] + [f"pg-{u}" for u in CRED_USERS] + [f"nats-{u}" for u in NATS_USERS] + ["grpc-tokens"]
    R.check("k8s pacspull-credentials: every key", sorted(data) == sorted(want), str(sorted(data)))
    R.check("k8s pacspull-credentials: shipped values are placeholders the services refuse",
            all(is_placeholder(v) for v in data.values()), str(data))
    tok = str(data.get("grpc-tokens", ""))
    R.check("k8s pacspull-credentials: the placeholder gRPC token is one the services refuse (< 16 characters after the id)",
            ":" in tok and len(tok.split(":", 1)[1]) < 16, tok)
    for d in docs:
        for k, v in (d.get("stringData") or {}).items():
            if "url" in k.lower():
                R.check(f"k8s secret {d['metadata']['name']}/{k}: no password in the URL", url_password(v) == "", v)
    job = load_yaml_docs(os.path.join(root, "k8s/migrate-job.yaml"))[0]
    c = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c.get("env", [])}
    R.check("k8s migrate job: --migrate as the owner, sets every role's password",
            c.get("args", [])[-1:] == ["--migrate"]
            and str((env.get("PACSPULL_LEDGER_PASSWORD_FILE") or {}).get("value", "")).endswith("/pg-owner")
            and all(f"PACSPULL_ROLE_PASSWORD_{u.upper()}_FILE" in env for u in CRED_USERS), str(list(env)))
    nats = load_yaml_docs(os.path.join(root, "k8s/nats.yaml"))
    sts = [d for d in nats if d["kind"] == "StatefulSet"][0]
    pod = sts["spec"]["template"]["spec"]
    nc = pod["containers"][0]
    nenv = {e["name"]: e for e in nc.get("env", [])}
    args = [str(a) for a in nc.get("args", [])]
    cmd = [str(a) for a in nc.get("command", [])]
    R.check("k8s nats: runs the shipped users and permissions through start-with-secrets.sh (refuses placeholders)",
            args[:2] == ["-c", "/etc/nats/nats-server.conf"] and cmd == ["/bin/sh", "/etc/nats/start-with-secrets.sh"],
            f"{cmd} {args[:2]}")
    R.check("k8s nats: no password in env values (files only)",
            not any(k.startswith("PACSPULL_NATS_PASSWORD") or "secretKeyRef" in (v.get("valueFrom") or {})
                    for k, v in nenv.items()), str(list(nenv)))
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"]: m["mountPath"] for m in nc.get("volumeMounts", [])}
    cred = (vols.get("credentials") or {}).get("secret") or {}
    items = {i["key"]: i["path"] for i in cred.get("items", [])}
    R.check("k8s nats: mounts exactly the NATS users' passwords as nats-<user> files where PACSPULL_SECRETS_DIR points",
            cred.get("secretName") == "pacspull-credentials" and items == {f"nats-{u}": f"nats-{u}" for u in NATS_USERS}
            and str((nenv.get("PACSPULL_SECRETS_DIR") or {}).get("value")) == mounts.get("credentials"),
            f"{items} {(nenv.get('PACSPULL_SECRETS_DIR') or {}).get('value')} {mounts.get('credentials')}")
    cfg = (vols.get("nats-config") or {}).get("configMap") or {}
    kust = yaml.safe_load(open(os.path.join(root, "k8s/kustomization.yaml"), encoding="utf-8"))
    gen = [g for g in kust.get("configMapGenerator", []) if g.get("name") == cfg.get("name")]
    files = gen[0].get("files", []) if gen else []
    R.check("k8s nats: the ConfigMap at /etc/nats holds nats-server.conf and start-with-secrets.sh (k8s/config copies)",
            mounts.get("nats-config") == "/etc/nats"
            and "start-with-secrets.sh=config/start-with-secrets.sh" in files
            and "nats-server.conf=config/nats-server.conf" in files, str(files))


def check_compose_site(root, site):
    """The compose site file points at compose service names."""
    try:
        cs = load_yaml_docs(os.path.join(root, "deploy/docker/site.compose.yaml"))[0]
    except Exception as e:  # reported by check_site_copies already
        return
    R.check("compose site file: PACS is the demo orthanc on its DICOM port",
            cs["pacs"][0]["host"] == "orthanc" and cs["pacs"][0]["port"] == 4242, str(cs["pacs"]))
    R.check("compose site file: AI node is the demo ainode",
            cs["ai_node"]["host"] == "ainode", str(cs["ai_node"]))
    try:
        with open(os.path.join(root, "deploy/docker/orthanc-demo.json"), encoding="utf-8") as f:
            orth = json.load(f)
        dest = orth["DicomModalities"]["pacspull"]
        R.check("orthanc demo: C-MOVE destination is the receiver AE behind haproxy",
                orth["DicomAet"] == cs["pacs"][0]["ae_title"] and orth["DicomPort"] == cs["pacs"][0]["port"]
                and dest == [cs["local"]["receiver_ae_title"], "haproxy", cs["receiver"]["dicom_port"]],
                f"{orth['DicomAet']} {orth['DicomPort']} {dest}")
    except (OSError, ValueError, KeyError) as e:
        R.check("orthanc demo: C-MOVE destination is the receiver AE behind haproxy", False, str(e))


# --------------------------------------------------------------------------- Dockerfile
def check_dockerfile(root):
    path = os.path.join(root, "deploy/docker/Dockerfile")
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        R.check("Dockerfile readable", False, str(e))
        return
    joined = re.sub(r"\\\n", " ", text)
    lines = [l.strip() for l in joined.splitlines() if l.strip() and not l.strip().startswith("#")]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", joined, re.M))
    froms = [l.split()[1] for l in lines if l.startswith("FROM ")]
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), f) for f in froms]
    R.check("Dockerfile: multi-stage FROM debian:bookworm", len(froms) >= 2 and all(f == "debian:bookworm" for f in froms),
            str(froms))
    R.check("Dockerfile: build stage runs deploy/setup.sh", "bash deploy/setup.sh" in joined, "missing")
    R.check("Dockerfile: cmake -G Ninja Release",
            re.search(r"cmake -S \. -B build -G Ninja -DCMAKE_BUILD_TYPE=Release", joined) is not None, "missing")
    for l in lines:
        if l.startswith("COPY ") and "--from=" not in l:
            parts = l.split()[1:]
            for src in parts[:-1]:
                R.check(f"Dockerfile: COPY source {src} exists", os.path.exists(os.path.join(root, src)), "not found")
    R.check("Dockerfile: runtime copies build/bin and /opt/pacspull-deps",
            "COPY --from=build /src/build/bin/" in joined and "COPY --from=build /opt/pacspull-deps/" in joined, "missing")
    R.check("Dockerfile: ENV TCP_NODELAY=1", re.search(r"^ENV TCP_NODELAY=1\b", joined, re.M) is not None, "missing")
    users = [l.split()[1] for l in lines if l.startswith("USER ")]
    R.check("Dockerfile: runs as non-root uid", users and users[-1].split(":")[0].isdigit()
            and users[-1].split(":")[0] != "0", str(users))
    R.check("Dockerfile: entrypoint chooses the service", any(l.startswith("ENTRYPOINT") and "pacspull-entrypoint" in l
                                                             for l in lines), "missing")
    # Runtime package names must exist in bookworm (apt lists of this machine).
    m = re.search(r"FROM \S+ AS runtime(.*)", joined, re.S)
    runtime = m.group(1) if m else ""
    m = re.search(r"apt-get install -y -qq --no-install-recommends (.*?)&&", runtime, re.S)
    pkgs = m.group(1).split() if m else []
    R.check("Dockerfile: runtime installs packages", len(pkgs) > 5, str(pkgs))
    if shutil.which("apt-cache") and pkgs:
        # One call: loading the apt cache is the slow part.
        out = subprocess.run(["apt-cache", "policy"] + pkgs, capture_output=True, text=True).stdout
        sections = {}
        for block in re.split(r"^(?=\S+:\s*$)", out, flags=re.M):
            head = block.split(":", 1)[0].strip()
            if head:
                sections[head] = block
        missing = []
        for p in pkgs:
            block = sections.get(p, "")
            cand = re.search(r"Candidate: (\S+)", block)
            if not cand or cand.group(1) == "(none)" or "bookworm" not in block:
                missing.append(p)
        if len(missing) == len(pkgs):
            R.skip("Dockerfile: runtime packages exist in bookworm", "apt lists unavailable")
        else:
            R.check("Dockerfile: runtime packages exist in bookworm", not missing, f"unknown: {missing}")
    else:
        R.skip("Dockerfile: runtime packages exist in bookworm", "apt-cache not available")
    # The targets the image builds must be CMake targets once services exist.
    tm = re.search(r'ARG TARGETS="([^"]+)"', joined)
    targets = tm.group(1).split() if tm else []
    R.check("Dockerfile: builds the six services and pullctl",
            sorted(targets) == sorted([f"pacspull-{s}" for s in SERVICES] + ["pullctl"]), str(targets))
    # Each target must come out of its services/<name>/CMakeLists.txt into build/bin
    # (the image copies build/bin only). A service folder not written yet is skipped.
    for t in targets:
        short = t[len("pacspull-"):] if t.startswith("pacspull-") else t
        cml = os.path.join(root, "services", short, "CMakeLists.txt")
        name = f"Dockerfile: target {t} built into build/bin"
        if not os.path.isfile(cml):
            R.skip(name, f"services/{short}/CMakeLists.txt not written yet")
            continue
        text = open(cml, encoding="utf-8").read()
        as_service = t.startswith("pacspull-") and re.search(rf"pacspull_service\(\s*{short}\b", text)
        as_exe = re.search(rf"add_executable\(\s*{re.escape(t)}\b", text) and "RUNTIME_OUTPUT_DIRECTORY" in text
        R.check(name, bool(as_service or as_exe),
                "expected pacspull_service(<name> ...) or add_executable(" + t + ") with RUNTIME_OUTPUT_DIRECTORY bin")


# --------------------------------------------------------------------------- k8s
NAMESPACED = {"Deployment", "StatefulSet", "Service", "Secret", "ConfigMap", "PersistentVolumeClaim",
              "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def check_k8s(root, site, rendered_path):
    kdir = os.path.join(root, "k8s")
    kust_path = os.path.join(kdir, "kustomization.yaml")
    try:
        kust = load_yaml_docs(kust_path)[0]
    except Exception as e:
        R.check("k8s kustomization loads", False, str(e))
        return
    resources = kust.get("resources", [])
    for r in resources:
        R.check(f"kustomization resource {r} exists", os.path.isfile(os.path.join(kdir, r)), "not found")
    for gen in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
        for f in gen.get("files", []):
            src = f.split("=", 1)[-1]
            R.check(f"kustomization generator file {src} exists", os.path.isfile(os.path.join(kdir, src)), "not found")
    manifests = [f for f in sorted(os.listdir(kdir)) if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml"]
    R.check("kustomization lists every manifest and nothing else", set(manifests) == set(resources),
            f"unlisted {sorted(set(manifests) - set(resources))}, "
            f"listed but absent {sorted(set(resources) - set(manifests))}")

    objs = []
    for f in manifests:
        for d in load_yaml_docs(os.path.join(kdir, f)):
            name = (d.get("metadata") or {}).get("name")
            ok = bool(d.get("apiVersion")) and bool(d.get("kind")) and bool(name)
            R.check(f"k8s {f}: {d.get('kind')}/{name} has apiVersion/kind/metadata.name", ok, "missing field")
            if d.get("kind") in NAMESPACED:
                R.check(f"k8s {f}: {d.get('kind')}/{name} in namespace pacspull",
                        d["metadata"].get("namespace") == "pacspull", str(d["metadata"].get("namespace")))
            objs.append(d)

    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    generated = {g["name"] for g in kust.get("configMapGenerator", [])}
    secrets = by_kind.get("Secret", {})
    pvcs = by_kind.get("PersistentVolumeClaim", {})

    # Every pod template: hardened, resourced, no service links, references resolve.
    workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("StatefulSet", {}).values())
    for w in workloads:
        n = w["metadata"]["name"]
        spec = w["spec"]
        tmpl = spec["template"]
        pod = tmpl["spec"]
        R.check(f"k8s {n}: selector matches template labels",
                all(tmpl["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items()),
                "mismatch")
        psc = pod.get("securityContext", {})
        R.check(f"k8s {n}: pod runs non-root", psc.get("runAsNonRoot") is True and int(psc.get("runAsUser", 0)) > 0,
                str(psc))
        R.check(f"k8s {n}: service links disabled", pod.get("enableServiceLinks") is False,
                "PACSPULL_* service-link variables would override the site file")
        for c in pod["containers"]:
            csc = c.get("securityContext", {})
            R.check(f"k8s {n}/{c['name']}: no privilege escalation, no capabilities",
                    csc.get("allowPrivilegeEscalation") is False and csc.get("capabilities", {}).get("drop") == ["ALL"],
                    str(csc))
            res = c.get("resources", {})
            R.check(f"k8s {n}/{c['name']}: resource requests and memory limit",
                    "cpu" in res.get("requests", {}) and "memory" in res.get("requests", {})
                    and "memory" in res.get("limits", {}), str(res))
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    R.check(f"k8s {n}: secret {ref['name']}/{ref['key']} exists",
                            ref["key"] in (secrets.get(ref["name"], {}).get("stringData") or {}), "missing")
            for ef in c.get("envFrom", []):
                if "secretRef" in ef:
                    R.check(f"k8s {n}: secret {ef['secretRef']['name']} exists", ef["secretRef"]["name"] in secrets,
                            "missing")
        for v in pod.get("volumes", []):
            if "configMap" in v:
                R.check(f"k8s {n}: configmap {v['configMap']['name']} generated", v["configMap"]["name"] in generated,
                        "not in configMapGenerator")
            if "persistentVolumeClaim" in v:
                R.check(f"k8s {n}: pvc {v['persistentVolumeClaim']['claimName']} exists",
                        v["persistentVolumeClaim"]["claimName"] in pvcs, "missing")

    deps = by_kind.get("Deployment", {})
    for s in SERVICES:
        d = deps.get(f"pacspull-{s}")
        if not R.check(f"k8s deployment pacspull-{s} exists", d is not None, "missing"):
            continue
        grpc, metrics = site[s]["grpc_port"], site[s]["metrics_port"]
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        R.check(f"k8s pacspull-{s}: args select the service", c.get("args", [])[:1] == [s], str(c.get("args")))
        env = {e["name"]: e for e in c.get("env", [])}
        R.check(f"k8s pacspull-{s}: ledger URL from secret, bus URL set",
                "secretKeyRef" in (env.get("PACSPULL_LEDGER_URL", {}).get("valueFrom") or {})
                and str(env.get("PACSPULL_BUS_URL", {}).get("value", "")).startswith("nats://"), str(list(env)))
        check_k8s_service_credentials(s, pod, c, env, secrets)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        R.check(f"k8s pacspull-{s}: container ports grpc {grpc} / metrics {metrics}",
                ports.get("grpc") == grpc and ports.get("metrics") == metrics, str(ports))
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
            R.check(f"k8s pacspull-{s}: {probe} is native gRPC on {grpc}",
                    (c.get(probe) or {}).get("grpc", {}).get("port") == grpc, str(c.get(probe)))
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        R.check(f"k8s pacspull-{s}: prometheus.io annotations on {metrics}",
                ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(metrics)
                and ann.get("prometheus.io/path") == "/metrics", str(ann))
        csc = c.get("securityContext", {})
        psc = pod.get("securityContext", {})
        R.check(f"k8s pacspull-{s}: uid 10001 (image user), read-only root",
                psc.get("runAsUser") == 10001 and psc.get("fsGroup") == 10001 and csc.get("readOnlyRootFilesystem") is True,
                f"{psc} {csc}")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        R.check(f"k8s pacspull-{s}: config mounted at /etc/pacspull",
                mounts.get("/etc/pacspull", {}).get("readOnly") is True, str(list(mounts)))
        store = mounts.get(STORE_PATH)
        if s == "receiver":
            R.check("k8s pacspull-receiver: store mounted read-write", store is not None and not store.get("readOnly"),
                    str(store))
        elif s in STORE_READERS:
            R.check(f"k8s pacspull-{s}: store mounted read-only", store is not None and store.get("readOnly") is True,
                    str(store))
        else:
            R.check(f"k8s pacspull-{s}: no store mount", store is None, str(store))
        if s in SINGLETONS:
            R.check(f"k8s pacspull-{s}: singleton (replicas 1, Recreate)",
                    d["spec"].get("replicas") == 1 and d["spec"].get("strategy", {}).get("type") == "Recreate",
                    f"replicas {d['spec'].get('replicas')} strategy {d['spec'].get('strategy')}")

    rcv = deps.get("pacspull-receiver")
    dicom = site["receiver"]["dicom_port"]
    if rcv:
        c = rcv["spec"]["template"]["spec"]["containers"][0]
        R.check("k8s pacspull-receiver: replicas >= 2, never below during rollout",
                rcv["spec"].get("replicas", 1) >= 2
                and rcv["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0,
                str(rcv["spec"].get("strategy")))
        R.check(f"k8s pacspull-receiver: dicom container port {dicom}",
                {p["name"]: p["containerPort"] for p in c["ports"]}.get("dicom") == dicom, str(c["ports"]))
    svcs = by_kind.get("Service", {})
    lb = [s for s in svcs.values() if any(p.get("port") == dicom for p in s["spec"].get("ports", []))
          and s["spec"].get("selector", {}).get("app.kubernetes.io/name") == "pacspull-receiver"]
    if R.check("k8s: a Service exposes the receivers' DICOM port", len(lb) == 1, f"found {len(lb)}"):
        spec = lb[0]["spec"]
        port = [p for p in spec["ports"] if p["port"] == dicom][0]
        R.check("k8s receiver DICOM Service: LoadBalancer/NodePort, TCP, no session affinity",
                spec.get("type") in ("LoadBalancer", "NodePort") and port.get("protocol", "TCP") == "TCP"
                and spec.get("sessionAffinity") == "None", str(spec))
    # Every Service selects some pod template and its named target ports exist.
    for name, s in svcs.items():
        sel = s["spec"].get("selector", {})
        targets = [w for w in workloads if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                                               for k, v in sel.items())]
        if R.check(f"k8s service {name}: selector matches a workload", len(targets) >= 1, str(sel)):
            names = {p["name"] for w in targets for c in w["spec"]["template"]["spec"]["containers"]
                     for p in c.get("ports", [])}
            for p in s["spec"]["ports"]:
                tp = p.get("targetPort")
                if isinstance(tp, str):
                    R.check(f"k8s service {name}: targetPort {tp} exists", tp in names, str(sorted(names)))
    pdbs = by_kind.get("PodDisruptionBudget", {})
    R.check("k8s: PodDisruptionBudget for receivers",
            any(p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == "pacspull-receiver"
                for p in pdbs.values()), "missing")
    R.check("k8s: store PVC is ReadWriteMany",
            any("ReadWriteMany" in p["spec"].get("accessModes", []) for p in pvcs.values()), "missing")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        R.check(f"k8s hpa {hpa['metadata']['name']}: targets the receiver only, min >= 2",
                hpa["spec"]["scaleTargetRef"]["name"] == "pacspull-receiver" and hpa["spec"]["minReplicas"] >= 2,
                str(hpa["spec"]["scaleTargetRef"]))

    if rendered_path:
        try:
            rendered = load_yaml_docs(rendered_path)
        except Exception as e:
            R.check("kustomize output parses", False, str(e))
            return
        names = {(d["kind"], d["metadata"]["name"]) for d in rendered}
        cms = [n for k, n in names if k == "ConfigMap" and n.startswith("pacspull-site-")]
        R.check("kustomize output: site ConfigMap with content hash", len(cms) == 1, str(cms))
        # The NATS users and permissions (issue 11 part 4) are a hashed ConfigMap too.
        nats_cms = [n for k, n in names if k == "ConfigMap" and n.startswith("pacspull-nats-config-")]
        R.check("kustomize output: NATS config ConfigMap with content hash", len(nats_cms) == 1, str(nats_cms))
        cms = cms + nats_cms
        refs = {v["configMap"]["name"] for d in rendered if d["kind"] in ("Deployment", "StatefulSet")
                for v in d["spec"]["template"]["spec"].get("volumes", []) if "configMap" in v}
        R.check("kustomize output: workloads mount the hashed ConfigMap", refs == set(cms), f"{refs} vs {cms}")
        R.check("kustomize output: every object namespaced or the namespace itself",
                all(d["kind"] == "Namespace" or d["metadata"].get("namespace") == "pacspull" for d in rendered), "no")
        R.check("kustomize output: objects = manifests + generated ConfigMap",
                len(rendered) == len(objs) + len(generated), f"{len(rendered)} vs {len(objs)}+{len(generated)}")


# --------------------------------------------------------------------------- k8s: NATS cluster
def check_nats_cluster(root):
    """k8s runs NATS as a JetStream cluster of an odd number (>= 3) of nodes with stream
    replicas = nodes (k8s site file); compose and the local runner stay one node with
    replicas 1. The invariants a cluster needs to form and to keep its quorum."""
    kdir = os.path.join(root, "k8s")
    try:
        docs = load_yaml_docs(os.path.join(kdir, "nats.yaml"))
    except Exception as e:
        R.check("k8s nats.yaml loads", False, str(e))
        return
    sts = [d for d in docs if d.get("kind") == "StatefulSet"]
    if not R.check("k8s nats: one StatefulSet", len(sts) == 1, f"found {len(sts)}"):
        return
    sts = sts[0]
    name = sts["metadata"]["name"]
    spec = sts["spec"]
    n = spec.get("replicas", 1)
    R.check("k8s nats: an odd number of nodes, at least 3 (JetStream quorum survives one down)",
            isinstance(n, int) and n >= 3 and n % 2 == 1, f"replicas {n}")
    R.check("k8s nats: nodes start in parallel (a node waits for its peers to become ready)",
            spec.get("podManagementPolicy") == "Parallel", str(spec.get("podManagementPolicy")))
    R.check("k8s nats: each node its own volume (volumeClaimTemplates)",
            len(spec.get("volumeClaimTemplates", [])) == 1, "missing")
    headless = [d for d in docs if d.get("kind") == "Service" and d["metadata"]["name"] == spec.get("serviceName")]
    if R.check(f"k8s nats: serviceName {spec.get('serviceName')} is a Service in nats.yaml", len(headless) == 1,
               "missing"):
        h = headless[0]["spec"]
        R.check("k8s nats: the routes' Service is headless and publishes not-ready nodes",
                h.get("clusterIP") == "None" and h.get("publishNotReadyAddresses") is True, str(h))
        R.check("k8s nats: the routes' Service carries the cluster port 6222",
                any(p.get("port") == 6222 for p in h.get("ports", [])), str(h.get("ports")))
    c = spec["template"]["spec"]["containers"][0]
    args = [str(a) for a in c.get("args", [])]

    def arg(flag):
        return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None

    R.check("k8s nats: JetStream on with a store dir", "-js" in args and arg("-sd") is not None, str(args))
    R.check("k8s nats: a cluster name and a cluster listener on 6222",
            bool(arg("--cluster_name")) and str(arg("--cluster") or "").endswith(":6222"), str(args))
    pod_name = [e for e in c.get("env", []) if e.get("name") == "POD_NAME"
                and e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"]
    R.check("k8s nats: server_name unique per node (the pod name)",
            arg("--server_name") == "$(POD_NAME)" and len(pod_name) == 1, f"{arg('--server_name')} env {c.get('env')}")
    want_routes = {f"nats://{name}-{i}.{spec.get('serviceName')}:6222" for i in range(n if isinstance(n, int) else 0)}
    routes = set((arg("--routes") or "").split(","))
    R.check("k8s nats: one route per node, by its stable name in the headless Service", routes == want_routes,
            f"missing {sorted(want_routes - routes)} extra {sorted(routes - want_routes)}")
    R.check("k8s nats: container port cluster 6222",
            {p["name"]: p["containerPort"] for p in c.get("ports", [])}.get("cluster") == 6222, str(c.get("ports")))
    try:
        pdbs = [d for d in load_yaml_docs(os.path.join(kdir, "nats-pdb.yaml")) if d.get("kind") == "PodDisruptionBudget"]
    except Exception as e:
        pdbs = []
        R.check("k8s nats-pdb.yaml loads", False, str(e))
    quorum_ok = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name")
                 == spec["selector"]["matchLabels"].get("app.kubernetes.io/name")
                 and (p["spec"].get("maxUnavailable") == 1 or p["spec"].get("minAvailable", 0) >= n // 2 + 1)]
    R.check("k8s nats: a PodDisruptionBudget keeps the quorum during drains", len(quorum_ok) == 1, str(pdbs))

    def replicas_of(path):
        try:
            return (load_yaml_docs(os.path.join(root, path))[0].get("bus") or {}).get("stream_replicas", 1)
        except Exception as e:
            return f"unreadable: {e}"
    R.check("k8s site: bus.stream_replicas = the NATS nodes", replicas_of("k8s/config/site.yaml") == n,
            f"{replicas_of('k8s/config/site.yaml')} vs {n} nodes")
    for path in ["deploy/site.example.yaml", "deploy/docker/site.compose.yaml"]:
        R.check(f"{path}: bus.stream_replicas 1 (one nats-server)", replicas_of(path) == 1, str(replicas_of(path)))
    try:
        compose = load_yaml_docs(os.path.join(root, "docker-compose.yml"))[0]
        cmd = [str(a) for a in compose["services"]["nats"].get("command", [])]
        R.check("compose nats: one node (no cluster), matching stream_replicas 1",
                not any(a.startswith("--cluster") or a == "--routes" for a in cmd), str(cmd))
    except Exception as e:
        R.check("compose nats: command readable", False, str(e))


# --------------------------------------------------------------------------- metrics contract
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan", "e"}


def contract_metrics(root):
    """Parses the metric tables of deploy/grafana/README.md: {name: type}."""
    text = open(os.path.join(root, "deploy/grafana/README.md"), encoding="utf-8").read()
    out = {}
    for m in re.finditer(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|", text, re.M):
        out[m.group(1)] = m.group(2)
    return out


def allowed_names(contract):
    names = set(contract)
    for n, t in contract.items():
        if t == "histogram":
            names |= {n + "_bucket", n + "_sum", n + "_count"}
    return names


def promql_metric_names(expr):
    """Metric names an expression selects. Strips strings, label matchers, range and
    offset durations, grouping clauses and Grafana variables, then keeps the
    identifiers that are not function calls or keywords."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\$\{?\w+\}?", "1", e)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+\d+[smhdwy]", " ", e)
    e = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][+-]?\d+)?", " ", e)
    names = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        tok = m.group(0)
        if e[m.end():].lstrip().startswith("("):
            continue
        if tok.lower() in PROMQL_WORDS:
            continue
        names.append(tok)
    return names


def balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def check_prometheus(root, site, contract):
    allowed = allowed_names(contract)
    used = set()
    for fname, deployment in [("prometheus.yml", "compose"), ("prometheus-k8s.yml", "k8s")]:
        path = os.path.join(root, "deploy/prometheus", fname)
        try:
            cfg = load_yaml_docs(path)[0]
        except Exception as e:
            R.check(f"prometheus {fname} loads", False, str(e))
            continue
        for rf in cfg.get("rule_files", []):
            R.check(f"prometheus {fname}: rule file {os.path.basename(rf)} exists",
                    os.path.isfile(os.path.join(root, "deploy/prometheus", os.path.basename(rf))), rf)
        if deployment == "compose":
            jobs = {j["job_name"]: j for j in cfg.get("scrape_configs", [])}
            for s in SERVICES:
                j = jobs.get(f"pacspull-{s}")
                if not R.check(f"prometheus: job pacspull-{s}", j is not None, "missing"):
                    continue
                port = site[s]["metrics_port"]
                targets = [t for sc in j.get("static_configs", []) for t in sc.get("targets", [])]
                dns = [d for d in j.get("dns_sd_configs", [])]
                ok = (targets and all(t == f"{s}:{port}" for t in targets)) or \
                     (dns and all(d.get("port") == port and d.get("names") == [s] for d in dns))
                R.check(f"prometheus: pacspull-{s} scraped on metrics port {port}", bool(ok), f"{targets} {dns}")
        else:
            relabels = [r for sc in cfg.get("scrape_configs", []) for r in sc.get("relabel_configs", [])]
            R.check("prometheus-k8s: keeps pods annotated prometheus.io/scrape",
                    any(r.get("action") == "keep" and "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
                        in r.get("source_labels", []) for r in relabels), "missing")
            R.check("prometheus-k8s: job from app.kubernetes.io/name (alerts use pacspull-<service>)",
                    any(r.get("target_label") == "job" and r.get("source_labels") ==
                        ["__meta_kubernetes_pod_label_app_kubernetes_io_name"] for r in relabels), "missing")

    path = os.path.join(root, "deploy/prometheus/alerts.yml")
    try:
        alerts = load_yaml_docs(path)[0]
    except Exception as e:
        R.check("alerts.yml loads", False, str(e))
        return used
    seen = set()
    rules = [r for g in alerts.get("groups", []) for r in g.get("rules", [])]
    R.check("alerts: at least one rule", len(rules) > 0, "none")
    for r in rules:
        name = r.get("alert", "<unnamed>")
        R.check(f"alert {name}: unique name", name not in seen, "duplicate")
        seen.add(name)
        expr = str(r.get("expr", ""))
        R.check(f"alert {name}: has expr, severity, summary",
                bool(expr) and (r.get("labels") or {}).get("severity") in ("critical", "warning", "info")
                and bool((r.get("annotations") or {}).get("summary")), str(r.get("labels")))
        R.check(f"alert {name}: brackets balanced", balanced(expr), expr)
        if "for" in r:
            R.check(f"alert {name}: 'for' is a duration", re.fullmatch(r"\d+[smhd]", str(r["for"])) is not None,
                    str(r["for"]))
        names = promql_metric_names(expr)
        used |= set(names)
        unknown = [n for n in names if n not in allowed]
        R.check(f"alert {name}: metrics in the contract", names and not unknown, f"unknown {unknown} in {expr}")
    wanted = {
        "service down": lambda e: "up{" in e,
        "move failures": lambda e: "pacspull_mover_moves_total" in e,
        "studies stuck in pulling": lambda e: 'pacspull_studies{state="pulling"}' in e,
        "parked messages": lambda e: "pacspull_bus_parked_total" in e,
        "receiver store failures": lambda e: "pacspull_receiver_store_failures_total" in e,
    }
    for what, pred in wanted.items():
        R.check(f"alerts cover {what}", any(pred(str(r.get("expr", ""))) for r in rules), "no rule")
    return used


def check_grafana(root, jsons, contract):
    allowed = allowed_names(contract)
    used = set()
    dashboards = {p: d for p, d in jsons.items() if "/grafana/dashboards/" in p}
    titles = [d.get("title") for d in dashboards.values()]
    R.check('grafana: dashboard "pacspull pipeline" present', "pacspull pipeline" in titles, str(titles))
    for path, d in dashboards.items():
        f = os.path.basename(path)
        variables = {v.get("name") for v in d.get("templating", {}).get("list", [])}
        ids = [p.get("id") for p in d.get("panels", [])]
        R.check(f"grafana {f}: uid and unique panel ids", bool(d.get("uid")) and len(ids) == len(set(ids)), str(ids))
        for p in d.get("panels", []):
            if p.get("type") == "row":
                continue
            title = p.get("title", "?")
            gp = p.get("gridPos", {})
            R.check(f"grafana {f} '{title}': fits the 24-column grid",
                    all(k in gp for k in "hwxy") and gp["x"] + gp["w"] <= 24, str(gp))
            ds = (p.get("datasource") or {}).get("uid", "")
            var = re.fullmatch(r"\$\{(\w+)\}", ds)
            R.check(f"grafana {f} '{title}': datasource variable defined", var is None or var.group(1) in variables,
                    ds)
            targets = p.get("targets", [])
            R.check(f"grafana {f} '{title}': has queries", bool(targets) and all(t.get("expr") for t in targets),
                    "no expr")
            for t in targets:
                expr = t.get("expr", "")
                names = promql_metric_names(expr)
                used |= set(names)
                unknown = [n for n in names if n not in allowed]
                R.check(f"grafana {f} '{title}' {t.get('refId')}: metrics in the contract",
                        names and not unknown and balanced(expr), f"unknown {unknown} in {expr}")
    dsf = os.path.join(root, "deploy/grafana/provisioning/datasources/prometheus.yml")
    prov = os.path.join(root, "deploy/grafana/provisioning/dashboards/pacspull.yml")
    try:
        ds = load_yaml_docs(dsf)[0]["datasources"]
        R.check("grafana provisioning: prometheus datasource at the compose service",
                any(x.get("type") == "prometheus" and x.get("url") == "http://prometheus:9090" for x in ds), str(ds))
        pv = load_yaml_docs(prov)[0]["providers"]
        R.check("grafana provisioning: dashboards provider reads /etc/grafana/dashboards",
                any(x.get("options", {}).get("path") == "/etc/grafana/dashboards" for x in pv), str(pv))
    except Exception as e:
        R.check("grafana provisioning loads", False, str(e))
    return used


def check_contract(root):
    try:
        contract = contract_metrics(root)
    except OSError as e:
        R.check("metrics contract readable (deploy/grafana/README.md)", False, str(e))
        return {}
    brief = ["pacspull_studies", "pacspull_finder_studies_found_total", "pacspull_mover_moves_total",
             "pacspull_receiver_instances_stored_total", "pacspull_dispatcher_dispatches_total",
             "pacspull_mover_move_seconds", "pacspull_filter_verdicts_total", "pacspull_bus_publish_failures_total",
             "pacspull_bus_parked_total", "pacspull_finder_query_errors_total"]
    R.check("metrics contract lists the pipeline metrics", all(b in contract for b in brief),
            f"missing {[b for b in brief if b not in contract]}")
    R.check("metrics contract: names are valid and typed",
            all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", n) and t in ("counter", "gauge", "histogram", "summary")
                for n, t in contract.items()), str(contract))
    R.check("metrics contract: counters end in _total",
            all(n.endswith("_total") for n, t in contract.items() if t == "counter"), "a counter lacks _total")
    return contract


# --------------------------------------------------------------------------- HAProxy
def haproxy_directives(root):
    text = open(os.path.join(root, "deploy/haproxy/haproxy.cfg"), encoding="utf-8").read()
    sections, cur = {}, None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw.startswith((" ", "\t")):
            cur = line.strip()
            sections[cur] = []
        elif cur:
            sections[cur].append(line.strip())
    return sections


def duration_seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", v)
    if not m:
        return None
    mult = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 0.001}[m.group(2)]
    return int(m.group(1)) * mult


def parse_pdus(data):
    pdus, i = [], 0
    while i + 6 <= len(data):
        length = struct.unpack(">I", data[i + 2:i + 6])[0]
        pdus.append((data[i], data[i + 6:i + 6 + length]))
        i += 6 + length
    return pdus, i == len(data)


def check_haproxy(root, site):
    try:
        sec = haproxy_directives(root)
    except OSError as e:
        R.check("haproxy.cfg readable", False, str(e))
        return None, None
    defaults = sec.get("defaults", [])
    dicom = site["receiver"]["dicom_port"]
    R.check("haproxy: mode tcp by default", "mode tcp" in defaults, str(defaults))
    for t in ["client", "server"]:
        vals = [l.split()[2] for l in defaults if l.startswith(f"timeout {t} ")]
        secs = duration_seconds(vals[0]) if vals else None
        R.check(f"haproxy: timeout {t} >= 10m for DICOM associations", secs is not None and secs >= 600, str(vals))
    fe = [k for k in sec if k.startswith("frontend ") and any(l == f"bind :{dicom}" for l in sec[k])]
    R.check(f"haproxy: frontend binds DICOM port {dicom}", len(fe) == 1, str(list(sec)))
    be = sec.get("backend receivers", [])
    R.check("haproxy: receivers backend balances leastconn", "balance leastconn" in be, str(be))
    tmpl = [l for l in be if l.startswith("server-template ") or l.startswith("server ")]
    R.check(f"haproxy: servers on receiver port {dicom}", tmpl and all(l.split()[3].endswith(f":{dicom}") for l in tmpl),
            str(tmpl))
    ds = " ".join(l for l in be if l.startswith("default-server"))
    R.check("haproxy: servers health-checked", " check" in " " + ds or all(" check" in l for l in tmpl), ds)
    mc = re.search(r"\bmaxconn (\d+)", ds)
    R.check(f"haproxy: per-server maxconn = receiver.max_associations ({site['receiver']['max_associations']})",
            mc is not None and int(mc.group(1)) == site["receiver"]["max_associations"], ds)
    send = [l.split()[2] for l in be if l.startswith("tcp-check send-binary ")]
    expect = [l.split(None, 3)[3] for l in be if l.startswith("tcp-check expect rbinary ")]
    if not R.check("haproxy: DICOM association health check (send-binary + expect rbinary)",
                   len(send) == 1 and len(expect) == 1, f"send {len(send)} expect {len(expect)}"):
        return None, None
    data = bytes.fromhex(send[0])
    pdus, whole = parse_pdus(data)
    kinds = [k for k, _ in pdus]
    R.check("haproxy probe: A-ASSOCIATE-RQ then A-RELEASE-RQ, lengths consistent", whole and kinds == [1, 5], str(kinds))
    if kinds[:1] == [1]:
        body = pdus[0][1]
        called = body[4:20].decode("ascii").strip()
        R.check(f"haproxy probe: called AE = local.receiver_ae_title ({site['local']['receiver_ae_title']})",
                called == site["local"]["receiver_ae_title"], called)
    try:
        rx = re.compile(expect[0])
    except re.error as e:
        R.check("haproxy probe: expect regex compiles", False, str(e))
        return None, None
    release_rp = "06000000000400000000"
    abort = "0700000000040000" + "0000"
    R.check("haproxy probe: regex rejects an A-ABORT and accepts AC+RP / RJ",
            rx.search(abort) is None and rx.search("02" + "00" * 8 + release_rp) is not None
            and rx.search("03000000000400010101") is not None, expect[0])
    return data, rx


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_probe_against_storescp(site, data, rx):
    """Sends the HAProxy probe to a real DCMTK storescp and matches the reply the
    way HAProxy does (hex of the response buffer, regex search)."""
    name = "haproxy probe: a real DCMTK storescp answers AC + RP"
    exe = shutil.which("storescp")
    if data is None:
        return
    if not exe:
        R.skip(name, "storescp (dcmtk) not installed")
        return
    import tempfile
    port = free_port()
    out = tempfile.mkdtemp(prefix="pacspull-probe-")
    env = dict(os.environ, TCP_NODELAY="1")
    proc = subprocess.Popen([exe, "-aet", site["local"]["receiver_ae_title"], "-od", out, "-ta", "10", "-td", "10",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 10
        sock = None
        while time.monotonic() < deadline and sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)  # poll interval while storescp binds, bounded by the deadline
        if sock is None:
            R.check(name, False, "storescp did not listen")
            return
        with sock:
            sock.settimeout(1)
            sock.sendall(data)
            buf = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not rx.search(buf.hex().upper()):
                try:
                    chunk = sock.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
        R.check(name, rx.search(buf.hex().upper()) is not None and buf[:1] == b"\x02",
                f"reply {buf.hex()[:40]}...")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(out, ignore_errors=True)


def check_haproxy_live(root, site, haproxy):
    """Runs the real haproxy.cfg's DICOM backend (health check lines verbatim)
    against a real storescp and a non-DICOM listener: the storescp must come UP,
    the impostor DOWN, and a C-ECHO through the frontend must succeed."""
    name = "haproxy live: DICOM check marks storescp UP, a non-DICOM peer DOWN"
    exe, echoscu = shutil.which("storescp"), shutil.which("echoscu")
    if not haproxy:
        R.skip(name, "haproxy not installed")
        return
    if not exe or not echoscu:
        R.skip(name, "dcmtk (storescp, echoscu) not installed")
        return
    import tempfile
    import threading
    import urllib.request
    work = tempfile.mkdtemp(prefix="pacspull-haproxy-")
    sp, fp, mp = free_port(), free_port(), free_port()
    junk = socket.socket()
    junk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    junk.bind(("127.0.0.1", 0))
    junk.listen(8)
    jp = junk.getsockname()[1]

    def serve_junk():
        while True:
            try:
                c, _ = junk.accept()
            except OSError:
                return
            with c:
                try:
                    c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                except OSError:
                    pass

    threading.Thread(target=serve_junk, daemon=True).start()
    cfg = open(os.path.join(root, "deploy/haproxy/haproxy.cfg"), encoding="utf-8").read()
    cfg = cfg.replace(f"bind :{site['receiver']['dicom_port']}", f"bind 127.0.0.1:{fp}")
    cfg = cfg.replace("bind :8404", f"bind 127.0.0.1:{mp}")
    cfg = re.sub(r"^resolvers \w+\n(?:[ \t]+.*\n)+", "", cfg, flags=re.M)
    cfg = re.sub(r"^[ \t]*server-template .*$",
                 f"    server s1 127.0.0.1:{sp}\n    server s2 127.0.0.1:{jp}", cfg, flags=re.M)
    cfg = re.sub(r" resolvers \w+ init-addr none", "", cfg).replace("inter 10s", "inter 500ms")
    cfg_path = os.path.join(work, "haproxy.cfg")
    open(cfg_path, "w", encoding="utf-8").write(cfg)
    env = dict(os.environ, TCP_NODELAY="1")
    scp = subprocess.Popen([exe, "-aet", site["local"]["receiver_ae_title"], "-od", work, "-ta", "10", "-td", "10",
                            str(sp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    hap = subprocess.Popen([haproxy, "-f", cfg_path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    status = {}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if hap.poll() is not None:
                break
            try:
                csv = urllib.request.urlopen(f"http://127.0.0.1:{mp}/stats;csv", timeout=2).read().decode()
                status = {l.split(",")[1]: l.split(",")[17] for l in csv.splitlines()
                          if l.startswith("receivers,")}
            except OSError:
                status = {}
            if status.get("s1") == "UP" and status.get("s2", "").startswith("DOWN"):
                break
            time.sleep(0.1)  # poll interval, bounded by the deadline
        ok = status.get("s1") == "UP" and status.get("s2", "").startswith("DOWN")
        err = "" if hap.poll() is None else hap.stderr.read().decode(errors="replace")[-300:]
        R.check(name, ok, f"status {status} {err}")
        if ok:
            echo = subprocess.run([echoscu, "-aet", "STATICCHECK", "-aec", site["local"]["receiver_ae_title"],
                                   "-to", "5", "-ta", "5", "-td", "5", "127.0.0.1", str(fp)],
                                  capture_output=True, text=True, env=env, timeout=30)
            R.check("haproxy live: C-ECHO through the DICOM frontend reaches the receiver", echo.returncode == 0,
                    echo.stderr[-300:])
    finally:
        for proc in (hap, scp):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        junk.close()
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- main
def main():
    root = os.path.abspath(sys.argv[1])
    rendered = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    haproxy = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    try:
        site = load_yaml_docs(os.path.join(root, "deploy/site.example.yaml"))[0]
        R.check("site.example.yaml has every service's ports",
                all("grpc_port" in site[s] and "metrics_port" in site[s] for s in SERVICES)
                and "dicom_port" in site["receiver"], "missing")
    except Exception as e:
        R.check("site.example.yaml loads", False, str(e))
        return
    docs, jsons = check_parse(root)
    check_site_copies(root, site)
    compose_path = os.path.join(root, "docker-compose.yml")
    if docs.get(compose_path):
        check_compose(root, docs[compose_path][0], site)
        check_compose_site(root, site)
        check_compose_credentials(docs[compose_path][0])
    check_nats_conf(root)
    check_dockerfile(root)
    check_k8s(root, site, rendered)
    check_k8s_credentials(root)
    check_nats_cluster(root)
    contract = check_contract(root)
    used = check_prometheus(root, site, contract)
    used |= check_grafana(root, jsons, contract)
    unused = sorted(n for n in contract if n not in used and not any(u.startswith(n + "_") for u in used))
    R.check("metrics contract: every listed metric is used by an alert or panel", not unused, f"unused {unused}")
    data, rx = check_haproxy(root, site)
    check_probe_against_storescp(site, data, rx)
    if data is not None:
        check_haproxy_live(root, site, haproxy)


if __name__ == "__main__":
    main()
