"""The deploy files parse and agree with the code: ports, paths, COLDREC_* names, metric names,
label names, routes and problem types used in PromQL (no Docker or Kubernetes needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from service.main import create_app
from service.metrics import Metrics
from service.problems import PROBLEMS
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ENV_NAME = re.compile(r"\bCOLDREC_[A-Z0-9_]+\b")
METRIC_NAME = re.compile(r"\b(coldrec_[a-z0-9_]+|up)\b(?!\s*\()")
BY_LABELS = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^}]*)\}")


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for p in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in _yaml_docs(p)]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _setting_envs() -> set[str]:
    return {f"COLDREC_{name.upper()}" for name in Settings.model_fields}


def _exported_metrics() -> dict[str, set[str]]:
    """Every series name the service exports -> its label names."""
    out: dict[str, set[str]] = {}
    m = Metrics()
    for collector in m.registry._collector_to_names:  # noqa: SLF001 (the app's own registry)
        name, kind = collector._name, collector._type  # type: ignore[attr-defined]
        labels = set(collector._labelnames)  # type: ignore[attr-defined]
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        for suffix in suffixes.get(kind, [""]):
            out[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    out["up"] = {"job", "instance"}
    return out


def _mount_target(volume: str) -> str:
    """The container path of a short-syntax compose volume (`SRC:DST` or `SRC:DST:MODE`)."""
    parts = volume.rsplit(":", 2) if volume.endswith((":ro", ":rw")) else volume.rsplit(":", 1)
    return parts[1]


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "coldrec.json").read_text())


def _promql() -> list[tuple[str, str]]:
    """(where, expr) for every dashboard target and alert rule."""
    out = [
        (f"panel {p['title']!r}", t["expr"]) for p in _dashboard()["panels"] for t in p["targets"]
    ]
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    out += [(f"alert {r['alert']}", r["expr"]) for g in alerts["groups"] for r in g["rules"]]
    return out


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


# -- environment names ---------------------------------------------------------------------------
def test_every_coldrec_env_name_in_deploy_files_is_a_setting() -> None:
    known = _setting_envs()
    files = [REPO / "Dockerfile", *sorted(DEPLOY.rglob("*.y*ml"))]
    used = {(f.name, n) for f in files for n in ENV_NAME.findall(f.read_text())}
    assert used, "no COLDREC_* name found"
    assert {(f, n) for f, n in used if n not in known} == set()


# -- Dockerfile ----------------------------------------------------------------------------------
def test_dockerfile_cpu_default_cuda_by_arg_nonroot_healthcheck_bundle_volume() -> None:
    rows = _dockerfile()
    text = " ".join(a for _, a in rows)
    args = dict(a.split("=", 1) for i, a in rows if i == "ARG" and "=" in a)
    assert args["DEVICE"] == "cpu"
    assert "cuda)" in text and "faiss-gpu" in text and "TORCH_INDEX_CUDA" in text
    users = [a for i, a in rows if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = next(a for i, a in rows if i == "HEALTHCHECK")
    assert "/healthz" in health and "8000" in health
    assert next(a for i, a in rows if i == "EXPOSE") == "8000"
    env = " ".join(a for i, a in rows if i == "ENV")
    bundle = re.search(r"COLDREC_BUNDLE=(\S+)", env)
    assert bundle is not None
    assert bundle.group(1) in json.loads(next(a for i, a in rows if i == "VOLUME"))
    assert "$COLDREC_BUNDLE" in next(a for i, a in rows if i == "CMD")


def test_dockerfile_copies_exist_and_are_not_ignored() -> None:
    ignored = {
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    for instr, args in _dockerfile():
        if instr == "COPY":
            *sources, _ = args.split()
            for src in sources:
                assert (REPO / src).exists(), src
                assert src.rstrip("/") not in ignored, src


# -- docker compose ------------------------------------------------------------------------------
def test_compose_services_ports_paths_and_redis_persistence() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"coldrec", "redis", "prometheus", "grafana"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])

    cold = services["coldrec"]
    assert (DEPLOY / cold["build"]["context"] / cold["build"]["dockerfile"]).is_file()
    assert "8000:8000" in cold["ports"]
    env = cold["environment"]
    targets = [_mount_target(v) for v in cold["volumes"]]
    assert env["COLDREC_BUNDLE"] in targets
    redis_url = urlparse(env["COLDREC_REDIS_URL"])
    assert redis_url.hostname == "redis" and redis_url.port == 6379

    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            src = volume.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).exists(), (name, src)


def test_prometheus_scrapes_coldrec_and_loads_the_rules() -> None:
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(c for c in cfg["scrape_configs"] if c["job_name"] == "coldrec")
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["coldrec:8000"]
    for rule_file in cfg["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file.split("#")[0].strip()).is_file()
    mount = next(v for v in _compose()["services"]["prometheus"]["volumes"] if "prometheus:" in v)
    assert mount.split(":")[1] == "/etc/prometheus"


def test_grafana_provisioning_matches_dashboard_and_compose() -> None:
    prov = DEPLOY / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert urlparse(ds["url"]).hostname == "prometheus" and urlparse(ds["url"]).port == 9090
    assert "9090:9090" in _compose()["services"]["prometheus"]["ports"]
    provider = yaml.safe_load((prov / "dashboards" / "coldrec.yml").read_text())["providers"][0]
    mounts = dict(v.split(":")[:2] for v in _compose()["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    for panel in _dashboard()["panels"]:
        assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == ds["uid"] for t in panel["targets"])


# -- dashboard and alerts ------------------------------------------------------------------------
def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    dash = _dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ("hit rate", "share", "registrations", "servable", "latency", "errors", "index"):
        assert word in titles, word
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le, route)" in exprs
    assert "coldrec_hits_total" in exprs and "coldrec_recommended_items_total" in exprs


@pytest.mark.parametrize(("where", "expr"), _promql())
def test_promql_names_exist_in_the_service(where: str, expr: str) -> None:
    exported = _exported_metrics()
    names = set(METRIC_NAME.findall(expr))
    assert names, where
    assert names <= set(exported), (where, names - set(exported))
    labels = set().union(*(exported[n] for n in names))
    for group in BY_LABELS.findall(expr):
        used = {x.strip() for x in group.split(",") if x.strip()}
        assert used <= labels, (where, used - labels)
    for group in MATCHERS.findall(expr):
        for matcher in filter(None, (m.strip() for m in group.split(","))):
            assert re.split(r"[=!~]", matcher)[0].strip() in labels, (where, matcher)


def test_promql_routes_and_problem_types_exist() -> None:
    app = create_app(Settings())
    routes = set(app.openapi()["paths"])
    types = {slug for _, slug, _ in PROBLEMS.values()} | {"internal-error"}
    server_types = {slug for status, slug, _ in PROBLEMS.values() if status >= 500}
    for where, expr in _promql():
        for route in re.findall(r'route!?=~?"([^"]+)"', expr):
            assert route in routes, (where, route)
        for group in re.findall(r'type=~"([^"]+)"', expr):
            assert set(group.split("|")) <= types, where
            assert server_types | {"internal-error"} <= set(group.split("|")), where


def test_alert_rules_cover_cold_collapse_errors_latency() -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rules = {r["alert"]: r for g in alerts["groups"] for r in g["rules"]}
    collapse = rules["ColdrecColdHitRateCollapse"]["expr"]
    assert 'kind="cold"' in collapse and 'kind="warm"' in collapse and "or vector(0)" in collapse
    assert any("problems_total" in r["expr"] for r in rules.values())
    assert any("latency_seconds_bucket" in r["expr"] for r in rules.values())
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name


# -- Kubernetes ----------------------------------------------------------------------------------
def test_k8s_deployment_probes_resources_config_and_replicas() -> None:
    k8s = _k8s()
    dep = k8s[("Deployment", "coldrec")]
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    (ctr,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert ports == {"http": 8000}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])
    assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert ctr[probe]["httpGet"]["port"] in ports, probe
    assert {"cpu", "memory"} <= set(ctr["resources"]["requests"])

    cm_name = ctr["envFrom"][0]["configMapRef"]["name"]
    config = k8s[("ConfigMap", cm_name)]["data"]
    assert set(config) | {e["name"] for e in ctr["env"]} <= _setting_envs()
    bundle = next(m for m in ctr["volumeMounts"] if m["name"] == "bundle")
    assert bundle["mountPath"] == config["COLDREC_BUNDLE"] and bundle["readOnly"] is True
    claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "bundle")
    assert ("PersistentVolumeClaim", claim["persistentVolumeClaim"]["claimName"]) in k8s


def test_k8s_replicas_share_one_persistent_redis() -> None:
    k8s = _k8s()
    config = next(d for (kind, _), d in k8s.items() if kind == "ConfigMap")["data"]
    url = urlparse(config["COLDREC_REDIS_URL"])
    svc = k8s[("Service", url.hostname)]
    assert any(p["port"] == url.port for p in svc["spec"]["ports"])
    redis = k8s[("StatefulSet", url.hostname)]
    assert redis["spec"]["replicas"] == 1
    assert (
        svc["spec"]["selector"].items() <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    (ctr,) = redis["spec"]["template"]["spec"]["containers"]
    assert "--appendonly yes" in " ".join(ctr["args"])
    data = next(m for m in ctr["volumeMounts"] if m["name"] == "data")
    assert data["mountPath"] == ctr["args"][ctr["args"].index("--dir") + 1]
    assert [t["metadata"]["name"] for t in redis["spec"]["volumeClaimTemplates"]] == ["data"]


def test_k8s_service_and_hpa_point_at_the_deployment() -> None:
    k8s = _k8s()
    dep = k8s[("Deployment", "coldrec")]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = k8s[("Service", "coldrec")]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    hpa = k8s[("HorizontalPodAutoscaler", "coldrec")]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "coldrec",
    }
    assert (
        hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )


def test_one_service_port_everywhere() -> None:
    rows = _dockerfile()
    port = int(next(a for i, a in rows if i == "EXPOSE"))
    assert f"--port {port}" in next(a for i, a in rows if i == "CMD")
    assert f":{port}/healthz" in next(a for i, a in rows if i == "HEALTHCHECK")
    compose = _compose()["services"]["coldrec"]
    assert {int(p.split(":")[1]) for p in compose["ports"]} == {port}
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(c for c in cfg["scrape_configs"] if c["job_name"] == "coldrec")
    assert job["static_configs"][0]["targets"] == [f"coldrec:{port}"]
    (ctr,) = _k8s()[("Deployment", "coldrec")]["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in ctr["ports"]] == [port]
    assert f"--port {port}" in " ".join(ctr["command"])
