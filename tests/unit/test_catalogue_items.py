"""Items of a plain catalogue that no interaction names, in a run without --deploy: never cold,
never trained, projected into the run's embeddings and bundle (flagged), served in pool=cold;
in evaluation only candidates of the all-items pool. A run without them writes format 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from plain_files import write_catalogue_shop
from service_bundle import service_settings
from tiny_config import tiny_config

from bundle.reader import load_bundle
from models.projection import project_features as project
from service.main import create_app
from training.data.dataset import Dataset
from training.data.resolve import resolve_data
from training.data.synthetic import synthetic_dataset
from training.evaluation.ranking import evaluate_tracks
from training.export import write_run
from training.fitting.trainer import TrainResult, train


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    d = tmp_path_factory.mktemp("shop")
    write_catalogue_shop(d)
    return resolve_data(str(d))  # read back as plain input


@pytest.fixture(scope="module")
def run(shop: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Path]:
    torch.set_num_threads(1)
    result = train(shop, "lightgcn", tiny_config(train__threads=1), progress=False)
    out = tmp_path_factory.mktemp("run")
    write_run(out, shop, result, tiny_config(), "shop")
    return result, out


def _catalogue(ds: Dataset) -> np.ndarray:
    return np.setdiff1d(np.arange(ds.n_items), ds.items)


def test_they_are_neither_cold_nor_trained(shop: Dataset, run: tuple) -> None:
    result, _ = run
    catalogue = _catalogue(shop)
    assert np.array_equal(result.split.catalogue_items, catalogue) and len(catalogue) >= 12
    assert not np.isin(result.split.cold_items(), catalogue).any()
    assert not np.isin(result.view.warm_items, catalogue).any()
    assert (result.view.row_of_item[catalogue] == -1).all()
    assert result.model.n_items == len(result.view.warm_items)
    assert result.metrics["catalogue_only_items"] == len(catalogue)


def test_their_embeddings_are_projected(shop: Dataset, run: tuple) -> None:
    result, out = run
    catalogue = result.split.catalogue_items
    bundle = load_bundle(out)
    assert bundle.projector is not None
    feats = {name: f[catalogue] for name, f in shop.modalities.items()}
    projected = project(bundle.projector, feats)
    np.testing.assert_allclose(result.item_emb[catalogue], projected, atol=1e-5)


def test_evaluation_ranks_them_only_in_the_all_items_pool(shop: Dataset, run: tuple) -> None:
    result, _ = run
    catalogue = result.split.catalogue_items
    loud = result.item_emb.copy()  # catalogue items on top of every user's list
    loud[catalogue] = 100.0 * result.user_emb.mean(axis=0)
    before = evaluate_tracks(result.user_emb, result.item_emb, shop, result.split)
    after = evaluate_tracks(result.user_emb, loud, shop, result.split)
    assert after["warm"] == before["warm"] and after["cold_only"] == before["cold_only"]
    assert after["cold_all"]["n_users"] == before["cold_all"]["n_users"]  # no truth of theirs
    assert after["cold_all"]["recall@10"] < before["cold_all"]["recall@10"]


def test_the_bundle_holds_them_projected_and_the_service_serves_them_cold(
    shop: Dataset, run: tuple, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    result, out = run
    catalogue = set(shop.item_ids.externals(result.split.catalogue_items))
    bundle = load_bundle(out)
    assert bundle.manifest.format_version == 3
    assert set(bundle.item_ids.externals(bundle.projected)) == catalogue
    held_out = set(shop.item_ids.externals(result.split.cold_items()))
    assert not held_out & set(bundle.item_ids.ids)  # registered by the service, as ever
    assert len(bundle.item_ids.ids) == len(result.view.warm_items) + len(catalogue)
    settings = service_settings(out, redis_url_or_none, tmp_path)
    with TestClient(create_app(settings)) as client:
        user = shop.user_ids.external(0)
        r = client.get(f"/users/{user}/recommendations", params={"k": 50, "pool": "cold"})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert {i["item_id"] for i in items} == catalogue and all(i["cold"] for i in items)
        got = client.get(f"/items/{items[0]['item_id']}").json()
        assert (got["kind"], got["source"]) == ("cold", "bundle")


def test_a_run_without_them_writes_format_2(tmp_path: Path) -> None:
    ds = synthetic_dataset(n_users=120, n_items=60, seed=0)
    assert ds.n_items_without_interactions == 0
    torch.set_num_threads(1)
    result = train(ds, "lightgcn", tiny_config(train__epochs=2), progress=False)
    assert result.split.catalogue_items.size == 0 and "catalogue_only_items" not in result.metrics
    write_run(tmp_path, ds, result, tiny_config(), "synthetic")
    bundle = load_bundle(tmp_path)
    assert bundle.manifest.format_version == 2 and len(bundle.projected) == 0
    assert not (tmp_path / "bundle" / "projected.npy").exists()
    assert np.array_equal(bundle.items, result.item_emb[result.view.warm_items])
