"""Splits: cold items never reach training; warm interactions split by order 8:1:1."""

import numpy as np
import pytest

from models.idmap import IdMap
from training.data.dataset import Dataset
from training.protocol.splits import Part, Split, split_cold_warm


def make_dataset(n_users: int = 40, n_items: int = 60, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 30, n_users)
    users = np.repeat(np.arange(n_users), counts)
    items = rng.integers(0, n_items, len(users))
    order = rng.permutation(len(users))  # arbitrary, not sorted within users
    return Dataset(
        "toy", IdMap(map(str, range(n_users))), IdMap(map(str, range(n_items))), users, items, order
    )


def test_no_interaction_of_a_cold_item_reaches_training() -> None:
    ds = make_dataset()
    split = split_cold_warm(ds, cold_fraction=0.2, seed=3)
    cold = split.cold_items()
    assert len(cold) == 12
    train_items = ds.items[split.part == Part.TRAIN]
    assert not np.isin(train_items, cold).any()
    assert not np.isin(ds.items[np.isin(split.part, [Part.VALID, Part.TEST])], cold).any()
    # every interaction of a cold item is held out, in the cold part of its own half
    assert (split.part[np.isin(ds.items, split.cold_valid_items)] == Part.COLD_VALID).all()
    assert (split.part[np.isin(ds.items, split.cold_test_items)] == Part.COLD_TEST).all()
    assert np.intersect1d(split.cold_valid_items, split.cold_test_items).size == 0
    assert abs(len(split.cold_valid_items) - len(split.cold_test_items)) <= 1


def test_warm_split_follows_order_per_user() -> None:
    ds = make_dataset()
    split = split_cold_warm(ds, cold_fraction=0.0, seed=1)
    assert split.cold_items().size == 0
    for user in range(ds.n_users):
        mine = ds.users == user
        parts = split.part[mine][np.argsort(ds.order[mine])]
        n = len(parts)
        # train first, then validation, then test
        assert (np.diff(parts) >= 0).all()
        if n >= 10:
            assert (parts == Part.TEST).sum() == round(n * 0.1)
            assert (parts == Part.VALID).sum() == round(n * 0.1)
        elif n >= 3:
            assert (parts == Part.TEST).sum() == 1 and (parts == Part.VALID).sum() == 1
        else:
            assert (parts == Part.TRAIN).all()


def test_split_is_seeded_and_round_trips(tmp_path) -> None:
    ds = make_dataset()
    a = split_cold_warm(ds, 0.2, seed=7)
    b = split_cold_warm(ds, 0.2, seed=7)
    c = split_cold_warm(ds, 0.2, seed=8)
    assert np.array_equal(a.part, b.part)
    assert not np.array_equal(a.cold_test_items, c.cold_test_items)
    a.save(str(tmp_path / "split.npz"))
    loaded = Split.load(str(tmp_path / "split.npz"))
    assert np.array_equal(loaded.part, a.part)
    assert np.array_equal(loaded.cold_valid_items, a.cold_valid_items)
    assert loaded.seed == 7 and loaded.cold_fraction == 0.2


def test_matrix_holds_exactly_the_requested_parts() -> None:
    ds = make_dataset()
    split = split_cold_warm(ds, 0.2, seed=0)
    train = split.matrix(ds, Part.TRAIN)
    assert train.shape == (ds.n_users, ds.n_items)
    mask = split.part == Part.TRAIN
    assert train.nnz == len(set(zip(ds.users[mask], ds.items[mask], strict=True)))
    assert set(np.unique(train.data)) == {1.0}


def test_bad_fraction_is_refused() -> None:
    with pytest.raises(ValueError):
        split_cold_warm(make_dataset(), cold_fraction=1.0)


def test_shipped_split_keeps_the_sources_parts() -> None:
    from dataclasses import replace

    from training.protocol.splits import shipped_split

    ds = make_dataset()
    with pytest.raises(ValueError, match="ships no split"):
        shipped_split(ds)
    labels = np.random.default_rng(0).integers(0, 3, ds.n_interactions).astype(np.int8)
    split = shipped_split(replace(ds, shipped_part=labels))
    assert np.array_equal(split.part, labels)
    assert split.cold_items().size == 0
