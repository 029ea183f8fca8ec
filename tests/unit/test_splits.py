"""Splits: cold items never reach training; warm interactions split by order 8:1:1."""

from dataclasses import replace

import numpy as np
import pytest

from models.idmap import IdMap
from training.data.dataset import Dataset
from training.protocol.splits import Part, Split, _split_by_order, split_cold_warm


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


def _with_catalogue(ds: Dataset, n: int) -> Dataset:
    """`ds` whose last `n` items no interaction names (they stay in the id map)."""
    keep = ds.items < ds.n_items - n
    return replace(ds, users=ds.users[keep], items=ds.items[keep], order=ds.order[keep])


def test_catalogue_only_items_are_never_cold_nor_warm(tmp_path) -> None:
    ds = _with_catalogue(make_dataset(n_items=80), 10)
    unseen = np.setdiff1d(np.arange(ds.n_items), ds.items)
    assert len(unseen) >= 10
    for seed in range(20):
        split = split_cold_warm(ds, cold_fraction=0.2, seed=seed)
        assert np.array_equal(split.catalogue_items, unseen)
        assert not np.isin(split.cold_items(), unseen).any()
        assert len(split.cold_items()) == round(0.2 * (ds.n_items - len(unseen)))
        warm = split.warm_items(ds.n_items)
        assert len(np.intersect1d(warm, unseen)) == 0
        assert len(warm) + len(split.cold_items()) + len(unseen) == ds.n_items
    split.save(str(tmp_path / "split.npz"))
    assert np.array_equal(Split.load(str(tmp_path / "split.npz")).catalogue_items, unseen)


def test_the_cold_draw_is_unchanged_when_every_item_has_interactions() -> None:
    ds = make_dataset(n_items=50)
    assert ds.n_items_without_interactions == 0
    split = split_cold_warm(ds, cold_fraction=0.2, seed=11)
    # the draw before catalogue-only items existed: the first n_cold of one permutation
    rng = np.random.default_rng(11)
    cold = rng.permutation(ds.n_items)[:10]
    assert np.array_equal(split.cold_valid_items, np.sort(cold[:5]))
    assert np.array_equal(split.cold_test_items, np.sort(cold[5:]))
    part = np.full(ds.n_interactions, Part.TRAIN, dtype=np.int8)
    part[np.isin(ds.items, cold[:5])] = Part.COLD_VALID
    part[np.isin(ds.items, cold[5:])] = Part.COLD_TEST
    warm = np.flatnonzero(part == Part.TRAIN)
    part[warm] = _split_by_order(ds.users[warm], ds.order[warm], rng)
    assert np.array_equal(split.part, part)
    assert split.catalogue_items.size == 0


def test_a_split_file_from_before_catalogue_items_loads_with_none(tmp_path) -> None:
    split = split_cold_warm(make_dataset(), 0.2, seed=2)
    fields = {"part", "cold_valid_items", "cold_test_items", "seed", "cold_fraction"}
    old = {k: v for k, v in vars(split).items() if k in fields}
    np.savez_compressed(tmp_path / "old.npz", **old)
    loaded = Split.load(str(tmp_path / "old.npz"))
    assert loaded.catalogue_items.dtype == np.int64 and loaded.catalogue_items.size == 0
    assert np.array_equal(loaded.warm_items(60), split.warm_items(60))
