"""`coldrec replay`: play a run's held-out test interactions against a running service.

The run's cold test items are registered through `POST /items` (their features from the dataset),
then each sampled test user asks for recommendations and posts the held-out test interactions it
really had (warm `Part.TEST` and cold `Part.COLD_TEST`); an interaction on a recommended item is a
hit. The online hit rates (read back from the service's `/metrics`, as deltas over the replay) are
printed beside the offline metrics of the same run (`RUN_DIR/metrics.json`).

`phase="valid"` plays the validation side instead (the cold validation items, `Part.VALID` and
`Part.COLD_VALID`): what constants are chosen on, never on test. Users arrive one at a time in a
seeded random order (the datasets order interactions only within a user, so this order is the
replay's clock); each asks for one list, then posts its held-out interactions. A cold
interaction's rank is 1 + how many earlier users of the replay took that item; "the hit rate of
cold items over their first N interactions" is hits / interactions among cold interactions of
rank <= N (`first_n`), and `by_rank` gives it per rank (docs/results/warmup/).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from training.data.dataset import Dataset
from training.protocol.splits import Part, Split

KINDS = ("warm", "cold")
PHASES = {"test": (Part.TEST, Part.COLD_TEST), "valid": (Part.VALID, Part.COLD_VALID)}
COUNTERS = ("coldrec_recommended_items", "coldrec_hits", "coldrec_interactions")


@dataclass(frozen=True)
class ReplayConfig:
    """Bounds and knobs of one replay."""

    max_users: int = 200
    max_seconds: float = 120.0
    k: int = 20
    seed: int = 0
    pool: str = "all"
    users_per_second: float = 0.0  # pace of users (and item batches); 0 = as fast as answered
    register_batch: int = 256  # items per POST /items (the service's COLDREC_MAX_BATCH is 1000)
    phase: str = "test"  # "valid": the cold validation items and validation interactions
    cold_only: bool = False  # play only the interactions on cold items (and their users)
    first_n: int = 10  # the cold hit rate over each item's first N interactions


@dataclass
class ReplayResult:
    """What a replay sent, what the client saw, what the service counted, and the offline run."""

    users: int = 0
    registered: int = 0
    seconds: float = 0.0
    recommended: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    held_out: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    online: dict[str, dict[str, float]] = field(default_factory=dict)  # counter -> kind -> delta
    offline: dict[str, float] = field(default_factory=dict)  # track -> test Recall@k
    taken: dict[int, int] = field(default_factory=dict)  # cold item -> interactions played
    by_rank: dict[int, list[int]] = field(default_factory=dict)  # rank -> [interactions, hits]
    first_n: int = 10
    phase: str = "test"

    def first_n_hit_rate(self) -> tuple[int, int, float]:
        """(interactions, hits, hit rate) over the cold interactions of rank <= first_n."""
        rows = [v for r, v in self.by_rank.items() if r <= self.first_n]
        n, hits = sum(v[0] for v in rows), sum(v[1] for v in rows)
        return n, hits, _ratio(hits, n)

    def hit_rate(self, kind: str) -> float:
        """Client-side hits / recommended items of `kind` (the dashboard's hit rate)."""
        return _ratio(self.hits[kind], self.recommended[kind])

    def recall(self, kind: str) -> float:
        """Client-side hits / held-out test interactions of `kind` (an online Recall@k)."""
        return _ratio(self.hits[kind], self.held_out[kind])

    def online_hit_rate(self, kind: str) -> float:
        """The service's own counters: delta hits / delta recommended items of `kind`."""
        hits = self.online.get("coldrec_hits", {}).get(kind, 0.0)
        return _ratio(hits, self.online.get("coldrec_recommended_items", {}).get(kind, 0.0))

    def summary(self, k: int) -> dict[str, object]:
        """A JSON-ready summary: online hit rates and recalls beside offline Recall@k."""
        return {
            "users": self.users,
            "registered_cold_items": self.registered,
            "seconds": round(self.seconds, 2),
            "recommended": self.recommended,
            "hits": self.hits,
            "held_out_interactions": self.held_out,
            "online_hit_rate": {kd: self.online_hit_rate(kd) for kd in KINDS},
            "client_hit_rate": {kd: self.hit_rate(kd) for kd in KINDS},
            f"online_recall@{k}": {kd: self.recall(kd) for kd in KINDS},
            "phase": self.phase,
            f"offline_{self.phase}_recall@{k}": self.offline,
            "cold_first_n": self.first_n_summary(),
        }

    def first_n_summary(self) -> dict[str, object]:
        """The cold hit rate over each item's first N interactions, overall and per rank."""
        n, hits, rate = self.first_n_hit_rate()
        return {
            "n": self.first_n,
            "interactions": n,
            "hits": hits,
            "hit_rate": rate,
            "by_rank": {
                str(r): {"interactions": v[0], "hits": v[1], "hit_rate": _ratio(v[1], v[0])}
                for r, v in sorted(self.by_rank.items())
                if r <= self.first_n
            },
        }


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def held_out_by_user(
    dataset: Dataset, split: Split, phase: str = "test", cold_only: bool = False
) -> dict[int, np.ndarray]:
    """Each user's distinct held-out items of `phase` (test: warm TEST and cold COLD_TEST;
    valid: VALID and COLD_VALID; `cold_only`: the cold part alone), sorted."""
    parts = PHASES[phase][1:] if cold_only else PHASES[phase]
    mask = np.isin(split.part, np.asarray(parts, dtype=np.int8))
    users, items = dataset.users[mask], dataset.items[mask]
    pairs = np.unique(np.stack([users, items], axis=1), axis=0)  # [m, 2], sorted by user
    out: dict[int, np.ndarray] = {}
    if not len(pairs):
        return out
    starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]])
    for s, e in zip(starts, np.r_[starts[1:], len(pairs)], strict=True):
        out[int(pairs[s, 0])] = pairs[s:e, 1]
    return out


def sample_users(users: list[int], max_users: int, seed: int) -> list[int]:
    """A seeded sample of at most `max_users` users, in a random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(users))[:max_users]
    return [users[int(i)] for i in order]


def read_counters(text: str) -> dict[str, dict[str, float]]:
    """The replay's counters from a Prometheus exposition: name -> kind -> value."""
    out: dict[str, dict[str, float]] = {name: {} for name in COUNTERS}
    for family in text_string_to_metric_families(text):
        if family.name not in out:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and "kind" in sample.labels:
                kind = sample.labels["kind"]  # summed over A/B variants (label `variant`)
                out[family.name][kind] = out[family.name].get(kind, 0.0) + float(sample.value)
    return out


def offline_recall(run_dir: Path, k: int, phase: str = "test") -> dict[str, float]:
    """Recall@k on `phase` (test or valid) of every track of the run's metrics.json (empty when
    k was not measured)."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        track: float(m[f"recall@{k}"])
        for track, m in metrics.get(phase, {}).items()
        if f"recall@{k}" in m
    }


def bundle_modalities(run_dir: Path) -> list[str]:
    """The modality names the run's bundle projects (a run may have dropped some)."""
    bundle = run_dir / "bundle" if (run_dir / "bundle").is_dir() else run_dir
    manifest = json.loads((bundle / "manifest.json").read_text())
    return sorted(manifest["modalities"])


def item_payloads(
    dataset: Dataset, items: np.ndarray, modalities: list[str], batch: int
) -> Iterator[list[dict[str, object]]]:
    """`POST /items` bodies for dataset item indices, in batches."""
    for s in range(0, len(items), batch):
        yield [
            {
                "id": dataset.item_ids.external(int(i)),
                "features": {m: dataset.modalities[m][int(i)].tolist() for m in modalities},
            }
            for i in items[s : s + batch]
        ]


def replay(
    run_dir: Path, dataset: Dataset, client: httpx.Client, cfg: ReplayConfig
) -> ReplayResult:
    """Register the run's cold items of `cfg.phase`, then play sampled users' held-out
    interactions of that phase."""
    if cfg.phase not in PHASES:
        raise ValueError(f"phase {cfg.phase!r}: one of {sorted(PHASES)}")
    start = time.monotonic()
    split = Split.load(str(run_dir / "split.npz"))
    cold_items = split.cold_test_items if cfg.phase == "test" else split.cold_valid_items
    result = ReplayResult(
        offline=offline_recall(run_dir, cfg.k, cfg.phase), first_n=cfg.first_n, phase=cfg.phase
    )
    before = read_counters(_get(client, "/metrics").text)

    modalities = bundle_modalities(run_dir)
    for n, body in enumerate(item_payloads(dataset, cold_items, modalities, cfg.register_batch)):
        if cfg.users_per_second > 0 and n:  # batches arrive at the users' pace too
            time.sleep(1.0 / cfg.users_per_second)
        _post(client, "/items", {"items": body})
        result.registered += len(body)

    cold = set(cold_items.tolist())
    truth = held_out_by_user(dataset, split, cfg.phase, cfg.cold_only)
    played_from = time.monotonic()
    for user in sample_users(sorted(truth), cfg.max_users, cfg.seed):
        if cfg.users_per_second > 0:  # user n arrives at n / rate seconds
            time.sleep(
                max(0.0, played_from + result.users / cfg.users_per_second - time.monotonic())
            )
        if time.monotonic() - start > cfg.max_seconds:
            break
        _play_user(client, dataset, user, truth[user], cold, cfg, result)
        result.users += 1

    after = read_counters(_get(client, "/metrics").text)
    result.online = {
        name: {kd: after[name].get(kd, 0.0) - before[name].get(kd, 0.0) for kd in KINDS}
        for name in COUNTERS
    }
    result.seconds = time.monotonic() - start
    return result


def _play_user(
    client: httpx.Client,
    dataset: Dataset,
    user: int,
    items: np.ndarray,
    cold: set[int],
    cfg: ReplayConfig,
    result: ReplayResult,
) -> None:
    uid = dataset.user_ids.external(user)
    recs = _get(client, f"/users/{uid}/recommendations", {"k": cfg.k, "pool": cfg.pool}).json()
    for rec in recs["items"]:
        result.recommended["cold" if rec["cold"] else "warm"] += 1
    body = [{"user_id": uid, "item_id": dataset.item_ids.external(int(i))} for i in items]
    for i in items:
        result.held_out["cold" if int(i) in cold else "warm"] += 1
    answer = _post(client, "/interactions", {"interactions": body}).json()
    for i, row in zip(items.tolist(), answer["interactions"], strict=True):
        if row["hit"]:
            result.hits["cold" if row["cold"] else "warm"] += 1
        if i in cold:  # its rank: 1 + the users before this one who took it
            rank = result.taken[i] = result.taken.get(i, 0) + 1
            tally = result.by_rank.setdefault(rank, [0, 0])
            tally[0] += 1
            tally[1] += int(bool(row["hit"]))


class ReplayError(ValueError):
    """The service refused a request of the replay (its problem detail is in the message)."""


def _get(
    client: httpx.Client, path: str, params: dict[str, str | int] | None = None
) -> httpx.Response:
    return _checked(client.get(path, params=params))


def _post(client: httpx.Client, path: str, body: dict[str, object]) -> httpx.Response:
    return _checked(client.post(path, json=body))


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        detail = response.json().get("detail", response.text[:300])
    except ValueError:
        detail = response.text[:300]
    raise ReplayError(
        f"{response.request.method} {response.request.url.path}: {response.status_code} {detail}"
    )


def format_report(result: ReplayResult, k: int) -> str:
    """A plain-text table: online hit rates and recalls beside the run's offline Recall@k."""
    off = result.offline
    lines = [
        f"replay: {result.users} users, {result.registered} cold items registered, "
        f"{result.seconds:.1f} s",
        f"{'kind':<6}{'recommended':>12}{'hits':>7}{'held-out':>10}"
        f"{'hit rate (/metrics)':>21}{f'online recall@{k}':>19}{f'offline recall@{k}':>20}",
    ]
    offline_track = {"warm": "warm", "cold": "cold_all"}
    for kd in KINDS:
        track = offline_track[kd]
        offline = f"{off[track]:.4f} ({track})" if track in off else "-"
        lines.append(
            f"{kd:<6}{result.recommended[kd]:>12}{result.hits[kd]:>7}{result.held_out[kd]:>10}"
            f"{result.online_hit_rate(kd):>21.4f}{result.recall(kd):>19.4f}{offline:>20}"
        )
    n, hits, rate = result.first_n_hit_rate()
    lines.append(
        f"cold items over their first {result.first_n} interactions: {hits} hits / {n} = {rate:.4f}"
    )
    return "\n".join(lines)
