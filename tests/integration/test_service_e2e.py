"""End to end: `coldrec train` a tiny model, `coldrec serve` it (the console script), register
the held-out cold items, see them recommended to the users their features suit, post an
interaction, read a cold hit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from conftest import REPO, ServiceProcess, coldrec_command, start_service

from training.data.resolve import resolve_data

K = 5


def _train(run: Path) -> None:
    cmd = [
        *coldrec_command(),
        "train",
        "--data",
        "synthetic",
        "--model",
        "lightgcn",
        "--out",
        str(run),
        "--epochs",
        "3",
        "--set",
        "model.dim=32",
        "--set",
        "train.projector_epochs=20",
        "--quiet",
    ]
    done = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_train_serve_register_recommend_hit(
    redis_url: str, services: list[ServiceProcess], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    _train(run)
    data = resolve_data("synthetic")
    cold = np.load(run / "split.npz")["cold_test_items"]  # dataset item indices
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "e2e"}
    svc = start_service(services, run, env, tmp_path / "serve.log")

    items = [
        {
            "id": data.item_ids.external(int(i)),
            "features": {m: f[int(i)].tolist() for m, f in data.modalities.items()},
        }
        for i in cold
    ]
    r = svc.http.post("/items", json={"items": items})
    assert r.status_code == 201 and all(x["cold"] for x in r.json()["items"])

    # Users who really interacted with a cold item: is it in their top-K "new for you" list?
    cold_set = set(cold.tolist())
    truth: dict[int, set[str]] = {}
    for u, i in zip(data.users.tolist(), data.items.tolist(), strict=True):
        if i in cold_set:
            truth.setdefault(u, set()).add(data.item_ids.external(i))
    users = sorted(truth)[:60]
    recalls, first_hit = [], None
    for u in users:
        uid = data.user_ids.external(u)
        got = svc.http.get(f"/users/{uid}/recommendations", params={"k": K, "pool": "cold"})
        assert got.status_code == 200 and got.json()["source"] == "user"
        ids = [x["item_id"] for x in got.json()["items"]]
        assert len(ids) == K
        recalls.append(len(truth[u] & set(ids)) / min(K, len(truth[u])))
        if first_hit is None and truth[u] & set(ids):
            first_hit = (uid, next(iter(truth[u] & set(ids))))
    chance = K / len(cold)
    print(f"cold recall@{K}: {np.mean(recalls):.3f} over {len(users)} users; chance {chance:.3f}")
    assert np.mean(recalls) > 1.3 * chance, (np.mean(recalls), chance)

    assert first_hit is not None
    r = svc.http.post("/interactions", json={"user_id": first_hit[0], "item_id": first_hit[1]})
    assert r.status_code == 201 and r.json()["hits"] == 1
    metrics = svc.http.get("/metrics").text
    assert 'coldrec_hits_total{kind="cold",variant="control"} 1.0' in metrics
    assert f'coldrec_index_items{{kind="cold"}} {len(cold)}.0' in metrics
