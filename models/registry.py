"""Model name -> class: the one list of the recommenders `coldrec train --model` accepts."""

from __future__ import annotations

from models.base import RecModel
from models.diffmm import DiffMM
from models.lattice import Lattice
from models.lightgcn import LightGCN
from models.micro import Micro

MODELS: dict[str, type[RecModel]] = {
    LightGCN.name: LightGCN,
    Lattice.name: Lattice,
    Micro.name: Micro,
    DiffMM.name: DiffMM,
}


def model_class(name: str) -> type[RecModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
