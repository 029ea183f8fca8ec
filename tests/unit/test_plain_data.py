"""Plain input (a shop's own interactions.csv/.parquet + items.csv/.parquet) on generated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plain_files import (
    INTERACTIONS,
    ITEMS,
    FakeEncoder,
    fake_minilm,
    fake_vec,
    write_csv,
    write_plain,
)

from training.data.formats import DatasetError, detect_format
from training.data.readers import load_dataset

__all__ = ["fake_minilm"]  # the autouse fixture: no MiniLM, a cache in tmp_path


# -- good input ----------------------------------------------------------------------------------
def test_csv_reads_ids_times_events_weights_and_text(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "shop")
    assert detect_format(d) == "plain"
    ds = load_dataset(d)
    assert ds.item_ids.ids == ["A", "B", "C", "D"]  # the items file's order
    assert ds.user_ids.ids == ["u1", "u2", "u3"]  # first appearance
    assert ds.item_ids.externals(ds.items) == INTERACTIONS["item_id"]
    np.testing.assert_array_equal(ds.users, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(ds.order, [1700000000, 1704448800, 1700000100, 1699920000, 5])
    assert ds.order.dtype == np.int64
    assert ds.events is not None and ds.events.tolist() == INTERACTIONS["event"]
    assert ds.weights is not None and ds.weights.tolist() == [1.0, 2.5, 1.0, 1.0, 1.0]
    # string columns but the id, price left out (all numbers), empty cells skipped
    assert FakeEncoder.texts == [
        "Red lipstick long lasting",
        "Hand cream",
        "Garden hose green, 20 m",
        "Blue scarf wool",
    ]
    np.testing.assert_array_equal(ds.modalities["text"][1], fake_vec("Hand cream"))
    assert ds.stats() == {"users": 3, "items": 4, "interactions": 5, "modalities": {"text": 8}}
    assert ds.n_items_without_interactions == 1  # D: in the catalogue, never seen


def test_iso_and_epoch_timestamps(tmp_path: Path) -> None:
    stamps = ["1700000000", "2023-11-14T22:13:20", "2023-11-14T23:13:20+01:00", "1.5e3", "1.25"]
    inter = {"user_id": ["u"] * 5, "item_id": ["A", "B", "C", "D", "A"], "timestamp": stamps}
    ds = load_dataset(write_plain(tmp_path / "t", inter=inter))
    np.testing.assert_array_equal(ds.order, [1700000000, 1700000000, 1700000000, 1500, 1.25])
    assert ds.order.dtype == np.float64  # a fraction of a second: float seconds
    assert ds.events is None and ds.weights is None  # no such columns


def test_text_columns_choose_and_order_the_text(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "t")
    load_dataset(d, text_columns=["description", "title"])
    assert FakeEncoder.texts[0] == "long lasting Red lipstick"
    assert FakeEncoder.texts[1] == "Hand cream"
    with pytest.raises(DatasetError, match=r"items.csv: no column colour \(--text-columns\)"):
        load_dataset(d, text_columns=["title", "colour"])


def test_text_columns_are_only_for_plain_input(tmp_path: Path) -> None:
    d = tmp_path / "p5"
    d.mkdir()
    (d / "user_sequence.txt").write_text("U A B\n")
    (d / "item_generative_indexing_phase_0.txt").write_text("A a\nB b\n")
    with pytest.raises(DatasetError, match="--text-columns is for plain input"):
        load_dataset(d, text_columns=["title"])


def parquet_of(columns: dict, path: Path, **types: pa.DataType) -> None:
    arrays = {c: pa.array(v, type=types.get(c, pa.string())) for c, v in columns.items()}
    pq.write_table(pa.table(arrays), path)


def test_parquet_gives_the_same_dataset_as_csv(tmp_path: Path) -> None:
    csv_ds = load_dataset(write_plain(tmp_path / "csv"))
    d = tmp_path / "pq"
    d.mkdir()
    inter = dict(INTERACTIONS, weight=[1.0, 2.5, None, 1.0, 1.0])
    parquet_of(inter, d / "interactions.parquet", weight=pa.float64())
    items = dict(ITEMS, price=[9.5, 3.0, 10.0, 12.0])
    parquet_of(items, d / "items.parquet", price=pa.float64())
    pq_ds = load_dataset(d)
    assert detect_format(d) == "plain"
    assert pq_ds.user_ids == csv_ds.user_ids and pq_ds.item_ids == csv_ds.item_ids
    for name in ("users", "items", "order", "events", "weights"):
        np.testing.assert_array_equal(getattr(pq_ds, name), getattr(csv_ds, name))
    np.testing.assert_array_equal(pq_ds.modalities["text"], csv_ds.modalities["text"])
    assert pq_ds.stats() == csv_ds.stats()


def test_parquet_typed_ids_and_timestamps(tmp_path: Path) -> None:
    d = tmp_path / "typed"
    d.mkdir()
    stamps = pa.array([1_700_000_000_000_000, 1_700_000_100_000_000], pa.timestamp("us", "UTC"))
    pq.write_table(
        pa.table({"user_id": pa.array([7, 8]), "item_id": pa.array([1, 2]), "timestamp": stamps}),
        d / "interactions.parquet",
    )
    pq.write_table(pa.table({"item_id": [1, 2], "name": ["one", "two"]}), d / "items.parquet")
    ds = load_dataset(d)
    assert ds.user_ids.ids == ["7", "8"] and ds.item_ids.ids == ["1", "2"]
    np.testing.assert_array_equal(ds.order, [1_700_000_000, 1_700_000_100])


def test_csv_and_parquet_side_by_side_is_an_error(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "both")
    parquet_of({"item_id": ["A"]}, d / "items.parquet")
    with pytest.raises(DatasetError, match="holds both items.csv and items.parquet; keep one"):
        load_dataset(d)


def test_interactions_without_items_file(tmp_path: Path) -> None:
    d = tmp_path / "lonely"
    write_csv(d / "interactions.csv", INTERACTIONS)
    with pytest.raises(DatasetError, match="needs an items.csv or items.parquet beside it"):
        load_dataset(d)


# -- precomputed vectors -------------------------------------------------------------------------
def test_items_npy_modalities(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "npy")
    image = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(d / "items.image.npy", image)
    np.save(d / "items.audio.npy", np.ones((4, 2), np.float64))  # converted to float32
    ds = load_dataset(d)
    assert ds.modal_dims == {"audio": 2, "image": 3, "text": 8}
    np.testing.assert_array_equal(ds.modalities["image"], image)
    assert ds.modalities["audio"].dtype == np.float32


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((3, 2), np.float32), r"items.image.npy: shape \(3, 2\), expected \(4, d\)"),
        (np.ones(4, np.float32), r"items.image.npy: shape \(4,\), expected \(4, d\)"),
        (np.ones((4, 2), np.int64), "items.image.npy: dtype int64, expected float32"),
        (np.full((4, 2), np.nan, np.float32), "4 rows hold NaN or infinity"),
    ],
)
def test_items_npy_checked(tmp_path: Path, array: np.ndarray, message: str) -> None:
    d = write_plain(tmp_path / "npy")
    np.save(d / "items.image.npy", array)
    with pytest.raises(DatasetError, match=message):
        load_dataset(d)


def test_items_text_npy_is_refused(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "npy")
    np.save(d / "items.text.npy", np.ones((4, 2), np.float32))
    with pytest.raises(DatasetError, match="items.text.npy: the text modality is MiniLM's"):
        load_dataset(d)


def test_skipped_item_rows_drop_their_vector_rows(tmp_path: Path) -> None:
    items = {"item_id": ["A", "", "B", "A"], "title": ["a", "x", "b", "again"]}
    d = write_plain(
        tmp_path / "npy", inter={"user_id": ["u"], "item_id": ["B"], "timestamp": ["1"]}
    )
    write_csv(d / "items.csv", items)
    np.save(d / "items.image.npy", np.arange(4, dtype=np.float32).reshape(4, 1))
    ds = load_dataset(d, skip_invalid=True)
    assert ds.item_ids.ids == ["A", "B"]
    np.testing.assert_array_equal(ds.modalities["image"][:, 0], [0, 2])
