"""training/fitting/memory.py: a large tensor comes from the heap and, freed, stays there for the
next step's tensor of the same size (instead of a fresh mmap faulted in page by page), and the
trainer applies it by default."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from training.config import TrainConfig

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")


# Each case runs in a fresh interpreter (the option lasts for the life of a process) and reads
# glibc's own accounting (mallinfo2), not page faults: on a VM whose kernel reclaims idle pages
# (DAMON) even kept pages may fault again, so fault counts vary from run to run.
_PROBE = """
import ctypes, json, sys
import torch
from training.fitting.memory import retain_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "retain":
    assert retain_freed_memory() and retain_freed_memory()  # in force, and idempotent
before = libc.mallinfo2().hblkhd  # bytes in blocks mmapped one allocation each
tensor = torch.ones(16 * 2**20)  # 64 MiB: above glibc's largest mmap threshold
mmapped = libc.mallinfo2().hblkhd - before
del tensor
print(json.dumps({"mmapped": mmapped, "kept_free": libc.mallinfo2().fordblks}))
"""
SIZE = 64 * 2**20


def _allocate_and_free(mode: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@glibc_only
def test_a_freed_large_tensor_stays_in_the_heap_for_the_next_step() -> None:
    seen = _allocate_and_free("retain")
    assert seen["mmapped"] == 0  # served from the heap, not a fresh mapping
    assert seen["kept_free"] >= SIZE  # and kept there once freed, ready for the next tensor


@glibc_only
def test_without_it_each_large_tensor_is_mapped_and_given_back() -> None:
    seen = _allocate_and_free("default")  # what the option changes
    assert seen["mmapped"] >= SIZE
    assert seen["kept_free"] < SIZE


def test_the_trainer_retains_freed_memory_by_default() -> None:
    assert TrainConfig().retain_freed_memory is True
