"""Two finished runs combined into one (issue 3 item 5: the seed's LATTICE + MICRO ensemble).

Scores combine as alpha * s_A + (1 - alpha) * s_B, where each member's scores are first divided
by its mean warm item norm times its mean user norm so that neither dominates by scale. The sum
stays one inner-product space: users [sqrt(alpha) U_A / n_A, sqrt(1 - alpha) U_B / n_B] against
items [sqrt(alpha) I_A / m_A, sqrt(1 - alpha) I_B / m_B], so the result is served and evaluated
like any run (cold rows are each member's projected ones).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.data.dataset import Dataset
from training.evaluation.ranking import TrackMetrics, evaluate_tracks, random_tracks
from training.protocol.splits import Split

ALPHAS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(11))
TRACKS_FOR_ALPHA: tuple[str, ...] = ("warm", "cold_all")


class EnsembleError(ValueError):
    """Two runs that cannot be combined (different data, split or shapes; missing files)."""


@dataclass(frozen=True)
class Member:
    """One finished run as `training.export.write_run` leaves it."""

    run_dir: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    split: Split
    users: np.ndarray  # [n_users, d]
    items: np.ndarray  # [n_items, d], every dataset item (cold rows projected)

    @classmethod
    def load(cls, run_dir: Path) -> Member:
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
            config = json.loads((run_dir / "config.json").read_text())
            split = Split.load(str(run_dir / "split.npz"))
            with np.load(run_dir / "embeddings.npz", allow_pickle=False) as z:
                users, items = z["users"].astype(np.float32), z["items"].astype(np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise EnsembleError(f"{run_dir}: not a finished run ({exc})") from exc
        return cls(run_dir, metrics, config, split, users, items)

    @property
    def model(self) -> str:
        return str(self.metrics.get("model", "?"))

    def normalised(self) -> tuple[np.ndarray, np.ndarray]:
        """(users / mean user norm, items / mean warm item norm): scores / (n_u * n_i)."""
        warm = self.split.warm_items(len(self.items))
        user_norm = float(np.linalg.norm(self.users, axis=1).mean())
        item_norm = float(np.linalg.norm(self.items[warm], axis=1).mean())
        return self.users / max(user_norm, 1e-12), self.items / max(item_norm, 1e-12)


@dataclass
class EnsembleResult:
    users: np.ndarray  # [n_users, d_A + d_B]
    items: np.ndarray  # [n_items, d_A + d_B]
    alpha: float
    metrics: dict[str, Any]


def same_split(a: Split, b: Split) -> bool:
    """Both runs held out the same cold items and labelled every interaction the same way."""
    return (
        np.array_equal(a.part, b.part)
        and np.array_equal(a.cold_valid_items, b.cold_valid_items)
        and np.array_equal(a.cold_test_items, b.cold_test_items)
        and np.array_equal(a.catalogue_items, b.catalogue_items)
    )


def combine(a: Member, b: Member, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated (users, items) whose inner product is alpha s_A' + (1 - alpha) s_B'."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    ua, ia = a.normalised()
    ub, ib = b.normalised()
    wa, wb = np.float32(np.sqrt(alpha)), np.float32(np.sqrt(1.0 - alpha))
    users = np.concatenate([wa * ua, wb * ub], axis=1).astype(np.float32)  # [U, d_A + d_B]
    items = np.concatenate([wa * ia, wb * ib], axis=1).astype(np.float32)  # [I, d_A + d_B]
    return users, items


def check_members(a: Member, b: Member, dataset: Dataset) -> None:
    """Same dataset, same split, embeddings with a row for every user and item."""
    if not same_split(a.split, b.split):
        raise EnsembleError(f"{a.run_dir} and {b.run_dir} used different splits")
    for m in (a, b):
        if m.metrics.get("dataset") != dataset.name:
            raise EnsembleError(
                f"{m.run_dir} was trained on {m.metrics.get('dataset')!r}, not {dataset.name!r}"
            )
        if m.users.shape[0] != dataset.n_users or m.items.shape[0] != dataset.n_items:
            raise EnsembleError(f"{m.run_dir}: embeddings do not match the dataset's size")
        if len(m.split.part) != dataset.n_interactions:
            raise EnsembleError(f"{m.run_dir}: the split does not match the dataset")


def ensemble(
    a: Member, b: Member, dataset: Dataset, alphas: tuple[float, ...] = ALPHAS, seed: int = 0
) -> EnsembleResult:
    """Choose alpha on VALIDATION only, then evaluate every track once on test.

    The criterion is the mean of the warm and the cold_all (all-items pool) validation
    Recall@20, so the weight serves warm users and new items alike; ties go to the first alpha
    of the grid. Test numbers never influence the choice.
    """
    check_members(a, b, dataset)
    split = a.split
    grid: list[dict[str, float]] = []
    best_alpha, best_score, best_valid = alphas[0], -1.0, {}
    for alpha in alphas:
        users, items = combine(a, b, alpha)
        valid = evaluate_tracks(users, items, dataset, split, phase="valid")
        score = _criterion(valid)
        grid.append({"alpha": alpha, "valid_criterion": score})
        if score > best_score:
            best_alpha, best_score, best_valid = alpha, score, valid
    users, items = combine(a, b, best_alpha)
    metrics = {
        "model": f"ensemble({a.model}+{b.model})",
        "dataset": dataset.name,
        "test": evaluate_tracks(users, items, dataset, split, phase="test"),
        "valid": best_valid,
        "random": {"test": random_tracks(dataset, split, phase="test", seed=seed)},
        "alpha": best_alpha,
        "alpha_criterion": "mean of warm and cold_all validation Recall@20",
        "alpha_grid": grid,
        "members": [_member_summary(m) for m in (a, b)],
        "train_seconds": _sum(m.metrics.get("train_seconds") for m in (a, b)),
    }
    return EnsembleResult(users, items, best_alpha, metrics)


def write_ensemble(out_dir: Path, a: Member, b: Member, result: EnsembleResult, data: str) -> Path:
    """RUN_DIR/{metrics.json, config.json, split.npz, embeddings.npz}, the trainer's schema
    (no bundle: the members' projectors are served through their own bundles)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(a.run_dir / "split.npz", out_dir / "split.npz")
    np.savez(out_dir / "embeddings.npz", users=result.users, items=result.items)
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
    config = {
        "data": data,
        "modal_dims": a.config.get("modal_dims", {}),
        "model": {"dim": int(result.users.shape[1])},
        "train": {
            "seed": a.split.seed,
            "cold_fraction": a.split.cold_fraction,
        },
        "ensemble": {
            "members": [str(a.run_dir), str(b.run_dir)],
            "alpha": result.alpha,
            "alphas": [g["alpha"] for g in result.metrics["alpha_grid"]],
        },
    }
    if a.config.get("data_options"):  # plain input's reader options: read the data as A did
        config["data_options"] = a.config["data_options"]
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


def _criterion(valid: dict[str, TrackMetrics]) -> float:
    values = [valid[t]["recall@20"] for t in TRACKS_FOR_ALPHA if t in valid]
    return float(np.mean(values)) if values else 0.0


def _member_summary(m: Member) -> dict[str, Any]:
    return {
        "run": str(m.run_dir),
        "model": m.model,
        "test_recall@20": {t: v["recall@20"] for t, v in m.metrics.get("test", {}).items()},
    }


def _sum(values: Any) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(sum(present), 2) if present else None
