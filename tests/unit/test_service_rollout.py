"""Rolling a bundle out with no downtime and A/B of two bundles (issue 14 items 3 and 4), through
TestClient on the suite's Redis: the swap, what a bad bundle answers, replicas following the
record, a replica started later, the users' split, hits credited to the arm that served."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, hashed_client, service_settings, write_bundle

from bundle.reader import load_bundle
from models.projection import project_features as project
from service.settings import Settings
from service.variants import bucket

KEY = "rollout-write-key"
AUTH = {"X-API-Key": KEY}
DEADLINE_S = 30  # liveness only


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("v1") / "bundle")


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """A retrained bundle of the same dataset: another seed and another embedding dim."""
    return write_bundle(tmp_path_factory.mktemp("v2") / "bundle", seed=1, dim=6, fit_steps=80)


@pytest.fixture()
def settings(v1: TinyBundle, redis_url_or_none: str | None, tmp_path: Path) -> Settings:
    return service_settings(v1.path.parent, redis_url_or_none, tmp_path, api_keys=KEY)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    with hashed_client(settings) as c:
        yield c


def _digest(tb: TinyBundle) -> str:
    return load_bundle(tb.path).digest


def _state(c: TestClient) -> dict:
    r = c.get("/admin/bundle")
    assert r.status_code == 200, r.text
    return r.json()


def _recs(c: TestClient, user: str, k: int = 5) -> tuple[list[str], str]:
    r = c.get(f"/users/{user}/recommendations", params={"k": k})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]], r.headers["X-Coldrec-Variant"]


def _metrics(c: TestClient) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in c.get("/metrics").text.splitlines()
        if line.startswith("coldrec_")
    }


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_swap_serves_the_new_bundle_with_the_registered_items(
    client: TestClient, settings: Settings, v1: TinyBundle, v2: TinyBundle
) -> None:
    assert _state(client)["active"]["digest"] == _digest(v1)
    assert _state(client)["candidate"] is None
    client.post("/items", json={"id": "kept", "features": v1.item_features(0)}, headers=AUTH)
    client.post("/interactions", json={"user_id": "u0", "item_id": "i2"}, headers=AUTH)
    assert client.post("/admin/bundle", json={"path": str(v2.path.parent)}).status_code == 401

    r = client.post("/admin/bundle", json={"path": str(v2.path.parent)}, headers=AUTH)
    assert r.status_code == 200, r.text
    active = r.json()["active"]
    assert active == {
        "path": str(v2.path.resolve()),
        "digest": _digest(v2),
        "model": "lightgcn",
        "dataset": "checkerboard",
        "created_at": "2026-11-26T23:59:00+00:00",
        "dim": 6,
    }
    engine = client.app.state.engine  # the swap moved the app's engine too
    assert engine.bundle.digest == _digest(v2) and engine.catalogue.sizes() == {
        "warm": 16,
        "cold": 1,
    }
    got = engine.catalogue.vectors([engine.item_ids.index("kept")])  # re-projected by v2
    feats = {k: np.asarray([v], np.float32) for k, v in v1.item_features(0).items()}
    assert np.allclose(got, project(engine.bundle.projector, feats), atol=1e-5)
    [kept] = engine.store.iter_registered(["kept"], _digest(v2))  # once per bundle: cached
    assert kept.embedding is not None and np.allclose(kept.embedding, got[0], atol=1e-6)
    items, variant = _recs(client, "u0", k=16)
    assert variant == "control" and "i2" not in items  # the seen set carried over
    assert (
        _metrics(client)[
            f'coldrec_bundle_info{{digest="{_digest(v2)}",model="lightgcn",variant="control"}}'
        ]
        == 1
    )


@pytest.mark.parametrize("case", ["missing", "dataset", "modalities", "altered", "nul"])
def test_a_bad_bundle_is_a_problem_and_the_old_one_keeps_serving(
    client: TestClient, v1: TinyBundle, v2: TinyBundle, tmp_path: Path, case: str
) -> None:
    if case == "missing":
        path, reason = str(tmp_path / "nowhere"), "no manifest.json"
    elif case == "dataset":
        path = str(write_bundle(tmp_path / "b", dataset="other", fit_steps=5).path)
        reason = "dataset 'other'"
    elif case == "modalities":
        path = str(write_bundle(tmp_path / "b", modal_dims={"text": 16}, fit_steps=5).path)
        reason = "modalities"
    elif case == "altered":
        path = str(tmp_path / "b")
        shutil.copytree(v2.path, path)  # (a copy of the serving one is that bundle: reused)
        users = np.load(Path(path) / "users.npy")
        np.save(Path(path) / "users.npy", users + 1.0)
        reason = "users.npy was altered"
    else:
        path, reason = "bad\x00path", "no manifest.json"
    before, _ = _recs(client, "u1")
    r = client.post("/admin/bundle", json={"path": path}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "/problems/bundle-refused" and reason in r.json()["detail"]
    assert _state(client)["active"]["digest"] == _digest(v1)
    assert _recs(client, "u1") == (before, "control")
    assert _metrics(client)['coldrec_bundle_loads_total{result="refused"}'] == 1


def test_replicas_follow_and_a_replica_started_later_serves_the_new_bundle(
    settings: Settings, v1: TinyBundle, v2: TinyBundle
) -> None:
    with (
        hashed_client(settings) as a,
        hashed_client(settings) as b,
    ):
        a.post("/items", json={"id": "n1", "features": v1.item_features(1)}, headers=AUTH)
        assert a.post("/admin/bundle", json={"path": str(v2.path)}, headers=AUTH).status_code == 200
        _wait(lambda: _state(b)["active"]["digest"] == _digest(v2), "B never switched")
        assert b.app.state.engine.catalogue.sizes() == {"warm": 16, "cold": 1}
        b.post("/items", json={"id": "n2", "features": v1.item_features(0)}, headers=AUTH)
        _wait(lambda: a.get("/items/n2").status_code == 200, "A never got B's item")
    # COLDREC_BUNDLE still names v1: the recorded rollout wins
    with hashed_client(settings) as c:
        assert _state(c)["active"]["digest"] == _digest(v2)
        assert c.app.state.engine.catalogue.sizes() == {"warm": 16, "cold": 2}


def test_a_retrained_item_keeps_the_bundles_embedding(
    client: TestClient, v1: TinyBundle, tmp_path: Path
) -> None:
    """An item registered online, then trained into a bundle made after it: warm there."""
    client.post("/items", json={"id": "i3", "features": v1.item_features(0)}, headers=AUTH)
    assert client.get("/items/i3").json()["kind"] == "cold"
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    retrained = write_bundle(tmp_path / "v3" / "bundle", seed=2, fit_steps=5, created_at=later)
    r = client.post("/admin/bundle", json={"path": str(retrained.path)}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert client.get("/items/i3").json()["kind"] == "warm"


def test_ab_split_is_stable_near_the_share_and_credits_the_arm_that_served(
    settings: Settings, v1: TinyBundle, v2: TinyBundle
) -> None:
    with (
        hashed_client(settings) as a,
        hashed_client(settings) as b,
    ):
        body = {"path": str(v2.path), "share": 0.3}
        r = a.post("/admin/bundle", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        assert (
            r.json()["candidate"]["digest"] == _digest(v2) and r.json()["candidate"]["share"] == 0.3
        )
        _wait(lambda: (_state(b)["candidate"] or {}).get("digest") == _digest(v2), "B no A/B")
        users = [f"shopper-{n}" for n in range(400)]
        arms = {u: a.app.state.rollout.engine_for(u).variant for u in users}
        assert abs(sum(v == "candidate" for v in arms.values()) / len(users) - 0.3) < 0.06
        for u in users[:40]:  # the same arm on every request and on either replica
            assert _recs(a, u)[1] == _recs(b, u)[1] == arms[u]
        salt = _digest(v2)
        assert all((bucket(u, salt) < 0.3) == (arms[u] == "candidate") for u in users)

        # a registration reaches both arms of the replica that took it, at once
        a.post("/items", json={"id": "ab-new", "features": v1.item_features(0)}, headers=AUTH)
        cand_user = next(u for u in users if arms[u] == "candidate")
        ctrl_user = next(u for u in users if arms[u] == "control")
        for user in (cand_user, ctrl_user):
            r = a.get(f"/users/{user}/recommendations", params={"k": 20, "pool": "cold"})
            assert "ab-new" in [i["item_id"] for i in r.json()["items"]]

        before = _metrics(a)
        shown = {u: _recs(a, u, k=3)[0] for u in (cand_user, ctrl_user)}
        pairs = [{"user_id": u, "item_id": items[0]} for u, items in shown.items()]
        r = a.post("/interactions", json={"interactions": pairs}, headers=AUTH)
        assert r.json()["hits"] == 2
        after = _metrics(a)
        for arm in ("control", "candidate"):
            rec = sum(
                after[f'coldrec_recommended_items_total{{kind="{k}",variant="{arm}"}}']
                - before[f'coldrec_recommended_items_total{{kind="{k}",variant="{arm}"}}']
                for k in ("warm", "cold")
            )
            hits = sum(
                after[f'coldrec_hits_total{{kind="{k}",variant="{arm}"}}']
                - before[f'coldrec_hits_total{{kind="{k}",variant="{arm}"}}']
                for k in ("warm", "cold")
            )
            assert (rec, hits) == (3, 1), arm

        # promote: one call, every replica; then no candidate to promote
        r = b.post("/admin/bundle/promote", headers=AUTH)
        assert r.status_code == 200 and r.json()["candidate"] is None
        assert r.json()["active"]["digest"] == _digest(v2)
        _wait(lambda: _state(a)["active"]["digest"] == _digest(v2), "A never promoted")
        assert _state(a)["candidate"] is None
        r = a.post("/admin/bundle/promote", headers=AUTH)
        assert r.status_code == 409 and r.json()["type"] == "/problems/rollout-conflict"
        assert _recs(a, cand_user)[1] == "control"


def test_dropping_the_candidate_ends_the_ab(
    client: TestClient, v1: TinyBundle, v2: TinyBundle
) -> None:
    r = client.post("/admin/bundle", json={"path": str(v2.path), "share": 1.0}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert _recs(client, "u0")[1] == "candidate"
    r = client.post("/admin/bundle", json={"path": str(v1.path), "share": 0.5}, headers=AUTH)
    assert r.status_code == 409  # the active bundle cannot be its own candidate
    r = client.delete("/admin/bundle/candidate", headers=AUTH)
    assert r.status_code == 200 and r.json()["candidate"] is None
    assert r.json()["active"]["digest"] == _digest(v1)
    assert _recs(client, "u0")[1] == "control"
    assert client.delete("/admin/bundle/candidate", headers=AUTH).status_code == 200
    for share in (-0.1, 1.5):
        r = client.post("/admin/bundle", json={"path": str(v2.path), "share": share}, headers=AUTH)
        assert r.status_code == 422 and r.json()["type"] == "/problems/validation-error"
