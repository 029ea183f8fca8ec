"""The content floor (issue 13): its score, its choice on validation, the bundle's content.npy and
the service's floor state, each against a hand-written or dense reference."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from service_bundle import write_bundle

from bundle.format import BundleError
from bundle.reader import load_bundle
from models.content_floor import (
    FloorConfig,
    content_vectors,
    item_rows,
    normalise,
    profile,
    profiles,
    user_rows,
)
from service.floor import ContentFloor, record_content
from training.data.synthetic import synthetic_dataset
from training.evaluation.content_baseline import item_vectors, user_vectors
from training.evaluation.content_floor import select_floor
from training.protocol.splits import Part, split_cold_warm


def test_augmented_rows_score_model_plus_weighted_cosine() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.standard_normal((5, 4)), rng.standard_normal((7, 4))
    prof, content = normalise(rng.standard_normal((5, 3))), normalise(rng.standard_normal((7, 3)))
    w = 2.5
    got = user_rows(users, prof, w) @ item_rows(items, content, w).T
    assert np.allclose(got, users @ items.T + w * prof @ content.T, atol=1e-5)
    cold = np.arange(7) >= 4  # items="cold": only these carry content
    got = user_rows(users, prof, w) @ item_rows(items, content, w, cold).T
    assert np.allclose(got, users @ items.T + w * (prof @ content.T) * cold, atol=1e-5)
    one = user_rows(users[0], prof[0], w)  # a single query row, as the service asks
    assert one.shape == (7,) and np.allclose(one, user_rows(users, prof, w)[0])


def test_profile_is_the_content_baselines_user() -> None:
    rng = np.random.default_rng(1)
    content = normalise(rng.standard_normal((9, 4)))
    mask = rng.random((3, 9)) < 0.4
    mask[2] = False  # a user without items: zeros
    seen = sp.csr_matrix(mask, dtype=np.float32)
    many = profiles(seen, content)
    assert np.allclose(many, user_vectors(seen, content))
    for u in range(3):
        assert np.allclose(profile(content[seen[u].indices]), many[u], atol=1e-6)
    assert not profile(content[[]]).any()


def test_content_of_registered_items_row_by_row() -> None:
    dims = {"audio": 3, "image": 2}
    feats = [
        {"audio": np.array([3.0, 0, 4]), "image": np.array([0, 2.0])},
        {"image": np.array([1.0, 1.0])},  # no audio: zeros there, as the projector gets it
    ]
    got = record_content(feats, FloorConfig(1.0, source=("audio", "image")), dims)
    full = {"audio": np.array([[3.0, 0, 4], [0, 0, 0]]), "image": np.array([[0, 2.0], [1, 1]])}
    assert np.allclose(got, content_vectors(full, ["audio", "image"], dims))
    assert np.allclose(got[0], np.array([0.6, 0, 0.8, 0, 1]) / np.sqrt(2))
    text = record_content([{"text": np.array([0, 2.0])}], FloorConfig(1.0), {"text": 2})
    assert np.allclose(text, [[0, 1]])


def _run(useful_model: bool, useful_content: bool) -> tuple:
    """A synthetic split with a model that knows everything or nothing, and content that
    carries the item factors or is noise."""
    ds = synthetic_dataset(n_users=300, n_items=400, seed=1)  # 40 cold valid items
    rng = np.random.default_rng(2)
    if not useful_content:
        noise = {
            m: rng.standard_normal(x.shape).astype(np.float32) for m, x in ds.modalities.items()
        }
        ds = replace(ds, modalities=noise)
    split = split_cold_warm(ds, 0.2, 0)
    if useful_model:  # every interaction of every part scores 1: nothing left to gain
        users = split.matrix(ds, *Part).toarray().astype(np.float32)
        items = np.eye(ds.n_items, dtype=np.float32)
    else:
        users = rng.standard_normal((ds.n_users, 8)).astype(np.float32)
        items = rng.standard_normal((ds.n_items, 8)).astype(np.float32)
    return users, items, ds, split


def test_floor_is_kept_where_content_helps() -> None:
    users, items, ds, split = _run(useful_model=False, useful_content=True)
    sel = select_floor(users, items, ds, split, "all")
    assert sel.chosen is not None and sel.chosen.weight > 0
    sec = sel.section
    assert sec["weight"] == sel.chosen.weight and sec["source"] == ["text"]
    for track in ("cold_only", "cold_all"):
        assert sec["valid"][track]["recall@20"] > sec["without_valid"][track]
    assert sel.cold_start == sel.chosen.manifest()
    assert {"valid", "test"} <= set(sec)


def test_floor_is_off_where_it_cannot_help() -> None:
    users, items, ds, split = _run(useful_model=True, useful_content=False)
    sel = select_floor(users, items, ds, split, "all")
    assert sel.chosen is None and sel.cold_start == {"content_weight": 0.0}
    assert all(g["objective"] <= 1.0 for g in sel.section["grid"])
    assert "test" not in sel.section
    with pytest.raises(ValueError, match="content_floor"):
        select_floor(users, items, ds, split, "warm")


def test_bundle_carries_content_and_refuses_without(tmp_path: Path) -> None:
    tiny = write_bundle(tmp_path / "plain")
    assert load_bundle(tiny.path).content is None  # older bundles: no floor
    content = normalise(tiny.features["text"])
    floor = FloorConfig(0.5).manifest()
    from bundle.writer import write_bundle as write_files

    def write(out: Path, **kw: object) -> Path:
        b = load_bundle(tiny.path)
        seen = (b.seen_indptr, b.seen_indices)
        return write_files(
            out,
            users=b.users,
            items=b.items,
            user_ids=b.user_ids.ids,
            item_ids=b.item_ids.ids,
            seen=seen,
            projector=b.projector,
            model="lightgcn",
            dataset="checkerboard",
            modal_dims=b.manifest.modalities,
            **kw,
        )

    path = write(tmp_path / "floor", cold_start=floor, content=content)
    loaded = load_bundle(path)
    assert np.allclose(loaded.content, content) and loaded.manifest.cold_start == floor
    assert ContentFloor.of(loaded).index_dim == loaded.manifest.dim + content.shape[1]
    with pytest.raises(ValueError, match="needs `content`"):
        write(tmp_path / "x", cold_start=floor)
    with pytest.raises(ValueError, match="rows"):
        write(tmp_path / "y", cold_start=floor, content=content[:3])
    np.save(path / "content.npy", content * 2)
    with pytest.raises(BundleError, match="altered"):
        load_bundle(path)


def test_service_floor_rows_queries_and_learning(tmp_path: Path) -> None:
    tiny = write_bundle(tmp_path / "b")
    content = normalise(tiny.features["text"])
    floor = ContentFloor(FloorConfig(4.0, items="cold"), 8, content.copy())
    warm = floor.item_rows(np.array([0, 1]), tiny.items[:2], "warm")
    assert warm.shape == (2, 20) and not warm[:, 8:].any()  # items="cold": warm rows plain
    cold = floor.item_rows(np.array([0]), tiny.items[:1], "cold")
    assert np.allclose(cold[0, 8:], 2.0 * content[0])
    # a registered item's row (projection, content) is learnt; the model part comes back
    row = np.concatenate([np.ones(8), normalise(np.ones((1, 12)))[0]])[None, :].astype(np.float32)
    assert np.array_equal(floor.take(np.array([40]), row), row[:, :8])
    q = floor.query(np.zeros(8, np.float32), np.array([0, 40]))
    assert np.allclose(q[8:], 2.0 * profile(np.stack([content[0], row[0, 8:]])))
    off = ContentFloor(None, 8, None)
    assert off.index_dim == 8 and off.query(np.ones(8), np.array([0])).shape == (8,)
    assert np.array_equal(off.take(np.array([0]), tiny.items[:1]), tiny.items[:1])


def test_baseline_content_is_the_floors() -> None:
    ds = synthetic_dataset(n_users=20, n_items=30, seed=0)
    assert np.array_equal(item_vectors(ds), normalise(ds.modalities["text"]))
