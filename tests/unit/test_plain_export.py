"""`python -m training.data.plain_export DATA OUT`: any --data source written out as plain input
reads back as the same interactions, items and (without raw text) vectors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from plain_files import FakeEncoder, fake_minilm

from training.data.plain_export import main
from training.data.readers import load_dataset
from training.data.synthetic import synthetic_dataset
from training.data.synthetic_words import words_data

__all__ = ["fake_minilm"]  # the autouse fixture: no MiniLM, a cache in tmp_path

WORDS = "synthetic:words,n_users=60,n_items=90,max_per_user=12,seed=4"


def test_the_words_shop_has_titles_iso_times_and_events(tmp_path: Path) -> None:
    assert main([WORDS, str(tmp_path / "shop")]) == 0
    with (tmp_path / "shop" / "items.csv").open() as fh:
        items = list(csv.DictReader(fh))
    gen = words_data(
        n_users=60, n_items=90, max_per_user=12, seed=4, encoder=FakeEncoder(), cache_dir=tmp_path
    )
    assert [r["item_id"] for r in items] == gen.dataset.item_ids.ids
    assert all(r["title"].endswith(".") and r["description"] for r in items)  # "Title." "Desc."
    ds = load_dataset(tmp_path / "shop")
    # the reader's join gives back the generator's exact texts (so the same MiniLM encoding)
    assert FakeEncoder.texts == list(gen.texts)
    assert ds.item_ids.ids == gen.dataset.item_ids.ids
    assert ds.n_users == gen.dataset.n_users and ds.n_interactions == gen.dataset.n_interactions
    np.testing.assert_array_equal(  # the generator's interactions, in its order
        ds.item_ids.externals(ds.items), gen.dataset.item_ids.externals(gen.dataset.items)
    )
    np.testing.assert_array_equal(
        ds.user_ids.externals(ds.users), gen.dataset.user_ids.externals(gen.dataset.users)
    )
    assert ds.events is not None and set(ds.events.tolist()) <= {"view", "click", "buy"}
    with (tmp_path / "shop" / "interactions.csv").open() as fh:
        first = next(csv.DictReader(fh))
    assert first["timestamp"] == "2024-03-01T09:00:00Z"  # u0's first
    # each user's order is kept: the same warm split as the generated dataset's
    for u in range(ds.n_users):
        mine = ds.items[ds.users == u][np.argsort(ds.order[ds.users == u], kind="stable")]
        theirs = gen.dataset.items[gen.dataset.users == u]
        assert np.array_equal(mine, theirs)
    assert ds.n_items_without_interactions == gen.dataset.n_items_without_interactions


def test_a_source_without_text_writes_its_vectors_text_renamed(tmp_path: Path) -> None:
    src = synthetic_dataset(n_users=40, n_items=30, seed=2)
    assert main(["synthetic:n_users=40,n_items=30,seed=2", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = {f"items.{'text_vec' if m == 'text' else m}.npy" for m in src.modalities}
    assert set(names) == {"interactions.csv", "items.csv", *expected}
    ds = load_dataset(tmp_path / "out")
    assert ds.item_ids.ids == src.item_ids.ids and ds.n_interactions == src.n_interactions
    for name, feats in src.modalities.items():
        np.testing.assert_array_equal(ds.modalities["text_vec" if name == "text" else name], feats)


def test_a_source_that_does_not_exist_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "nowhere" in capsys.readouterr().err
