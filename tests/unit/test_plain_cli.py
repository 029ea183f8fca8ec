"""`coldrec data stats` and `coldrec train` on plain input through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from plain_files import INTERACTIONS, FakeEncoder, fake_minilm, with_row, write_csv, write_plain

from coldrec.cli import main

__all__ = ["fake_minilm"]  # the autouse fixture: no MiniLM, a cache in tmp_path

BAD_ITEM = (
    "coldrec: error: interactions.csv: 1 row names an item not in items.csv (line 7; e.g. 'Z'); "
    "pass --skip-invalid to drop them\n"
)


def test_data_stats_counts_items_without_interactions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "stats", str(write_plain(tmp_path / "shop"))]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "users": 3,
        "items": 4,
        "items_without_interactions": 1,
        "interactions": 5,
        "modalities": {"text": 8},
    }


def test_a_bad_row_exits_2_naming_file_line_and_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inter = with_row(INTERACTIONS, user_id="u9", item_id="Z", timestamp="1")
    d = write_plain(tmp_path / "bad", inter=inter)
    assert main(["data", "stats", str(d)]) == 2
    assert capsys.readouterr().err == BAD_ITEM
    assert main(["data", "stats", str(d), "--skip-invalid"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["interactions"] == 5
    assert stats["skipped_rows"] == {
        "interactions.csv": {
            "count": 1,
            "lines": [7],
            "reasons": ["1 row names an item not in items.csv (line 7; e.g. 'Z')"],
        }
    }


def test_text_columns_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_plain(tmp_path / "shop")
    assert main(["data", "stats", str(d), "--text-columns", "description,title"]) == 0
    assert FakeEncoder.texts[0] == "long lasting Red lipstick"
    assert main(["data", "stats", str(d), "--text-columns", "colour"]) == 2
    assert "items.csv: no column colour (--text-columns)" in capsys.readouterr().err


def test_data_help_names_the_plain_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "interactions.csv + items.csv" in out and "--skip-invalid" in out
    assert "--text-columns" in out


def write_shop(d: Path, n_users: int = 40, n_items: int = 30) -> Path:
    """A small shop: each user views 6 random items; one row names an item the shop lacks."""
    rng = np.random.default_rng(0)
    rows: dict[str, list[str | None]] = {"user_id": [], "item_id": [], "timestamp": []}
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, size=6, replace=False)):
            rows["user_id"].append(f"u{u}")
            rows["item_id"].append(f"i{i}")
            rows["timestamp"].append(str(1_700_000_000 + t))
    rows = with_row(rows, user_id="u0", item_id="gone", timestamp="1")
    items = {
        "item_id": [f"i{i}" for i in range(n_items + 2)],  # two never interacted with
        "title": [f"product {i} {'red' if i % 2 else 'blue'}" for i in range(n_items + 2)],
    }
    write_csv(d / "interactions.csv", rows)
    write_csv(d / "items.csv", items)
    return d


def test_train_on_plain_csv_records_the_reader_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, run = write_shop(tmp_path / "shop"), tmp_path / "run"
    args = ["train", "--data", str(d), "--model", "lightgcn", "--out", str(run), "--quiet"]
    args += ["--epochs", "2", "--set", "model.dim=16", "--set", "model.projector.hidden=32"]
    args += ["--set", "train.projector_epochs=2"]
    assert main(args) == 2  # the row naming `gone`
    assert "1 row names an item not in items.csv" in capsys.readouterr().err
    assert main([*args, "--skip-invalid", "--text-columns", "title"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(d)
    assert config["data_options"] == {"text_columns": ["title"], "skip_invalid": True}
    assert (run / "bundle" / "manifest.json").is_file()
