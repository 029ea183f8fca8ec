"""The torch devices a contract test runs on: the CPU always, CUDA (marked `gpu`) where torch sees
it; shared by the model and search-backend contract tests."""

from __future__ import annotations

import pytest
import torch

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA"),
        ],
    ),
]
