"""Reduced-precision scoring with an exact re-rank: `COLDREC_INDEX_PRECISION=fp16|sq8|bf16`.

A FAISS scalar quantizer holds a second, smaller copy of each kind's rows (fp16: 2 bytes a
dimension, sq8: 1 byte, per-dimension ranges trained on the bundle's items) and scans it for the
top `fetch * oversample` candidates; `rerank` then scores those exactly in float32 from the index's
own stored rows and keeps the top `fetch`. (bf16, and fp16 on a GPU, scan through torch instead,
service/torch_search.py, with the same `rerank`.) The answer has the exact path's contract (exact
inner products as scores, best first); only a true neighbour the quantized scan ranks below the
candidate cut can be missed (recall@20 against exact >= 0.99, tests/unit/test_index_precision.py).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

Precision = Literal["fp32", "fp16", "sq8", "bf16"]
QTYPES = {"fp16": "QT_fp16", "sq8": "QT_8bit"}
BYTES_PER_DIM = {"fp32": 0, "fp16": 2, "sq8": 1, "bf16": 2}  # the scan's copy, beside the fp32 rows


class ReducedBackend:
    """A quantized flat copy of the stored rows, labelled by position (= slot: rows are appended
    in order and rebuilt on compaction). `oversample` tells the index to re-rank (index.py)."""

    def __init__(self, index: Any, oversample: int) -> None:
        self._index = index
        self.oversample = oversample

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray, first_slot: int) -> None:
        if first_slot != self._index.ntotal:
            raise AssertionError(f"slot {first_slot} appended at position {self._index.ntotal}")
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def rebuild(self, vectors: np.ndarray) -> None:
        self._index.reset()  # keeps the trained ranges (sq8)
        if len(vectors):
            self.add(vectors, 0)

    def search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        found: tuple[np.ndarray, np.ndarray] = self._index.search(queries, fetch)
        return found  # ([b, fetch] approximate scores, [b, fetch] slots, -1 = none)


def make_reduced_backend(
    precision: str, dim: int, train: np.ndarray, oversample: int
) -> ReducedBackend | None:
    """The scan for `precision` (`fp16` or `sq8`, on the CPU); None (exact) for `fp32` or when
    `sq8` has no rows to train its ranges on."""
    if precision == "fp32":
        return None
    if precision not in QTYPES:
        raise ValueError(f"unknown index precision {precision!r}: fp32, fp16 or sq8")
    qtype = getattr(faiss.ScalarQuantizer, QTYPES[precision])
    index = faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
    if precision == "sq8":
        if not len(train):
            log.warning("no items to train the 8-bit ranges on: using exact search")
            return None
        index.train(np.ascontiguousarray(train, dtype=np.float32))
    return ReducedBackend(index, oversample)


def rerank(
    vectors: np.ndarray, queries: np.ndarray, slots: np.ndarray, fetch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float32 inner products of `queries` [b, d] with their candidate rows of `vectors`
    [n, d] (`slots` [b, c], -1 = none); the top `fetch` per row, best first, -inf/-1 padded."""
    b = len(queries)
    valid = (slots >= 0) & (slots < len(vectors))  # [b, c]
    safe = np.where(valid, slots, 0)
    exact = np.matmul(vectors[safe], queries[:, :, None])[:, :, 0]  # [b, c], one batched GEMV
    exact = np.where(valid, exact, -np.inf).astype(np.float32)
    order = np.argsort(-exact, axis=1, kind="stable")[:, :fetch]  # [b, f]
    scores = np.full((b, fetch), -np.inf, dtype=np.float32)
    out = np.full((b, fetch), -1, dtype=np.int64)
    width = order.shape[1]
    scores[:, :width] = np.take_along_axis(exact, order, axis=1)
    out[:, :width] = np.where(
        np.isfinite(scores[:, :width]), np.take_along_axis(safe, order, axis=1), -1
    )
    return scores, out
