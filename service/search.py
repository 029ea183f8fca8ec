"""Search backends behind the item index: exact CPU search, FAISS IVF, FAISS or torch on the GPU.

Every backend answers "top `fetch` rows of this matrix by inner product" with labels that are
row numbers ("slots") of the index's own storage; the index maps slots to item ids.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal, Protocol

import faiss
import numpy as np
import torch

from service.errors import IndexUnavailable
from service.precision import make_reduced_backend
from service.topk import top_k
from service.torch_search import TorchBackend, cuda_available

log = logging.getLogger(__name__)

Device = Literal["cpu", "gpu"]
MIN_TRAIN_PER_LIST = 39  # FAISS warns below 39 training points per IVF list
SMALL_BATCH = 8  # up to this many queries the GEMM runs as X @ Q^T (2-3x faster here at 2-4)


class Backend(Protocol):
    """A FAISS index whose labels are storage slots (appended in order, rebuilt on compaction)."""

    oversample: int  # > 0: approximate scores, re-ranked exactly from the top fetch * oversample

    def add(self, vectors: np.ndarray, first_slot: int) -> None: ...

    def rebuild(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]: ...


def faiss_gpu_available() -> bool:
    """Whether this faiss build has GPU support and sees a device."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def gpu_available() -> bool:
    """Whether there is a GPU to search on: through faiss-gpu, else through torch's CUDA."""
    return faiss_gpu_available() or cuda_available()


def resolve_device(setting: str) -> Device:
    """`auto|cpu|gpu` -> the device to use; `gpu` without one is an error, not a silent CPU."""
    if setting == "cpu":
        return "cpu"
    if gpu_available():
        return "gpu"
    if setting == "gpu":
        raise IndexUnavailable(
            "index_device=gpu but neither faiss (no GPU build) nor torch (no CUDA) sees a GPU"
        )
    return "cpu"


class FaissBackend:
    """A FAISS index (IVF on CPU or GPU, or flat on GPU) holding copies of the stored rows."""

    oversample = 0  # its scores are exact (IVF misses neighbours, but scores what it finds)

    def __init__(self, index: Any, with_ids: bool) -> None:
        self._index = index
        self._with_ids = with_ids  # IVF takes explicit labels; a GPU flat labels by position

    def add(self, vectors: np.ndarray, first_slot: int) -> None:
        if self._with_ids:
            slots = np.arange(first_slot, first_slot + len(vectors), dtype=np.int64)
            self._index.add_with_ids(vectors, slots)
        else:
            self._index.add(vectors)

    def rebuild(self, vectors: np.ndarray) -> None:
        self._index.reset()  # an IVF keeps its trained centroids across reset
        if len(vectors):
            self.add(vectors, 0)

    def search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        found: tuple[np.ndarray, np.ndarray] = self._index.search(queries, fetch)
        return found  # ([b, fetch] scores, [b, fetch] slots)


def make_backend(
    index_type: str,
    device: Device,
    dim: int,
    train: np.ndarray,
    nlist: int = 0,
    nprobe: int = 16,
    precision: str = "fp32",
    oversample: int = 4,
) -> Backend | None:
    """The backend for one kind of items; None means the exact CPU path (no copy of the rows).

    `train` ([n, dim]) trains IVF centroids (and sq8 ranges); with too few rows for IVF the exact
    path is used. `precision` (flat only) fp16|sq8|bf16: a reduced-precision scan, re-ranked
    exactly (bf16 through torch on the CPU, AMX; fp16|bf16 on a GPU through torch). On a GPU
    faiss-gpu serves when this faiss build has it, else torch (service/torch_search.py).
    """
    torch_gpu = device == "gpu" and not faiss_gpu_available()  # a CUDA torch, no faiss-gpu
    if precision != "fp32":
        if index_type != "flat":
            raise ValueError("a reduced index precision needs index_type flat")
        if precision in ("fp16", "bf16") and torch_gpu:
            return TorchBackend("cuda", precision, dim, oversample)
        if precision == "bf16":
            if device == "gpu":
                log.info("index precision bf16 scans on the CPU (faiss-gpu has no bf16 scan)")
            return TorchBackend("cpu", precision, dim, oversample)
        if device == "gpu":
            log.info("index precision %s scans on the CPU (the GPU is not used)", precision)
        return make_reduced_backend(precision, dim, train, oversample)
    if index_type == "ivf":
        ivf = _trained_ivf(dim, train, nlist, nprobe)
        if ivf is not None:
            if device == "gpu" and not torch_gpu:  # pragma: no cover - needs faiss-gpu
                res = faiss.StandardGpuResources()
                gpu = faiss.index_cpu_to_gpu(res, 0, ivf)
                faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", nprobe)
                backend = FaissBackend(gpu, with_ids=True)
                backend._res = res  # type: ignore[attr-defined]  # keep resources alive
                return backend
            if torch_gpu:
                log.info("IVF searches on the CPU (this faiss has no GPU build)")
            return FaissBackend(ivf, with_ids=True)
    if torch_gpu:
        return TorchBackend("cuda", "fp32", dim, oversample)
    if device == "gpu":  # pragma: no cover - needs a GPU build of faiss
        res = faiss.StandardGpuResources()
        backend = FaissBackend(faiss.GpuIndexFlatIP(res, dim), with_ids=False)
        backend._res = res  # type: ignore[attr-defined]
        return backend
    return None


def _trained_ivf(dim: int, train: np.ndarray, nlist: int, nprobe: int) -> Any | None:
    n = len(train)
    if nlist <= 0:
        nlist = max(1, int(4 * math.sqrt(max(n, 1))))
    nlist = min(nlist, n // MIN_TRAIN_PER_LIST)
    if nlist < 2:
        log.warning("too few items (%d) to train an IVF index: using exact search", n)
        return None
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(np.ascontiguousarray(train, dtype=np.float32))
    ivf.nprobe = min(nprobe, nlist)
    return ivf


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, fetch: int, masks: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-`fetch` over `vectors` [n, d] for `queries` [b, d].

    One query: faiss's flat kernel (memory-bound, fastest here); `masks[r]` is then ignored and the
    caller over-fetches and filters. Several queries: one GEMM through torch, which gains from
    batching where faiss's CPU kernel does not (DESIGN.md, measured), with `masks[r]` (slots to
    drop for row r) set to -inf first so no over-fetch is needed.
    """
    if len(queries) == 1:
        scores, slots = faiss.knn(queries, vectors, fetch, metric=faiss.METRIC_INNER_PRODUCT)
        return scores, slots
    with torch.no_grad():
        x, q = torch.from_numpy(vectors), torch.from_numpy(queries)
        if len(queries) <= SMALL_BATCH:  # measured: X @ Q^T is the faster GEMM for a few rows
            s = (x @ q.T).T  # [b, n], a view
        else:
            s = q @ x.T  # [b, n]
        for row, mask in enumerate(masks):
            if len(mask):
                s[row, torch.from_numpy(mask)] = -math.inf
        values, indices = top_k(s.contiguous(), fetch)
    return values.numpy(), indices.numpy()
