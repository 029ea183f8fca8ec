"""A restricted unpickler for DiffMM's pickled scipy.sparse matrices (no arbitrary code runs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from training.data.formats import (
    DIFFMM_TEST,
    DIFFMM_TRAIN,
    DIFFMM_VALID,
    DatasetError,
    UnsafePickle,
)


def _allowed_classes() -> dict[tuple[str, str], object]:
    """Exactly what a pickled coo_matrix of numpy arrays refers to, under old and new names."""
    np_core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    reconstruct = np_core.multiarray._reconstruct
    allowed: dict[tuple[str, str], object] = {}
    for module in ("scipy.sparse", "scipy.sparse.coo", "scipy.sparse._coo"):
        allowed[(module, "coo_matrix")] = sp.coo_matrix
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


class SparseUnpickler(pickle.Unpickler):
    """Resolves only the classes a scipy.sparse.coo_matrix needs; anything else raises."""

    def find_class(self, module: str, name: str) -> object:
        obj = _allowed_classes().get((module, name))
        if obj is None:
            raise UnsafePickle(f"pickle refers to {module}.{name}, which is not allowed")
        return obj


def load_sparse_pickle(path: Path) -> sp.coo_matrix:
    """Read one DiffMM matrix with `SparseUnpickler`; only the known DiffMM file names."""
    known = path.name in (DIFFMM_TRAIN, DIFFMM_VALID, DIFFMM_TEST) or path.name.endswith(
        "_valid.pkl"
    )
    if not known:
        raise DatasetError(f"refusing to unpickle {path.name}: not a known DiffMM file name")
    with path.open("rb") as fh:
        try:
            obj = SparseUnpickler(fh).load()
        except UnsafePickle:
            raise
        except Exception as exc:  # malformed pickles raise many types
            raise DatasetError(f"{path.name}: not a readable sparse matrix ({exc})") from exc
    if not isinstance(obj, sp.coo_matrix):
        raise DatasetError(f"{path.name}: holds {type(obj).__name__}, not a coo_matrix")
    return obj
