"""Plain-input test helpers: small interactions/items tables written as CSV, a fake MiniLM."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from training.data.dataset import Dataset
from training.data.synthetic import synthetic_dataset

ITEMS = {
    "item_id": ["A", "B", "C", "D"],
    "title": ["Red lipstick", "Hand cream", "Garden hose", "Blue scarf"],
    "description": ["long lasting", None, "green, 20 m", "wool"],
    "price": ["9.5", "3", "10", "12"],
}
INTERACTIONS = {
    "user_id": ["u1", "u1", "u2", "u2", "u3"],
    "item_id": ["A", "B", "A", "C", "B"],
    "timestamp": ["1700000000", "2024-01-05T10:00:00Z", "1700000100", "2023-11-14", "5"],
    "event": ["view", "buy", "view", "click", "view"],
    "weight": ["1", "2.5", None, "1", "1"],
}


class FakeEncoder:
    """Stands in for MiniLM: a deterministic 8-d vector per text, no model load."""

    name = "fake-minilm"
    dim = 8
    texts: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        FakeEncoder.texts = list(texts)
        return np.stack([fake_vec(t) for t in texts]) if texts else np.zeros((0, 8), np.float32)


def fake_vec(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(8).astype(np.float32)


@pytest.fixture(autouse=True)
def fake_minilm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("training.data.text.TextEncoder", FakeEncoder)
    monkeypatch.setenv("COLDREC_CACHE_DIR", str(tmp_path / "cache"))


def write_csv(path: Path, columns: dict[str, list[str | None]]) -> None:
    rows = [",".join(columns)]
    for values in zip(*columns.values(), strict=True):
        rows.append(",".join(_cell(v) for v in values))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    return f'"{value}"' if "," in value else value


def write_plain(d: Path, inter: dict | None = None, items: dict | None = None) -> Path:
    write_csv(d / "interactions.csv", INTERACTIONS if inter is None else inter)
    write_csv(d / "items.csv", ITEMS if items is None else items)
    return d


def with_row(table: dict, **cells: str | None) -> dict:
    """`table` plus one row (missing cells empty)."""
    return {c: [*vs, cells.get(c)] for c, vs in table.items()}


N_SEEN = 240  # items interactions may name; the last N_UNSEEN are in items.csv only
N_UNSEEN = 12


def write_catalogue_shop(d: Path) -> Dataset:
    """A shop of generated items, some of which (at least the last N_UNSEEN) no interaction
    names, as interactions.csv, items.csv (ids only) and items.<modality>.npy; returns the
    dataset it was written from."""
    full = synthetic_dataset(
        n_users=200, n_items=N_SEEN + N_UNSEEN, modalities={"image": 16, "tags": 24}, seed=3
    )
    keep = full.items < N_SEEN
    ds = replace(full, users=full.users[keep], items=full.items[keep], order=full.order[keep])
    d.mkdir(parents=True, exist_ok=True)
    with (d / "interactions.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "item_id", "timestamp"])
        for u, i, t in zip(ds.users, ds.items, ds.order, strict=True):
            w.writerow([ds.user_ids.external(u), ds.item_ids.external(i), int(t)])
    (d / "items.csv").write_text("item_id\n" + "\n".join(ds.item_ids.ids) + "\n")
    for name, feats in ds.modalities.items():
        np.save(d / f"items.{name}.npy", feats)
    return ds


def unseen_ids(ds: Dataset) -> set[str]:
    """External ids of the items no interaction names."""
    return set(ds.item_ids.externals(np.setdiff1d(np.arange(ds.n_items), ds.items)))
