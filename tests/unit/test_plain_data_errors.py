"""Plain input's bad rows: the error names the file, the lines and the count; --skip-invalid drops
them and says so; duplicates count once. Also P5 written out as plain CSV (Amazon Beauty)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plain_files import INTERACTIONS, ITEMS, fake_minilm, with_row, write_plain

from training.data.formats import DatasetError
from training.data.plain_export import p5_to_plain
from training.data.plain_rows import InvalidRows
from training.data.readers import load_dataset

__all__ = ["fake_minilm"]  # the autouse fixture: no MiniLM, a cache in tmp_path

BEAUTY = Path(__file__).resolve().parents[3] / "shared" / "data" / "amazon_beauty"  # ../shared
SKIP_HINT = "; pass --skip-invalid to drop them"

# one bad row appended to the good interactions (line 7: header + 5 rows + this one)
BAD_ROWS = [
    (dict(user_id="u9", item_id="Z", timestamp="1"), "1 row names an item not in items.csv"),
    (dict(user_id="u9", item_id="A", timestamp="yesterday"), "1 row has a timestamp that is"),
    (dict(user_id="u9", item_id="A"), "1 row has a timestamp that is neither"),
    (dict(item_id="A", timestamp="1"), "1 row has an empty user_id"),
    (dict(user_id="u9", timestamp="1"), "1 row has an empty item_id"),
    (dict(user_id="u9", item_id="A", timestamp="1", weight="-2"), "1 row has a weight that is"),
    (dict(user_id="u9", item_id="A", timestamp="1", weight="heavy"), "1 row has a weight that"),
]


@pytest.mark.parametrize(("cells", "phrase"), BAD_ROWS)
def test_each_kind_of_bad_row_names_file_line_and_count(
    tmp_path: Path, cells: dict[str, str], phrase: str
) -> None:
    d = write_plain(tmp_path / "bad", inter=with_row(INTERACTIONS, **cells))
    with pytest.raises(InvalidRows) as info:
        load_dataset(d)
    message = str(info.value)
    assert message.startswith(f"interactions.csv: {phrase}")
    assert "(line 7" in message and message.endswith(SKIP_HINT)
    ds = load_dataset(d, skip_invalid=True)
    assert ds.n_interactions == 5
    assert ds.notes["skipped_rows"] == {
        "interactions.csv": {"count": 1, "lines": [7], "reasons": [message[18 : -len(SKIP_HINT)]]}
    }


def test_the_exact_message_counts_rows_and_names_the_first_lines(tmp_path: Path) -> None:
    inter = INTERACTIONS
    for _ in range(7):
        inter = with_row(inter, user_id="u9", item_id="Z", timestamp="1")
    inter = with_row(inter, user_id="u9", item_id="A", timestamp="soon")
    d = write_plain(tmp_path / "bad", inter=inter)
    with pytest.raises(InvalidRows) as info:
        load_dataset(d)
    assert str(info.value) == (
        "interactions.csv: 7 rows name an item not in items.csv (lines 7, 8, 9, 10, 11, ...; "
        "e.g. 'Z'), 1 row has a timestamp that is neither integer epoch seconds nor ISO 8601 "
        "(line 14; e.g. 'soon'); pass --skip-invalid to drop them"
    )


def test_skip_invalid_logs_what_it_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inter = with_row(INTERACTIONS, user_id="u9", item_id="Z", timestamp="1")
    d = write_plain(tmp_path / "bad", inter=inter)
    with caplog.at_level(logging.WARNING):
        load_dataset(d, skip_invalid=True)
    assert (
        "--skip-invalid dropped 1 rows of interactions.csv: 1 row names an item not in "
        "items.csv (line 7; e.g. 'Z')" in caplog.text
    )


def test_a_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    d = write_plain(tmp_path / "bad")
    with (d / "interactions.csv").open("a") as fh:
        fh.write("u9,A\n")
    with pytest.raises(
        InvalidRows,
        match=r"1 row has a different number of fields than the "
        r"header \(line 7\)",
    ):
        load_dataset(d)


@pytest.mark.parametrize("column", ["user_id", "item_id", "timestamp"])
def test_a_missing_column_is_an_error_skip_invalid_cannot_drop(tmp_path: Path, column: str) -> None:
    inter = {c: v for c, v in INTERACTIONS.items() if c != column}
    d = write_plain(tmp_path / "bad", inter=inter)
    expected = f"interactions.csv: missing column {column}; it has "
    with pytest.raises(DatasetError, match=expected):
        load_dataset(d, skip_invalid=True)


def test_items_file_problems_and_interactions_in_one_message(tmp_path: Path) -> None:
    items = with_row(with_row(ITEMS, title="nameless"), item_id="A", title="again")
    inter = with_row(INTERACTIONS, user_id="u9", item_id="Z", timestamp="1")
    d = write_plain(tmp_path / "bad", inter=inter, items=items)
    with pytest.raises(InvalidRows) as info:
        load_dataset(d)
    assert str(info.value) == (
        "items.csv: 1 row has an empty item_id (line 6), 1 row repeats the item_id of an "
        "earlier row (line 7; e.g. 'A'); interactions.csv: 1 row names an item not in items.csv "
        "(line 7; e.g. 'Z')" + SKIP_HINT
    )
    ds = load_dataset(d, skip_invalid=True)
    assert ds.item_ids.ids == ["A", "B", "C", "D"]
    skipped = ds.stats()["skipped_rows"]
    assert skipped["items.csv"]["count"] == 2 and skipped["items.csv"]["lines"] == [6, 7]
    assert skipped["interactions.csv"]["count"] == 1


def test_parquet_errors_name_row_numbers(tmp_path: Path) -> None:
    d = tmp_path / "pq"
    d.mkdir()
    inter = with_row(
        with_row(INTERACTIONS, user_id="u9", item_id="Z", timestamp="1"),
        user_id="u9",
        item_id="Y",
        timestamp="1",
    )
    pq.write_table(pa.table(inter), d / "interactions.parquet")
    pq.write_table(pa.table(ITEMS), d / "items.parquet")
    with pytest.raises(
        InvalidRows,
        match=r"^interactions.parquet: 2 rows name an item not in "
        r"items.parquet \(rows 6, 7; e.g. 'Z'\); pass --skip-invalid",
    ):
        load_dataset(d)
    ds = load_dataset(d, skip_invalid=True)
    assert ds.notes["skipped_rows"]["interactions.parquet"]["rows"] == [6, 7]


def test_duplicates_count_once_and_are_reported(tmp_path: Path) -> None:
    inter = with_row(INTERACTIONS, user_id="u1", item_id="A", timestamp="1700000000", event="view")
    inter = with_row(inter, user_id="u1", item_id="A", timestamp="1700000000", event="buy")
    d = write_plain(tmp_path / "dup", inter=inter)
    ds = load_dataset(d)  # a duplicate is not an error
    assert ds.n_interactions == 6  # the repeated view counts once; the buy is another event
    assert ds.stats()["duplicate_rows"] == {"interactions.csv": {"count": 1, "lines": [7]}}
    assert ds.events is not None and ds.events.tolist()[-1] == "buy"


def test_no_valid_interaction_left(tmp_path: Path) -> None:
    inter = {"user_id": ["u"], "item_id": ["Z"], "timestamp": ["1"]}
    d = write_plain(tmp_path / "none", inter=inter)
    with pytest.raises(DatasetError, match="interactions.csv: no valid interactions"):
        load_dataset(d, skip_invalid=True)


# -- Amazon Beauty as plain CSV ------------------------------------------------------------------
@pytest.mark.skipif(not BEAUTY.is_dir(), reason="needs ../shared/data/amazon_beauty")
def test_beauty_written_as_csv_loads_like_its_p5_loader(tmp_path: Path) -> None:
    p5_to_plain(BEAUTY, tmp_path / "beauty")
    assert sorted(p.name for p in (tmp_path / "beauty").iterdir()) == [
        "interactions.csv",
        "items.csv",
    ]
    plain = load_dataset(tmp_path / "beauty")  # text encoded by the fake: counts do not need it
    assert (plain.n_users, plain.n_items, plain.n_interactions) == (22_363, 12_101, 198_502)
    p5 = load_dataset(BEAUTY)
    assert plain.user_ids == p5.user_ids and plain.item_ids == p5.item_ids
    for name in ("users", "items", "order"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(p5, name))
    np.testing.assert_array_equal(plain.modalities["text"], p5.modalities["text"])  # same texts
