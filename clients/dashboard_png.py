"""Render the Grafana dashboard's panels to one PNG from Prometheus data (no Grafana needed).

Each panel's PromQL targets (`deploy/grafana/dashboards/coldrec.json`) go through Prometheus'
range API (`/api/v1/query_range`), Grafana's `$__rate_interval` replaced by a fixed window, and
the series are drawn with matplotlib in the dashboard's grid order.

    python -m clients.dashboard_png --prometheus http://127.0.0.1:9090 --minutes 5 \
        --out docs/dashboard.png
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DASHBOARD = (
    Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "coldrec.json"
)
GRAFANA_VARS = ("$__rate_interval", "$__interval", "${__rate_interval}")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel and its Grafana legend format."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """What the renderer needs of a Grafana panel."""

    title: str
    kind: str  # timeseries | stat
    unit: str
    targets: tuple[Target, ...]


def load_panels(path: Path = DASHBOARD) -> list[Panel]:
    """The dashboard's panels (rows flattened), ordered by grid position."""
    dash = json.loads(Path(path).read_text())
    raw = []
    for p in dash["panels"]:
        if p.get("type") == "row":
            raw.extend(p.get("panels", []))
        else:
            raw.append(p)
    raw.sort(key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    return [
        Panel(
            title=p["title"],
            kind=p["type"],
            unit=p.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
            targets=tuple(Target(t["expr"], t.get("legendFormat", "")) for t in p["targets"]),
        )
        for p in raw
    ]


def substitute(expr: str, rate_interval: str) -> str:
    """Replace Grafana's interval variables by a fixed PromQL duration such as `30s`."""
    for var in GRAFANA_VARS:
        expr = expr.replace(var, rate_interval)
    return expr


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's `{{label}}` legend format applied to a series' labels."""
    if not fmt:
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)


def query_range(
    client: httpx.Client, expr: str, start: float, end: float, step: float
) -> list[dict[str, object]]:
    """`/api/v1/query_range` -> the result matrix (raises on a PromQL or HTTP error)."""
    r = client.get(
        "/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": step}
    )
    body = r.json()
    if r.status_code != 200 or body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error', r.text[:300])}")
    return list(body["data"]["result"])


def render(
    prometheus_url: str,
    out: Path,
    start: float,
    end: float,
    step: float = 2.0,
    rate_interval: str = "30s",
    dashboard: Path = DASHBOARD,
    columns: int = 3,
) -> Path:
    """Query every panel over [start, end] and draw them in a grid; returns `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = load_panels(dashboard)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.4 * rows), squeeze=False)
    with httpx.Client(base_url=prometheus_url, timeout=30) as client:
        for ax, panel in zip(axes.flat, panels, strict=False):
            for target in panel.targets:
                expr = substitute(target.expr, rate_interval)
                for series in query_range(client, expr, start, end, step):
                    _plot(ax, series, target.legend, start)
            _style(ax, panel)
            ax.set_xlim(0, end - start)  # one time axis for every panel
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end))
    fig.suptitle(f"coldrec dashboard (Prometheus data, rate window {rate_interval}; {stamp})")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _plot(ax: Axes, series: dict[str, object], fmt: str, start: float) -> None:
    values = series["values"]
    assert isinstance(values, list)
    xs = [float(t) - start for t, _ in values]
    ys = [float(v) for _, v in values]  # NaN (no traffic in the window) leaves a gap
    if all(math.isnan(y) for y in ys):
        return  # e.g. a route never called in the range: no legend entry
    labels = series["metric"]
    assert isinstance(labels, dict)
    ax.plot(xs, ys, label=legend(fmt, labels), linewidth=1.4)


def _style(ax: Axes, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("seconds", fontsize=8)
    unit = {"percentunit": "share", "s": "seconds", "ops": "per second", "reqps": "req/s"}
    ax.set_ylabel(unit.get(panel.unit, ""), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best")
    else:
        ax.text(0.5, 0.5, "no data in this range", ha="center", transform=ax.transAxes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clients.dashboard_png", description=__doc__)
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--minutes", type=float, default=5.0, help="window ending now")
    parser.add_argument("--start", type=float, help="unix seconds (default: now - minutes)")
    parser.add_argument("--end", type=float, help="unix seconds (default: now)")
    parser.add_argument("--step", type=float, default=2.0, help="seconds between points")
    parser.add_argument("--rate-interval", default="30s", help="replaces $__rate_interval")
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = parser.parse_args(argv)
    end = args.end if args.end is not None else time.time()
    start = args.start if args.start is not None else end - 60 * args.minutes
    render(args.prometheus, args.out, start, end, args.step, args.rate_interval, args.dashboard)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
