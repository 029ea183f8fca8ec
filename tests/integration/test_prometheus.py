"""A real Prometheus scraping a real coldrec: every PromQL expression of the Grafana dashboard and
of the alert rules is evaluated through Prometheus' HTTP API after known traffic, and the hit
rates it computes equal the hits / recommended items the client counted.

Needs `prometheus` and `promtool` (the Debian `prometheus` package, which `.ci/run` installs):
without them these tests skip locally and fail under CI=true. Loopback only.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import REPO, ServiceProcess, free_port, start_service
from external import stop_process, unavailable, wait_http_ready
from service_bundle import TinyBundle

from clients.dashboard_png import load_panels, substitute

PROM_DIR = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "coldrec.json"
KINDS = ("warm", "cold")
K = 8

DEADLINE_S = 60  # liveness only: how long a loaded 2-core box may take to get somewhere


@pytest.fixture(autouse=True)
def _prometheus_installed() -> None:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        unavailable("prometheus/promtool are not installed (apt-get install prometheus)")


class Prometheus:
    """`prometheus` on a free loopback port, scraping one target every second."""

    def __init__(self, target: str, workdir: Path) -> None:
        cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
        cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        cfg["rule_files"] = [str(PROM_DIR / "alerts.yml")]
        cfg["scrape_configs"] = [
            {**c, "static_configs": [{"targets": [target]}]}
            for c in cfg["scrape_configs"]
            if c["job_name"] == "coldrec"
        ]
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "prometheus.log"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, timeout: float = DEADLINE_S) -> Prometheus:
        cmd = [
            "prometheus",
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out)
        wait_http_ready(
            self.proc, self.http, "/-/ready", timeout, self.log, "prometheus", tail=2000
        )
        return self

    def query(self, expr: str, at: float | None = None) -> list[dict[str, object]]:
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        body = self.http.get("/api/v1/query", params=params).json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    def wait_for(self, expr: str, value: float, timeout: float = DEADLINE_S) -> float:
        """Wait until `expr` (a scalar-like vector) equals `value`; returns the wall time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.query(expr)
            if got and float(got[0]["value"][1]) == value:  # type: ignore[index]
                return time.time()
            time.sleep(0.2)
        raise TimeoutError(f"{expr} never reached {value}: {self.query(expr)}")

    def scrapes_since(self, since: float) -> int:
        """Scrapes of the coldrec target since the wall time `since`."""
        ms = int((time.time() - since) * 1000)
        if ms < 1:
            return 0
        got = self.query(f'count_over_time(up{{job="coldrec"}}[{ms}ms])')
        return int(float(got[0]["value"][1])) if got else 0  # type: ignore[index]

    def rules_evaluated_after(self, since: float, timeout: float = DEADLINE_S) -> dict[str, dict]:
        """The loaded rules by name, once every one was last evaluated after the wall time
        `since`."""
        deadline = time.monotonic() + timeout
        while True:
            groups = self.http.get("/api/v1/rules").json()["data"]["groups"]
            rules = {r["name"]: r for g in groups for r in g["rules"]}
            if rules and all(_wall(r["lastEvaluation"]) > since for r in rules.values()):
                return rules
            assert time.monotonic() < deadline, f"rules not evaluated since {since}: {rules}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, 10, 5)
        self.http.close()


@pytest.fixture()
def prometheus_factory(tmp_path: Path) -> Iterator[list[Prometheus]]:
    started: list[Prometheus] = []
    yield started
    for p in started:
        p.stop()


class Traffic:
    """Client-side counts of what was recommended and hit, by kind."""

    def __init__(self) -> None:
        self.recommended = dict.fromkeys(KINDS, 0)
        self.hits = dict.fromkeys(KINDS, 0)
        self.registered = 0

    def total(self) -> int:
        return sum(self.recommended.values())


def _phase(
    svc: ServiceProcess,
    bundle: TinyBundle,
    name: str,
    users: range,
    t: Traffic,
    seed: int,
    warm_hits: int,
) -> None:
    """Register 4 cold items, then per user: recommend, interact with the first cold and the
    first `warm_hits` warm recommended items (hits) and one item not recommended (a miss); plus
    two problems (404 unknown-item, 422 invalid-features)."""
    items = [
        {"id": f"{name}-c{j}", "features": bundle.item_features(j % 2, seed=seed + j)}
        for j in range(4)
    ]
    r = svc.http.post("/items", json={"items": items})
    assert r.status_code == 201, r.text
    t.registered += len(items)
    for u in users:
        got = svc.http.get(f"/users/u{u}/recommendations", params={"k": K, "pool": "all"}).json()
        recs = got["items"]
        for x in recs:
            t.recommended["cold" if x["cold"] else "warm"] += 1
        chosen = [x for x in recs if x["cold"]][:1] + [x for x in recs if not x["cold"]][:warm_hits]
        body = [{"user_id": f"u{u}", "item_id": x["item_id"]} for x in chosen]
        ids = {x["item_id"] for x in recs}
        miss = next(f"i{i}" for i in range(len(bundle.items)) if f"i{i}" not in ids)
        body.append({"user_id": f"u{u}", "item_id": miss})
        answer = svc.http.post("/interactions", json={"interactions": body}).json()
        for row in answer["interactions"]:
            if row["hit"]:
                t.hits["cold" if row["cold"] else "warm"] += 1
    assert svc.http.get(f"/items/{name}-missing").status_code == 404
    bad = {"id": f"{name}-bad", "features": {"text": [0.0] * 12}}
    assert svc.http.post("/items", json=bad).status_code == 422


def _values(result: list[dict[str, object]]) -> dict[str, float]:
    """Instant vector -> {kind label (or ''): value}."""
    out = {}
    for s in result:
        metric = s["metric"]
        assert isinstance(metric, dict)
        out[str(metric.get("kind", ""))] = float(s["value"][1])  # type: ignore[index]
    return out


def _alert_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def test_promtool_checks_deploy_config_and_rules() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", str(PROM_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        ["promtool", "check", "rules", str(PROM_DIR / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_fire_on_synthetic_series() -> None:
    """`promtool test rules`: the cold collapse (with and without any cold hit), its quiet cases,
    never-recommended cold items, 5xx ratio and recommendation latency (alerts_test.yml)."""
    done = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=PROM_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_and_alerts_on_real_prometheus(
    redis_url: str,
    services: list[ServiceProcess],
    prometheus_factory: list[Prometheus],
    tiny_bundle: TinyBundle,
    tmp_path: Path,
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "prom"}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "serve.log")
    prom = Prometheus(f"127.0.0.1:{svc.port}", tmp_path)
    prometheus_factory.append(prom.start())
    check = subprocess.run(
        ["promtool", "check", "config", str(prom.config)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    prom.wait_for('up{job="coldrec"}', 1.0)

    # Phase A creates every series; phase B, after a quiet gap, is what the windows measure.
    a, b = Traffic(), Traffic()
    _phase(svc, tiny_bundle, "a", range(0, 10), a, seed=0, warm_hits=1)
    assert min(a.hits.values()) > 0 and min(a.recommended.values()) > 0, vars(a)
    t_gap = prom.wait_for("sum(coldrec_recommended_items_total)", a.total())
    deadline = time.monotonic() + DEADLINE_S
    while prom.scrapes_since(t_gap + 0.2) < 2:  # >= 2 scrapes of the post-A values
        assert time.monotonic() < deadline, "prometheus stopped scraping"
        time.sleep(0.5)
    _phase(svc, tiny_bundle, "b", range(10, 16), b, seed=10, warm_hits=2)
    assert min(b.hits.values()) > 0 and min(b.recommended.values()) > 0, vars(b)
    assert b.hits["cold"] * b.recommended["warm"] != b.hits["warm"] * b.recommended["cold"]
    t_final = prom.wait_for("sum(coldrec_recommended_items_total)", a.total() + b.total())
    loaded = prom.rules_evaluated_after(t_final)  # the rules saw the final values too
    at = time.time()
    window = f"{int((at - t_gap - 0.2) * 1000)}ms"  # starts in the gap: covers phase B only

    # Every dashboard expression answers with at least one number.
    results: dict[str, list[dict[str, object]]] = {}
    for panel in load_panels(DASHBOARD):
        for target in panel.targets:
            expr = substitute(target.expr, window)
            res = prom.query(expr, at)
            numbers = [float(s["value"][1]) for s in res]  # type: ignore[index]
            assert any(math.isfinite(x) for x in numbers), (panel.title, expr, res)
            results[target.expr] = res

    hit_rate = _values(results[_expr_of("Hit rate by kind")])
    since_start = _values(results[_expr_of("Hit rate since start")])
    for kind in KINDS:
        assert hit_rate[kind] == pytest.approx(b.hits[kind] / b.recommended[kind], rel=1e-9)
        both = (a.hits[kind] + b.hits[kind]) / (a.recommended[kind] + b.recommended[kind])
        assert since_start[kind] == pytest.approx(both, rel=1e-12)
    ratio = _values(results[_expr_of("Cold / warm hit-rate ratio")])[""]
    assert ratio == pytest.approx(hit_rate["cold"] / hit_rate["warm"], rel=1e-9)
    index = _values(results[_expr_of("Index size by kind")])
    assert index == {"warm": len(tiny_bundle.items), "cold": a.registered + b.registered}
    errors = {s["metric"]["type"] for s in results[_expr_of("Errors by problem type")]}  # type: ignore[index]
    assert {"unknown-item", "invalid-features"} <= errors

    # Every alert expression parses and evaluates (quiet ones may be empty), and every rule the
    # real Prometheus loaded from alerts.yml evaluated without error.
    for _, expr in _alert_exprs():
        prom.query(expr, at)
    assert set(loaded) == {name for name, _ in _alert_exprs()}
    assert all(r["health"] == "ok" for r in loaded.values()), loaded
    print(f"hit rate B {hit_rate}, since start {since_start}; A {vars(a)}; B {vars(b)}")


def _wall(rfc3339: str) -> float:
    """Prometheus' RFC 3339 time (nanoseconds, 'Z' or an offset) as a Unix time."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", rfc3339)).timestamp()


def _expr_of(title: str) -> str:
    panel = next(p for p in load_panels(DASHBOARD) if p.title.startswith(title))
    return panel.targets[0].expr
