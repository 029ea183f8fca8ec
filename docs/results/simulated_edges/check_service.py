"""The service's embedding of every held-out cold item of a run trained with the step equals the
run's saved (evaluated) row: the service's featurizer, built from the run's bundle as
`coldrec serve` builds it (`service.cold_edges.edges_for`), embeds each item from its features,
all in one batch and one at a time. Run from the repo root:
`.venv/bin/python docs/results/simulated_edges/check_service.py RUN_DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bundle.reader import load_bundle
from service.cold_edges import edges_for
from service.features import Featurizer
from service.store import ItemRecord
from training.data.resolve import resolve_run_data
from training.protocol.splits import Split


def no_encoder() -> None:
    raise RuntimeError("items come with features here, never raw text")


def main(run: Path) -> None:
    bundle = load_bundle(run)
    _, dataset = resolve_run_data(json.loads((run / "config.json").read_text()), None, run)
    split = Split.load(str(run / "split.npz"))
    with np.load(run / "embeddings.npz", allow_pickle=False) as z:
        saved = z["items"]
    edges = edges_for(bundle)
    featurizer = Featurizer(bundle.projector, bundle.manifest.modalities, no_encoder, None, edges)
    cold = split.cold_items()
    records = [
        ItemRecord(
            dataset.item_ids.external(i),
            features={m: f[i] for m, f in dataset.modalities.items()},
            registered_at=0.0,
        )
        for i in cold
    ]
    batch = featurizer.embed(records)
    alone = np.concatenate([featurizer.embed([r]) for r in records])
    result = {
        "run": str(run),
        "cold_start": bundle.manifest.cold_start,
        "step": edges is not None,
        "cold_items": len(cold),
        "max_abs_diff_batch": float(np.abs(batch - saved[cold]).max()),
        "max_abs_diff_one_by_one": float(np.abs(alone - saved[cold]).max()),
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
