"""Typed run configuration: model + training sections, overridable from a file or `--set a.b=v`."""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.config import ModelConfig


@dataclass
class ColdTrainingConfig:
    """Cold-start training options (issue 13). 0 is off; the defaults were chosen on validation
    (docs/results/cold_training/): ALDI's rating alignment at 0.1 (cold_all validation Recall@20
    up on Amazon Scientific, TikTok and Beauty), the rest off (ID dropout cost warm Recall@20
    and no cold gain; modality dropout left full-feature validation level or lower, but is the
    setting for catalogues whose new items often lack a modality). All 0 trains as before them.

    `id_dropout` p (DropoutNet, Heater): while the backbone trains, each item of a BPR triple has
    its final embedding replaced by the projector's output for its features with probability p,
    the projector trained jointly, so users learn to score projected items on the warm scale.
    `modality_dropout` q (MILK): each modality of a projector input is zeroed with probability
    q (one is always kept), as a registered item lacking it gets zeros. `distill_*` (ALDI,
    SIGIR'23): weights of the projector fit's alignment to the trained model's scores: rating
    (|teacher - student| score), ranking (student margin vs sigmoid of the teacher's),
    identification (own vs other items' inner products); `distill_popularity` a weighs the
    ranking and identification terms by tanh(a * the positive item's interactions), 0 = equal.
    """

    id_dropout: float = 0.0
    modality_dropout: float = 0.0
    distill_rating: float = 0.1
    distill_ranking: float = 0.0
    distill_identification: float = 0.0
    distill_popularity: float = 0.0


@dataclass
class TrainConfig:
    """The optimisation and protocol settings of one run."""

    split: str = "cold"  # "cold": our cold/warm split; "shipped": the dataset's own split
    epochs: int = 200
    # Batch 4096, lr 1e-3, not the seed report's 1024 / 5e-4: chosen leave-one-dataset-out over
    # MICRO on Amazon Scientific, TikTok and Beauty (issue 13, docs/results/defaults/): picked on
    # any two, it is the best on the third or within 1% of it (against 1024 / 5e-4 and 4096 /
    # 2e-3). Each step propagates the whole graph, so a larger batch makes an epoch ~4x cheaper.
    batch_size: int = 4096
    lr: float = 1e-3
    seed: int = 0
    cold_fraction: float = 0.2
    eval_every: int = 1
    patience: int = 10  # evaluations without a better validation Recall@20 before stopping
    # No early stop before this epoch: MICRO and LATTICE can spike at epoch 1 (the item graph
    # from the features before the ID embeddings take over), dip, and climb past it only later
    # (Beauty MICRO: at epoch 8 at lr 2e-3, by epoch 17 at batch 1024 / lr 5e-4; see
    # docs/results/defaults/), which patience alone takes for the peak.
    min_epochs: int = 20
    # Stop before an epoch that would end past this many seconds of backbone training (judged by
    # the median epoch so far); 0 = no budget. The best validation epoch is kept either way.
    time_budget_s: float = 0.0
    projector_epochs: int = 100
    projector_lr: float = 1e-3
    projector_batch_size: int = 1024
    projector_align_weight: float = 0.5  # BPR through the projector + w * (1 - cos) alignment
    # The content floor after the projector fit: score + w * cos(user's content profile, item's
    # content) on "all" items, "cold" ones only, or "off"; w chosen on validation and kept only
    # where it helps (issue 13; training/evaluation/content_floor.py)
    content_floor: str = "all"
    # Cold validation Recall@20 is noisy early and often peaks, dips, then climbs for tens of
    # epochs (TikTok MICRO: best epoch 4 under patience 10, 96 under 30; see
    # docs/results/models/commands.sh).
    projector_patience: int = 30
    # After the projector fit: give every projected item simulated edges to its top-K trained
    # neighbours and one propagation step, K and alpha chosen on the validation cold tracks and
    # kept only if they beat the step's absence (issue 13; training/evaluation/simulated_edges.py).
    # On by default: validation kept it on Amazon Scientific, TikTok and Beauty (cold_all test
    # Recall@20 1.10x, 1.09x, 1.78x; docs/results/simulated_edges/); off costs nothing to choose.
    simulated_edges: bool = True
    threads: int = 0  # torch threads; 0 = torch's default
    # Keep freed memory in the process heap (glibc): each step's large tensors then reuse pages
    # instead of faulting in fresh ones; same results, ~35% less CPU per step on Beauty's
    # DiffMM, peak RSS higher by what the heap keeps (training/fitting/memory.py, issue 16)
    retain_freed_memory: bool = True
    cold_training: ColdTrainingConfig = field(default_factory=ColdTrainingConfig)


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def load_config_file(path: Path) -> dict[str, Any]:
    """Nested overrides from a TOML or JSON file, e.g. `[model] dim = 64`."""
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        data = tomllib.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table of settings")
    return data


def flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def apply_overrides(cfg: Any, overrides: dict[str, Any]) -> None:
    """Set dotted fields (`model.lattice.knn_k`) in place, converting strings to field types."""
    for dotted, value in flatten(overrides).items():
        *path, leaf = dotted.split(".")
        target = cfg
        for part in path:
            target = _child(target, part, dotted)
        hints = typing.get_type_hints(type(target))
        if leaf not in hints or dataclasses.is_dataclass(getattr(target, leaf)):
            raise ValueError(f"unknown setting {dotted!r}")
        setattr(target, leaf, _convert(value, hints[leaf], dotted))


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`["model.dim=64", "train.lr=1e-3"]` -> {"model.dim": "64", "train.lr": "1e-3"}."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _child(target: Any, part: str, dotted: str) -> Any:
    if not dataclasses.is_dataclass(target) or not hasattr(target, part):
        raise ValueError(f"unknown setting {dotted!r}")
    child = getattr(target, part)
    if not dataclasses.is_dataclass(child):
        raise ValueError(f"unknown setting {dotted!r}")
    return child


def _convert(value: Any, kind: Any, dotted: str) -> Any:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(value)
                return value.lower() in {"true", "1", "yes"}
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
    except ValueError:
        raise ValueError(f"setting {dotted!r}: cannot read {value!r} as {kind.__name__}") from None
    raise ValueError(f"setting {dotted!r} has an unsupported type {kind}")
