"""training/fitting/memory.py: freed blocks stay in the heap, so a second tensor of the same size
is served from pages already mapped (no page faults), and the trainer applies it by default."""

from __future__ import annotations

import resource
import sys

import pytest
import torch

from training.config import TrainConfig
from training.fitting.memory import retain_freed_memory

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")


def _faults_of_a_fresh_tensor(n_floats: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(n_floats)  # allocated, written whole, freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc_only
def test_a_freed_large_tensor_is_reused_without_page_faults() -> None:
    assert retain_freed_memory() and retain_freed_memory()  # in force, and idempotent
    n = 16 * 2**20  # 64 MiB: above glibc's largest mmap threshold, so mmapped by default
    _faults_of_a_fresh_tensor(n)  # the heap grows once
    pages = n * 4 // resource.getpagesize()
    # the second tensor reuses the first one's pages: a handful of faults, not one per page
    assert _faults_of_a_fresh_tensor(n) < pages // 20


def test_the_trainer_retains_freed_memory_by_default() -> None:
    assert TrainConfig().retain_freed_memory is True
