"""The content-only baseline: its definition (against a dense brute force), its content source,
and that it beats a random ranking where the features carry the users' tastes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from tiny_data import random_histories

from training.data.dataset import Dataset
from training.data.synthetic import checkerboard_dataset, synthetic_dataset
from training.evaluation.content_baseline import (
    content_baseline,
    content_source,
    content_tracks,
    item_vectors,
    main,
)
from training.evaluation.ranking import random_tracks
from training.protocol.splits import Part, Split, split_cold_warm

KS = (1, 5, 10)


def _tiny(modalities: dict[str, np.ndarray] | None = None, seed: int = 0) -> Dataset:
    """40 users x 30 items with random histories (some sparse, some active) and features."""
    rng = np.random.default_rng(seed)
    ds = random_histories(rng)
    if modalities is None:  # drawn after the histories
        modalities = {
            "text": rng.standard_normal((ds.n_items, 6)).astype(np.float32),
            "image": 50 * rng.standard_normal((ds.n_items, 4)).astype(np.float32),
        }
    return replace(ds, modalities=modalities)


def _brute_force(ds: Dataset, split: Split, phase: str) -> dict[str, dict[str, float]]:
    """The baseline written out densely, user by user, with no code of the module under test."""
    feats = ds.modalities["text"].astype(np.float64)
    items = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    train = split.matrix(ds, Part.TRAIN).toarray() > 0
    warm_truth = split.matrix(ds, Part.TEST if phase == "test" else Part.VALID).toarray() > 0
    cold_truth = split.matrix(ds, Part.COLD_TEST if phase == "test" else Part.COLD_VALID)
    cold_items = split.cold_test_items if phase == "test" else split.cold_valid_items
    warm = np.zeros(ds.n_items, dtype=bool)
    warm[split.warm_items(ds.n_items)] = True
    cold = np.zeros(ds.n_items, dtype=bool)
    cold[cold_items] = True
    n_train = train.sum(axis=1)
    scores = np.zeros((ds.n_users, ds.n_items))
    for u in range(ds.n_users):
        if n_train[u]:
            mean = items[train[u]].mean(axis=0)
            scores[u] = items @ (mean / np.linalg.norm(mean))  # cosine: both unit vectors

    def track(truth: np.ndarray, pool: np.ndarray, who: np.ndarray) -> dict[str, float]:
        rows = []
        for u in np.flatnonzero(who):
            t = truth[u] & pool
            if not t.any():
                continue
            cand = np.flatnonzero(pool & ~train[u])
            ranked = cand[np.argsort(-scores[u, cand], kind="stable")]
            row = []
            for k in KS:
                hits = t[ranked[:k]]
                row.append(hits.sum() / t.sum())
            for k in KS:
                hits = t[ranked[:k]]
                dcg = sum(1 / math.log2(r + 2) for r in np.flatnonzero(hits))
                idcg = sum(1 / math.log2(r + 2) for r in range(min(int(t.sum()), k)))
                row.append(dcg / idcg)
            rows.append(row)
        names = [f"recall@{k}" for k in KS] + [f"ndcg@{k}" for k in KS]
        out = dict(zip(names, np.mean(rows, axis=0), strict=True))
        out["n_users"] = len(rows)
        return out

    trained = n_train > 0
    everything = np.ones(ds.n_items, dtype=bool)
    return {
        "warm": track(warm_truth, warm, trained),
        "sparse": track(warm_truth, warm, trained & (n_train <= 5)),
        "active": track(warm_truth, warm, n_train >= 20),
        "cold_only": track(cold_truth.toarray() > 0, cold, trained),
        "cold_all": track(cold_truth.toarray() > 0, everything, trained),
    }


@pytest.mark.parametrize("phase", ["test", "valid"])
def test_equals_a_dense_brute_force(phase: str) -> None:
    ds = _tiny()
    split = split_cold_warm(ds, cold_fraction=0.2, seed=0)
    got = content_tracks(ds, split, phase, ks=KS)
    want = _brute_force(ds, split, phase)
    assert set(got) == set(want) == {"warm", "sparse", "active", "cold_only", "cold_all"}
    for name in want:
        assert got[name]["n_users"] == want[name]["n_users"] > 0
        assert got[name] == pytest.approx(want[name], abs=1e-6), name


def test_text_is_the_content_when_present_else_every_modality() -> None:
    ds = _tiny()
    assert content_source(ds) == ["text"]
    text = ds.modalities["text"]
    want = text / np.linalg.norm(text, axis=1, keepdims=True)
    np.testing.assert_allclose(item_vectors(ds), want, rtol=1e-5)

    # No text: image and audio, each normalised first, so the loud modality does not dominate.
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((ds.n_items, 3)).astype(np.float32)
    image = ds.modalities["image"]  # 50x louder
    no_text = _tiny({"image": image, "audio": audio})
    assert content_source(no_text) == ["audio", "image"]
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (audio, image)]
    np.testing.assert_allclose(
        item_vectors(no_text), np.concatenate(unit, axis=1) / math.sqrt(2), rtol=1e-5
    )


def test_zero_features_and_no_features() -> None:
    feats = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    feats[3] = 0.0
    ds = _tiny({"text": feats})
    vecs = item_vectors(ds)
    assert np.isfinite(vecs).all() and not vecs[3].any()
    split = split_cold_warm(ds, cold_fraction=0.2, seed=0)
    assert all(np.isfinite(v["recall@10"]) for v in content_tracks(ds, split).values())
    bare = _tiny({})
    assert content_baseline(bare, split_cold_warm(bare, cold_fraction=0.2, seed=0)) == {}
    with pytest.raises(ValueError, match="no item features"):
        content_source(bare)


def test_beats_random_where_features_carry_the_taste() -> None:
    ds = synthetic_dataset(n_users=300, n_items=400, seed=1)
    split = split_cold_warm(ds, cold_fraction=0.2, seed=0)
    got = content_baseline(ds, split)
    assert got["source"] == ["text"] and set(got) == {"source", "test", "valid"}
    rnd = random_tracks(ds, split, "test")
    for name in ("warm", "cold_only", "cold_all"):  # NDCG@10: the cold-only pool is ~40 items
        assert got["test"][name]["ndcg@10"] > 2 * rnd[name]["ndcg@10"], name
        assert got["test"][name]["n_users"] == rnd[name]["n_users"]

    # Checkerboard: users consume one parity, the features' first columns are the parity.
    board = checkerboard_dataset(n_users=40, n_items=60)
    board_split = split_cold_warm(board, cold_fraction=0.2, seed=0)
    tracks = content_tracks(board, board_split, ks=(3,))  # 6 cold test items: 4 even, 2 odd
    rnd = random_tracks(board, board_split, ks=(3,))
    assert tracks["cold_only"]["ndcg@3"] == pytest.approx(1.0)  # the user's parity first
    assert rnd["cold_only"]["ndcg@3"] < 0.7
    assert tracks["cold_all"]["ndcg@3"] > rnd["cold_all"]["ndcg@3"] + 0.3


def test_the_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["--data", "synthetic:n_users=120,n_items=150,seed=2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cold_fraction"] == 0.2 and out["split"]["seed"] == 0
    assert out["source"] == ["text"]
    assert out["test"]["cold_only"]["recall@20"] > 0
