"""Model name -> class: the one place that lists the recommenders `coldrec train --model` accepts."""

from __future__ import annotations

from models.base import RecModel
from models.lightgcn import LightGCN

MODELS: dict[str, type[RecModel]] = {
    LightGCN.name: LightGCN,
}


def model_class(name: str) -> type[RecModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
