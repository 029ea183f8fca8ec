"""Search on a torch device: exact search on a GPU without faiss-gpu, and bf16 scoring on the CPU.

`TorchBackend` keeps a copy of one kind's rows on `device` in `dtype` and answers a batch of
queries with one matrix product and a top-k:

- `cuda`, float32: exact search on the GPU for a machine with torch+CUDA but no GPU build of
  faiss (COLDREC_INDEX_DEVICE=gpu|auto), the same contract as the CPU backends;
- `cpu` or `cuda`, bfloat16 or float16 (COLDREC_INDEX_PRECISION=bf16|fp16 on the GPU, bf16 on
  the CPU): a reduced-precision scan whose top `fetch * oversample` candidates the index
  re-ranks exactly in float32 from its own rows (service/precision.py `rerank`). On a CPU with
  AMX or AVX512-BF16 the bf16 product runs several times faster than the float32 one; where the
  CPU has neither it is slower: measure (benchmarks/bench_wrk.py) before choosing it.

Labels are positions, which are the index's slots: rows are appended in order and rebuilt on
compaction, as with the other backends.
"""

from __future__ import annotations

import numpy as np
import torch

from service.topk import top_k

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (torch's own build, independent of faiss's)."""
    return bool(torch.cuda.is_available())


class TorchBackend:
    """One kind's rows on a torch device: a GEMM and a top-k per batch of queries."""

    def __init__(self, device: str, precision: str, dim: int, oversample: int) -> None:
        if precision not in DTYPES:
            raise ValueError(f"unknown index precision {precision!r}: {', '.join(DTYPES)}")
        self.device = torch.device(device)
        self.dtype = DTYPES[precision]
        # float32 scores are exact; a reduced scan tells the index to re-rank (index.py)
        self.oversample = 0 if self.dtype == torch.float32 else oversample
        self._rows = torch.zeros((1024, dim), dtype=self.dtype, device=self.device)  # [cap, dim]
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray, first_slot: int) -> None:
        if first_slot != self._n:
            raise AssertionError(f"slot {first_slot} appended at position {self._n}")
        need = self._n + len(vectors)
        if need > len(self._rows):
            grown = torch.zeros(
                (max(need, 2 * len(self._rows)), self._rows.shape[1]),
                dtype=self.dtype,
                device=self.device,
            )
            grown[: self._n] = self._rows[: self._n]
            self._rows = grown
        block = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self._rows[self._n : need] = block.to(self.device, self.dtype)
        self._n = need

    def rebuild(self, vectors: np.ndarray) -> None:
        self._n = 0
        if len(vectors):
            self.add(vectors, 0)

    def search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """([b, f] scores, [b, f] slots) of the f = min(fetch, rows) best rows, best first."""
        b = len(queries)
        if self._n == 0 or fetch <= 0:
            return np.zeros((b, 0), np.float32), np.zeros((b, 0), np.int64)
        with torch.inference_mode():
            q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
            scores = q.to(self.device, self.dtype) @ self._rows[: self._n].T  # [b, n]
            values, slots = top_k(scores, fetch)
            return values.float().cpu().numpy(), slots.cpu().numpy().astype(np.int64)
