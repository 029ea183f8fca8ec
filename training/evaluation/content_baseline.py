"""The content-only baseline: no training at all, a user is the mean of their items' content.

Definition (issue 13, Deliver 4):

- item vector: the item's content vector, L2-normalised. The content is the `text` modality
  when the dataset has one (MiniLM of the raw text; the shipped text vectors where a dataset
  ships them, Scientific's 512-d); otherwise every modality, each L2-normalised on its own,
  concatenated in name order (so each modality weighs the same), then L2-normalised again.
- user vector: the mean of the item vectors of the user's TRAIN items (the training part of
  the split: held-out warm and cold interactions never enter it), L2-normalised.
- score: the cosine of the two, i.e. the inner product of the normalised vectors.

It is evaluated by `ranking.evaluate_tracks`, the models' own track code (warm, sparse, active,
cold_only, cold_all; training items masked; user chunks, never a dense users x items matrix),
on the run's dataset as given, so a modality ablation's run gets the ablated modalities' baseline.
Cost: two sparse-dense products and the ranking itself; seconds on Amazon Beauty.

`python -m training.evaluation.content_baseline --data DIR` prints its figures as JSON on the
split `coldrec train` makes with the default settings (seed 0, 20% of items cold).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from models import content_floor as floor
from training.data.dataset import Dataset
from training.evaluation.ranking import KS, TrackMetrics, evaluate_tracks
from training.protocol.splits import Part, Split


def content_source(dataset: Dataset) -> list[str]:
    """The modalities the baseline reads: ["text"] when present, else all, in name order."""
    if not dataset.modalities:
        raise ValueError(f"{dataset.name} has no item features: no content baseline")
    return floor.content_source(dataset.modalities)


def item_vectors(dataset: Dataset) -> np.ndarray:
    """float32 [n_items, d]: each item's L2-normalised content vector (`content_source`);
    an item whose features are all zero keeps a zero vector (it scores 0 for everyone). The
    definition is `models.content_floor.content_vectors`, which the service shares."""
    source = content_source(dataset)
    return floor.content_vectors(dataset.modalities, source, dataset.modal_dims)


def user_vectors(train: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """float32 [n_users, d]: the L2-normalised mean of each user's training items' vectors
    (`train` binary [n_users, n_items]); a user with no training item gets zeros."""
    return floor.profiles(train, items)


def content_tracks(
    dataset: Dataset,
    split: Split,
    phase: str = "test",
    *,
    items: np.ndarray | None = None,
    ks: Sequence[int] = KS,
) -> dict[str, TrackMetrics]:
    """Every track of the content baseline on `phase` ("test" or "valid"); `items` are
    `item_vectors(dataset)` when the caller already has them."""
    items = item_vectors(dataset) if items is None else items
    users = user_vectors(split.matrix(dataset, Part.TRAIN), items)
    return evaluate_tracks(users, items, dataset, split, phase=phase, ks=ks)


def content_baseline(dataset: Dataset, split: Split) -> dict[str, Any]:
    """What `train` stores under metrics.json's `content`: the modalities read (`source`) and
    every track on test and validation. Empty when the dataset has no item features."""
    if not dataset.modalities:
        return {}
    items = item_vectors(dataset)
    return {
        "source": content_source(dataset),
        "test": content_tracks(dataset, split, "test", items=items),
        "valid": content_tracks(dataset, split, "valid", items=items),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the baseline's figures on one dataset's default split as JSON."""
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.content_baseline")
    parser.add_argument("--data", required=True, help="a dataset folder or synthetic:...")
    parser.add_argument("--modalities", help="keep only these modalities (comma-separated)")
    parser.add_argument("--set", action="append", default=[], help="RunConfig override a.b=v")
    args = parser.parse_args(argv)

    from training.config import RunConfig, apply_overrides, parse_assignments
    from training.data.resolve import resolve_data
    from training.fitting.trainer import make_split

    cfg = RunConfig()
    apply_overrides(cfg, parse_assignments(args.set))
    dataset = resolve_data(args.data)
    if args.modalities:
        dataset = dataset.with_modalities([m.strip() for m in args.modalities.split(",") if m])
    split = make_split(dataset, cfg)
    started = time.perf_counter()
    result = content_baseline(dataset, split)
    seconds = time.perf_counter() - started
    out = {
        "dataset": dataset.name,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "split": {"split": cfg.train.split, "seed": cfg.train.seed},
        "cold_fraction": cfg.train.cold_fraction,
        "seconds": round(seconds, 2),
        **result,
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
