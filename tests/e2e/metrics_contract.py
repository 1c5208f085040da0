#!/usr/bin/python3
"""The metrics contract against a running stack, with a real Prometheus.

Usage: metrics_contract.py SITE_YAML SOURCE_DIR WORK_DIR [--scrape-seconds N]

Starts /usr/bin/prometheus scraping the six services' metrics ports from SITE_YAML
(jobs pacspull-<service> with a `service` label, as deploy/prometheus/prometheus.yml
does) with deploy/prometheus/alerts.yml loaded, lets it scrape while the pull runs,
then checks every expression of the dashboard and of the alerts: each metric selector
in it must return series, and each label it groups by must exist on them. Metrics the
compose deployment's HAProxy exports are skipped (no HAProxy here). Also: no series may
carry `exported_service` (a `service` label set by the code would clash with the
scrape config's). Prints one line per check; exit 1 if any failed.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml

EXTERNAL = {"haproxy_backend_active_servers"}
FUNCS = {"sum", "count", "max", "min", "avg", "rate", "increase", "irate", "histogram_quantile", "by", "without",
         "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "absent", "absent_over_time",
         "clamp_min", "clamp_max", "time", "vector", "scalar", "bool", "offset", "topk", "bottomk", "delta",
         "deriv", "changes", "resets", "max_over_time", "min_over_time", "avg_over_time", "sum_over_time",
         "count_over_time", "last_over_time", "label_replace", "sort", "sort_desc", "round", "abs", "le", "nan"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query {expr!r}: {body}")
    return body["data"]["result"]


def strip_strings_and_ranges(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return re.sub(r"\[[^\]]*\]", "", expr)


def selectors(expr):
    """(metric, matchers) of each vector selector in a PromQL expression."""
    out = []
    cleaned = re.sub(r"\[[^\]]*\]", "", expr)
    cleaned = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", cleaned)
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", cleaned):
        name, matchers = m.group(1), m.group(2) or ""
        start = m.start()
        if start > 0 and (cleaned[start - 1].isalnum() or cleaned[start - 1] in "_{,=~!\"."):
            continue
        rest = cleaned[m.end():].lstrip()
        if name in FUNCS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9e.]+", name):
            continue
        out.append((name, matchers))
    return out


def groupings(expr):
    labels = set()
    for m in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", strip_strings_and_ranges(expr)):
        labels |= {l.strip() for l in m.group(1).split(",") if l.strip()}
    return labels


def main():
    site_yaml, source, work = sys.argv[1], sys.argv[2], sys.argv[3]
    scrape_seconds = int(sys.argv[sys.argv.index("--scrape-seconds") + 1]) if "--scrape-seconds" in sys.argv else 30
    site = yaml.safe_load(open(site_yaml))
    os.makedirs(work, exist_ok=True)
    alerts = os.path.join(source, "deploy/prometheus/alerts.yml")
    jobs = []
    for svc in ["finder", "mover", "receiver", "filter", "checker", "dispatcher"]:
        port = site[svc]["metrics_port"]
        jobs.append({"job_name": f"pacspull-{svc}",
                     "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": svc}}]})
    cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": [alerts],
           "scrape_configs": jobs}
    cfg_path = os.path.join(work, "prometheus.yml")
    with open(cfg_path, "w") as f:
        yaml.safe_dump(cfg, f)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "prometheus.log"), "w")
    prom = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={cfg_path}",
                             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    failures = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/api/v1/targets", timeout=2) as r:
                    targets = json.load(r)["data"]["activeTargets"]
                if len(targets) == 6 and all(t["health"] == "up" for t in targets):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                print("FAIL targets never all up")
                return 1
            time.sleep(0.5)  # polling Prometheus' target list with a deadline
        print(f"PASS all 6 targets up; scraping for {scrape_seconds} s during the pull")
        time.sleep(scrape_seconds)  # the observation window itself, not a synchronisation

        dash = json.load(open(os.path.join(source, "deploy/grafana/dashboards/pacspull-pipeline.json")))
        exprs = []
        for p in dash["panels"]:
            for t in p.get("targets", []):
                exprs.append((f"panel '{p['title']}'", t["expr"]))
        for group in yaml.safe_load(open(alerts))["groups"]:
            for rule in group["rules"]:
                exprs.append((f"alert {rule.get('alert', rule.get('record'))}", str(rule["expr"])))
        for where, expr in exprs:
            e = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m").replace("$__range", "5m")
            for name, matchers in selectors(e):
                if name in EXTERNAL:
                    print(f"SKIP {where}: {name} (HAProxy, compose only)")
                    continue
                sel = name + matchers
                if not query(base, f"count({sel})"):
                    failures.append(f"{where}: {sel} returns no series")
                    continue
                for label in groupings(e) - {"job", "instance", "le"}:
                    if not any(r["metric"].get(label) for r in query(base, f"count by ({label}) ({sel})")):
                        # the label may belong to another selector of the same expression
                        others = [n + m for n, m in selectors(e) if n + m != sel and n not in EXTERNAL]
                        if not any(any(r["metric"].get(label) for r in query(base, f"count by ({label}) ({o})"))
                                   for o in others):
                            failures.append(f"{where}: no series of {sel} has label '{label}'")
            print(f"checked {where}: {expr.strip()[:100]}")
        clash = query(base, 'count by (__name__) ({__name__=~"pacspull_.+", exported_service!=""})')
        if clash:
            failures.append("series with exported_service (a service label clashing with the scrape config): " +
                            ", ".join(r["metric"]["__name__"] for r in clash))
        info = query(base, "pacspull_build_info")
        if len({r["metric"]["job"] for r in info}) != 6:
            failures.append(f"pacspull_build_info from {len(info)} targets, not 6")
    finally:
        prom.terminate()
        prom.wait(timeout=30)
    for f in failures:
        print("FAIL " + f)
    print(f"{len(exprs)} expressions checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
