"""Prometheus metrics (`coldrec_` prefix), on a registry of the app's own (no global state).

Under `coldrec serve --workers N` several processes answer on one port, so a scrape reaches any
one of them: there (PROMETHEUS_MULTIPROC_DIR set by service/serve.py) every process writes its
values to that folder and `render` sums the counters and histograms of all of them
(prometheus_client's multiprocess mode); gauges report the largest value among live workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.variants import CONTROL

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when it is imported

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Every metric the service exports. One instance per app, built in the lifespan."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self._sizes: Callable[[], dict[str, int]] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.recommended = Counter(
            "coldrec_recommended_items",
            "Items returned in recommendations, by kind and A/B arm (control: the active bundle)",
            ["kind", "variant"],
            registry=r,
        )
        self.hits = Counter(
            "coldrec_hits",
            "Interactions on items recently recommended to the same user, credited to the arm "
            "whose list showed the item",
            ["kind", "variant"],
            registry=r,
        )
        self.interactions = Counter(
            "coldrec_interactions", "Interactions recorded", ["kind"], registry=r
        )
        self.registered = Counter("coldrec_items_registered", "Items registered", registry=r)
        self.retired = Counter("coldrec_items_retired", "Items retired", registry=r)
        self.request_latency = Histogram(
            "coldrec_request_latency_seconds",
            "Request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.servable_latency = Histogram(
            "coldrec_registration_to_servable_seconds",
            "From a registration's arrival to its item being searchable on this replica",
            ["path"],  # local: the replica that took the write; stream: a follower
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.index_items = Gauge(
            "coldrec_index_items",
            "Items in the index",
            ["kind"],
            registry=r,
            multiprocess_mode="livemax",  # every worker holds the same index
        )
        self.problems = Counter(
            "coldrec_problems", "Problem responses by problem type", ["type"], registry=r
        )
        self.redis_errors = Counter(
            "coldrec_redis_errors", "Failed Redis operations", ["op"], registry=r
        )
        self.search_batch = Histogram(
            "coldrec_search_batch_size",
            "Recommendation queries per batched search",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.bundle_info = Gauge(
            "coldrec_bundle_info",
            "1 for each bundle this replica serves, by A/B arm",
            ["variant", "digest", "model"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.bundle_loads = Counter(
            "coldrec_bundle_loads",
            "Bundles loaded beside the serving one (POST /admin/bundle, or following another "
            "replica), by result",
            ["result"],  # ok | refused
            registry=r,
        )

        # Zero series from the start, so rate() sees the very first event of each kind.
        for kind in ("warm", "cold"):
            self.interactions.labels(kind)
        self.touch_variant(CONTROL)
        for result in ("ok", "refused"):
            self.bundle_loads.labels(result)
        for path in ("local", "stream"):
            self.servable_latency.labels(path)

    def touch_variant(self, variant: str) -> None:
        """Zero series of an A/B arm, so rate() sees its first recommendation and hit."""
        for kind in ("warm", "cold"):
            self.recommended.labels(kind, variant)
            self.hits.labels(kind, variant)

    def track_index(self, sizes: Callable[[], dict[str, int]]) -> None:
        """Read the index size at scrape time."""
        self._sizes = sizes
        if not self.multiprocess:  # a function is not a value other processes can read
            for kind in ("warm", "cold"):
                self.index_items.labels(kind).set_function(_reader(sizes, kind))

    def render(self) -> bytes:
        """The exposition: this process's registry, or every worker's values (multiprocess)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        if self._sizes is not None:  # the scraped worker's index size, as of now
            for kind, n in self._sizes().items():
                self.index_items.labels(kind).set(n)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


def _reader(sizes: Callable[[], dict[str, int]], kind: str) -> Callable[[], float]:
    return lambda: float(sizes()[kind])
