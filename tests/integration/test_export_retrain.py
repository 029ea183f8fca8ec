"""Close the loop (issue 14 items 1-2): train `--deploy`, serve, register items by text, post
interactions on them, `coldrec export` (while the service holds its embedded Redis), retrain
`--deploy` on the export: the items that got interactions are trained rows of the new bundle
(not in projected.npy) and a fresh service serves them `kind: warm`.

Real `coldrec train` and `coldrec export` processes on a small `synthetic:words` shop; the
service in process (`create_app`, MiniLM for the raw text, the embedded Redis beside the run).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from loop_steps import NEW, TAKEN, coldrec, purchases, train_deploy

from bundle.reader import load_bundle
from service.main import create_app
from service.settings import Settings

SPEC = "synthetic:words,n_users=200,n_items=240,seed=1"


def test_items_registered_and_taken_online_are_warm_after_export_and_retrain(
    tmp_path: Path,
) -> None:
    pytest.importorskip("sentence_transformers")
    env = {"COLDREC_CACHE_DIR": str(tmp_path / "cache")}
    run1, export, run2 = tmp_path / "run1", tmp_path / "export", tmp_path / "run2"
    train_deploy(SPEC, run1, env)

    with TestClient(create_app(Settings(bundle=run1))) as client:  # state: run1/state/redis.db
        items = [{"id": i, "text": t} for i, t in NEW.items()]
        assert client.post("/items", json={"items": items}).status_code == 201
        assert client.post("/interactions", json={"interactions": purchases()}).status_code == 201
        assert client.delete("/items/i5").status_code == 204
        assert client.get("/items/sourdough-kit").json()["kind"] == "cold"
        # exported while the service holds its embedded Redis: read through its socket
        summary = json.loads(coldrec(["export", "--bundle", str(run1), "--out", str(export),
                                      "--quiet"], env))  # fmt: skip
        assert client.get("/readyz").status_code == 200  # the export left its Redis running
    assert summary["items"] == {"data": 239, "registered": 3}
    assert summary["interactions"]["online"] == 40

    train_deploy(str(export), run2, env)
    old, new = load_bundle(run1), load_bundle(run2)
    assert new.manifest.dataset == old.manifest.dataset  # the live state stays this run's
    projected = set(new.item_ids.externals(new.projected))
    for item_id in TAKEN:
        assert item_id in new.item_ids and item_id not in projected  # trained rows
    assert projected == {"quiet-item"} and "i5" not in new.item_ids
    taker = new.user_ids.index("u1")
    assert new.item_ids.index("sourdough-kit") in set(new.seen(taker).tolist())

    with TestClient(create_app(Settings(bundle=run2))) as client:
        for item_id in TAKEN:
            view = client.get(f"/items/{item_id}").json()
            assert view["kind"] == "warm" and view["source"] == "bundle", view
        assert client.get("/items/quiet-item").json()["kind"] == "cold"
        recs = client.get("/users/u2/recommendations", params={"k": 5, "pool": "all"}).json()
        assert "arcade-stick" not in [r["item_id"] for r in recs["items"]]  # u2 has it: seen
    assert np.isfinite(new.items).all()
