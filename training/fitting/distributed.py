"""Data-parallel training under torchrun: PyTorch DDP over a process group (gloo on CPU, NCCL
on CUDA), each rank a disjoint shard of every epoch's batches.

`coldrec train` started by torchrun (`RANK`, `WORLD_SIZE`, `LOCAL_RANK` in the environment,
`WORLD_SIZE` above 1) opens the process group (`session`) and hands the trainer a `Ranks`; every
other start gets None and trains exactly as one process always has.

What one epoch does on N ranks (training/fitting/trainer.py):

- every rank draws the same seeded epoch of batches as one process would (the same sampler, the
  same seed, every batch's negatives drawn on every rank, so the global order is the one-process
  order); global step s is batches sN .. sN+N-1 and rank r trains on batch sN+r (`shard`); the
  last step wraps round to the epoch's first batches where the epoch runs out, so every rank
  takes ceil(n/N) steps. One step therefore learns from N batches: the effective batch is
  N * `train.batch_size` and an epoch takes 1/N of the optimizer steps;
- each step every rank propagates the whole graph (the models' loss needs it), computes the loss
  of its own batch, and DDP averages the gradients of the recommender's parameters across ranks
  before the (identical) Adam step, so the parameters stay equal on every rank;
- torch's random state is rank 0's at the start of every epoch (`sync_rng`) and the model's
  buffers are rank 0's after `begin_epoch` (`sync_buffers`: DiffMM's regenerated graphs), so
  per-epoch work outside the batches agrees; the epoch's loss terms are summed over ranks;
- validation Recall@20 runs on rank 0 only and its score is broadcast (`from_main`), as is rank
  0's time-budget decision, so every rank keeps the same best epoch and stops at the same epoch.

After the backbone the other ranks are done: rank 0 alone fits the projector (cheap next to the
backbone; nothing else needs it), evaluates, writes RUN_DIR and prints the summary.
`COLDREC_DDP_TIMEOUT_S` (default 1800) bounds how long a rank waits in a collective for the
others (e.g. while rank 0 validates), so a rank that hangs cannot hold the others forever; a
rank that fails outright ends the run at once (torchrun stops the other processes).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from models.base import Batch, RecModel

TIMEOUT_ENV = "COLDREC_DDP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 1800.0
T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the process group."""

    rank: int
    world: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def summary(self, batch_size: int) -> dict[str, object]:
        """metrics.json's `distributed` section."""
        return {
            "world_size": self.world,
            "backend": self.backend,
            "batch_per_rank": batch_size,
            "batch_per_step": batch_size * self.world,
        }


def from_env(env: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when torchrun started this process with more than one
    process in all, else None (a plain start, or torchrun with one process)."""
    env = os.environ if env is None else env
    if not all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
    if world <= 1:
        return None
    if not 0 <= rank < world:
        raise ValueError(f"RANK {rank} is outside WORLD_SIZE {world}")
    return rank, world, local


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors, gloo for CPU ones."""
    return "nccl" if device.type == "cuda" else "gloo"


def timeout_s(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    value = float(env.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    if value <= 0:
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds")
    return value


@contextmanager
def session(device: torch.device | None = None) -> Iterator[Ranks | None]:
    """The process group for this run when torchrun started it (None otherwise), destroyed on
    the way out however the run ends. `device`: where training computes (the trainer's is the
    CPU); CUDA takes the GPU numbered LOCAL_RANK."""
    place = from_env()
    if place is None:
        yield None
        return
    rank, world, local = place
    device = device or torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(local)
    backend = backend_for(device)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s()))
    try:
        yield Ranks(rank, world, local, backend)
    finally:
        dist.destroy_process_group()


def shard(batches: Iterator[T], n_batches: int, ranks: Ranks) -> Iterator[T]:
    """This rank's batches of one epoch: the (sN + r)-th for every step s, wrapping round to
    the epoch's first batches past its end. Consumes every batch (each draws from the
    sampler's generator), so the global order is the one-process order."""
    steps = -(-n_batches // ranks.world)
    wrapped = [
        i % n_batches
        for i in range(n_batches, steps * ranks.world)
        if i % ranks.world == ranks.rank
    ]
    kept: dict[int, T] = {}
    for i, batch in enumerate(batches):
        if i in wrapped:
            kept[i] = batch
        if i % ranks.world == ranks.rank:
            yield batch
    for i in wrapped:
        yield kept[i]


def batches_per_epoch(sampler: Sized, ranks: Ranks) -> int:
    """Batches one epoch trains on over all ranks: every step N of them."""
    return -(-len(sampler) // ranks.world) * ranks.world


class _Loss(nn.Module):
    """The model's loss as a module's forward, the call DDP wraps."""

    def __init__(self, model: RecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, users: Tensor, pos: Tensor, neg: Tensor) -> dict[str, Tensor]:
        return self.model.loss(Batch(users, pos, neg))


class DataParallelLoss:
    """`model.loss` under DDP: gradients of the recommender's parameters averaged over ranks in
    backward. The projector and any parameters with their own optimizer (DiffMM's denoisers)
    are left out of DDP; buffers are not broadcast each step (`sync_buffers` does it per epoch).
    """

    def __init__(self, model: RecModel) -> None:
        module = _Loss(model)
        trained = {id(p) for p in model.recommender_parameters()}
        ignored = [f"model.{n}" for n, p in model.named_parameters() if id(p) not in trained]
        ignored += [f"model.{n}" for n, _ in model.named_buffers()]
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, ignored)
        # LATTICE and MICRO use some parameters only on an epoch's first batch (their learned
        # graphs' weights), so DDP looks for unused ones every step (one walk of the autograd
        # graph; for LightGCN and DiffMM torch warns once that it found none).
        self.ddp = DistributedDataParallel(module, find_unused_parameters=True, **_no_buffer_sync())

    def __call__(self, batch: Batch) -> dict[str, Tensor]:
        out: dict[str, Tensor] = self.ddp(batch.users, batch.pos_items, batch.neg_items)
        return out


def _no_buffer_sync() -> dict[str, Any]:
    """DDP's keyword for not broadcasting buffers every forward (renamed in torch 2.13)."""
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    key = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return {key: False}


def sync_rng() -> None:
    """Every rank continues from rank 0's torch random state."""
    state = torch.get_rng_state()
    dist.broadcast(state, src=0)
    torch.set_rng_state(state)


@torch.no_grad()
def sync_buffers(model: nn.Module) -> None:
    """Every buffer of the model becomes rank 0's, in place."""
    for _, buf in sorted(model.named_buffers()):
        dist.broadcast(buf, src=0)


def sum_over_ranks(totals: dict[str, float]) -> dict[str, float]:
    """Each named total summed over ranks (every rank has the same names)."""
    names = sorted(totals)
    values = torch.tensor([totals[n] for n in names], dtype=torch.float64)
    dist.all_reduce(values)
    return dict(zip(names, values.tolist(), strict=True))


def from_main(value: float) -> float:
    """Rank 0's value of a float, on every rank."""
    out = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(out, src=0)
    return float(out.item())
