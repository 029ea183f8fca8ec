"""Model name -> class for the names of models/names.py (`coldrec train --model`)."""

from __future__ import annotations

from models.base import RecModel
from models.diffmm import DiffMM
from models.lattice import Lattice
from models.lightgcn import LightGCN
from models.micro import Micro
from models.names import MODEL_NAMES

MODELS: dict[str, type[RecModel]] = {
    LightGCN.name: LightGCN,
    Lattice.name: Lattice,
    Micro.name: Micro,
    DiffMM.name: DiffMM,
}
if tuple(MODELS) != MODEL_NAMES:  # the command line offers MODEL_NAMES without importing this
    raise RuntimeError(f"models/names.py lists {MODEL_NAMES}, the registry {tuple(MODELS)}")


def model_class(name: str) -> type[RecModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
