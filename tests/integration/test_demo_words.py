"""The demo's promise: train on generated items with words (`synthetic:words`), serve the run,
register a new item by raw text about one theme, and it is in the `pool=cold` top-20 of the users
of that taste, ranked higher for each of them than for any user of an unrelated taste.

Real `coldrec train` (a small words dataset, LightGCN) and a real `coldrec serve`; MiniLM
encodes the training texts (into a cache of this test) and the raw text of `POST /items`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, ServiceProcess, coldrec_command, start_service

from training.data.synthetic_words import item_text, words_data

N_USERS, N_ITEMS, SEED = 500, 600, 0
SPEC = f"synthetic:words,n_users={N_USERS},n_items={N_ITEMS},seed={SEED}"
THEME, OTHER = "baking", "video games"
K = 20


def _train(run: Path, cache: Path) -> None:
    cmd = [
        *coldrec_command(),
        "train",
        "--data",
        SPEC,
        "--model",
        "lightgcn",
        "--out",
        str(run),
        "--epochs",
        "15",
        "--set",
        "model.dim=32",
        "--set",
        "train.projector_epochs=15",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLDREC_CACHE_DIR": str(cache)}
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def _cold_ranks(svc: ServiceProcess, users: list[str], item_id: str, pool: int) -> list[int]:
    """Where `item_id` stands in each user's full `pool=cold` list (0 = first)."""
    ranks = []
    for uid in users:
        r = svc.http.get(f"/users/{uid}/recommendations", params={"k": pool, "pool": "cold"})
        assert r.status_code == 200 and r.json()["source"] == "user", r.text
        ids = [x["item_id"] for x in r.json()["items"]]
        assert len(ids) == pool
        ranks.append(ids.index(item_id))
    return ranks


def test_a_raw_text_item_reaches_the_users_of_its_theme(
    redis_url: str, services: list[ServiceProcess], tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    run, cache = tmp_path / "run", tmp_path / "cache"
    _train(run, cache)
    # The same data (its texts hit the cache), for the tastes the generator drew.
    words = words_data(n_users=N_USERS, n_items=N_ITEMS, seed=SEED, cache_dir=cache)
    data = words.dataset
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "words"}
    svc = start_service(services, run, env, tmp_path / "serve.log")

    # The cold test items (never trained on, ~12 per theme) fill the pool, registered by features.
    held_out = np.load(run / "split.npz")["cold_test_items"]
    items = [
        {"id": data.item_ids.external(int(i)), "features": {"text": feats.tolist()}}
        for i, feats in zip(held_out, data.modalities["text"][held_out], strict=True)
    ]
    assert svc.http.post("/items", json={"items": items}).status_code == 201

    # A new item in words only, as a newcomer would register it.
    text = item_text(THEME, np.random.default_rng(7))
    r = svc.http.post("/items", json={"id": "new-baking-item", "text": text})
    assert r.status_code == 201, r.text
    got = r.json()["items"][0]
    assert got["cold"] and got["source"] == "text" and got["modalities"] == ["text"]

    pool = len(held_out) + 1
    fans = words.users_of(THEME, min_share=1.0)[:8]
    others = words.users_of(OTHER, min_share=1.0)[:8]
    assert fans and others
    fan_ranks = _cold_ranks(svc, fans, "new-baking-item", pool)
    other_ranks = _cold_ranks(svc, others, "new-baking-item", pool)
    print(f"{text!r}: ranks for {THEME} users {fan_ranks}, for {OTHER} users {other_ranks}")
    assert all(rank < K for rank in fan_ranks), fan_ranks  # in every fan's top-20
    assert max(fan_ranks) < min(other_ranks), (fan_ranks, other_ranks)  # higher for each fan
    assert np.median(other_ranks) >= K, other_ranks  # out of a typical gamer's top-20
