"""`coldrec export` (training/live_export.py): a run's plain data plus the live state (registered
items, retirements, the interaction log) written as plain input, read in chunks; a second export
of the same state reads only what the first did not hold and trims the log; refusals."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from plain_files import fake_minilm, write_csv  # noqa: F401 (fixture: no MiniLM load)
from service_bundle import write_bundle

from coldrec.cli import main
from service.keys import Keys
from service.redis_conn import connect
from service.settings import Settings
from service.state import StateRefused, claim
from service.store import ItemRecord, Store
from training.data.dataset import Dataset
from training.data.formats import DatasetError
from training.data.plain import load_plain
from training.live_export import export_state

DATASET = "shop"
IMAGE = np.arange(12, dtype=np.float32).reshape(4, 3) + 1.0  # items.image.npy of the data


def _run(tmp: Path, data: Path | str, name: str = "run") -> Path:
    """A run directory: a tiny bundle of dataset `shop` and a config.json naming `data`."""
    run = tmp / name
    write_bundle(run / "bundle", fit_steps=1, dataset=DATASET)
    (run / "config.json").write_text(json.dumps({"data": str(data)}))
    return run


def _shop(tmp: Path) -> Path:
    d = tmp / "shop"
    write_csv(
        d / "items.csv",
        {"item_id": ["A", "B", "C", "D"], "title": ["Red lipstick", "Hand cream", "Hose", "Scarf"]},
    )
    write_csv(
        d / "interactions.csv",
        {
            "user_id": ["u1", "u1", "u2", "u3"],
            "item_id": ["A", "B", "C", "B"],
            "timestamp": ["1700000000", "1700000001", "2024-01-05T10:00:00Z", "5"],
            "event": ["view", "buy", "view", "view"],
            "weight": ["1", "2.5", None, "1"],
        },
    )
    np.save(d / "items.image.npy", IMAGE)
    return d


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture()
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, namespace=f"t{uuid.uuid4().hex[:8]}")


def _store(settings: Settings) -> Store:
    client, _ = connect(settings.redis_url, None)
    store = Store(client, Keys(settings.namespace), stream_maxlen=1000)
    claim(store, settings, "test", DATASET, {"model": "lightgcn", "digest": "d"})
    return store


def test_export_writes_data_registered_items_and_every_logged_interaction(
    tmp_path: Path, settings: Settings
) -> None:
    run = _run(tmp_path, _shop(tmp_path))
    store = _store(settings)
    emb = np.zeros((1, 8), np.float32)
    store.save_items([ItemRecord("T", text="Sourdough kit", registered_at=1.0)], emb, "d", "o")
    image = np.asarray([7.0, 8.0, 9.0], np.float32)
    store.save_items([ItemRecord("F", features={"image": image})], emb, "d", "o")
    store.save_items([ItemRecord("V", features={"text": np.ones(8, np.float32)})], emb, "d", "o")
    store.save_items([ItemRecord("A", text="a new text for a data item")], emb, "d", "o")
    store.retire("C", "d", "o")  # a data item: left out with its interactions
    n = 3000  # past the stream's 1000 events: the log keeps them all
    for start in range(0, n, 500):
        pairs = [(f"w{k}", "T" if k % 2 else "F") for k in range(start, start + 500)]
        store.record_interactions(pairs, "o", 1_800_000_000.0 + start, ["purchase"] * 500)
    store.record_interactions([("u1", "V"), ("u2", "C"), ("u9", "A")], "o", 1_800_001_000.0)
    assert store.client.xlen(store.keys.events) < n  # trimmed: only the log has them all

    out = tmp_path / "export"
    summary = export_state(run, out, settings, chunk=100)

    assert summary["items"] == {"data": 3, "registered": 2}
    assert summary["interactions"] == {"data": 3, "online": n + 1}
    assert summary["left_out"] == {
        "retired_items": 1,
        "data_interactions_on_retired": 1,
        "text_vector_items": 1,
        "online_interactions_on_items_left_out": 2,
    }
    items = _rows(out / "items.csv")
    assert [(r["item_id"], r["text"]) for r in items] == [
        ("A", "Red lipstick"),  # the data's row wins over the registration
        ("B", "Hand cream"),
        ("D", "Scarf"),
        ("F", ""),
        ("T", "Sourdough kit"),
    ]
    vectors = np.load(out / "items.image.npy")
    np.testing.assert_array_equal(vectors[:3], IMAGE[[0, 1, 3]])
    np.testing.assert_array_equal(vectors[3], image)
    np.testing.assert_array_equal(vectors[4], np.zeros(3))  # registered by text: no image
    rows = _rows(out / "interactions.csv")
    assert rows[0] == {
        "user_id": "u1",
        "item_id": "A",
        "timestamp": "1700000000",
        "event": "view",
        "weight": "1.0",
    }
    online = rows[3:]
    assert len(online) == n + 1 and {r["event"] for r in online[:n]} == {"purchase"}
    assert online[0]["timestamp"] == "2027-01-15T08:00:00+00:00" and online[0]["weight"] == ""
    assert online[-1] == {
        "user_id": "u9",
        "item_id": "A",
        "timestamp": "2027-01-15T08:16:40+00:00",
        "event": "click",
        "weight": "",
    }
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["name"] == DATASET and meta["export"]["log_after"] == "0-0"

    dataset = load_plain(out)  # what `coldrec train --data out` reads
    assert dataset.name == DATASET
    assert dataset.n_items == 5 and dataset.n_interactions == 3 + n + 1
    assert dataset.modal_dims == {"image": 3, "text": 8}


def test_a_second_export_reads_only_what_the_first_did_not_hold_and_trims_the_log(
    tmp_path: Path, settings: Settings
) -> None:
    store = _store(settings)
    store.record_interactions([("u1", "A"), ("u2", "B")], "o", 1_800_000_000.0)
    first = tmp_path / "export1"
    export_state(_run(tmp_path, _shop(tmp_path)), first, settings)
    store.record_interactions([("u3", "D")], "o", 1_800_000_100.0)
    run2 = _run(tmp_path, first, "run2")  # retrained on the first export

    kept = export_state(run2, tmp_path / "kept", settings, keep_log=True)
    assert kept["interactions"] == {"data": 6, "online": 1} and kept["log"]["trimmed"] == 0
    second = export_state(run2, tmp_path / "export2", settings)
    assert second["interactions"] == {"data": 6, "online": 1}
    assert second["log"]["trimmed"] == 1  # below the first export's last id: it holds them
    assert [(r["user_id"], r["item_id"]) for r in _rows(tmp_path / "export2/interactions.csv")][
        -1
    ] == ("u3", "D")
    # a run whose data is an export of another state reads this state's whole log
    other = json.loads((first / "dataset.json").read_text())
    other["export"]["state"] = "another@1.0"
    (first / "dataset.json").write_text(json.dumps(other))
    whole = export_state(run2, tmp_path / "export3", settings)
    assert whole["interactions"]["online"] == 2 and whole["log"]["trimmed"] == 0


def test_refusals(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, _ = connect(settings.redis_url, None)
    store = Store(client, Keys(settings.namespace))
    claim(store, settings, "test", "another-shop", {"model": "m", "digest": "d"})
    run = _run(tmp_path, _shop(tmp_path))
    with pytest.raises(StateRefused, match="belongs to dataset 'another-shop'"):
        export_state(run, tmp_path / "out", settings)
    monkeypatch.setenv("COLDREC_REDIS_URL", str(settings.redis_url))
    monkeypatch.setenv("COLDREC_NAMESPACE", settings.namespace)
    assert main(["export", "--bundle", str(run), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "belongs to dataset 'another-shop'" in capsys.readouterr().err  # one line, no trace
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        export_state(run, tmp_path / "full", settings)
    latent = _run(tmp_path, "synthetic:n_users=10", "latent")
    with pytest.raises(DatasetError, match="no item text"):
        export_state(latent, tmp_path / "out2", settings)


def test_an_embedded_state_never_written_exports_the_data_alone(tmp_path: Path) -> None:
    run = _run(tmp_path, _shop(tmp_path))
    summary = export_state(run, tmp_path / "out", Settings())
    assert summary["interactions"] == {"data": 4, "online": 0}
    assert not (run / "state" / "redis.db").exists()


def test_a_words_run_exports_the_generators_texts_and_interactions_in_order(
    tmp_path: Path,
) -> None:
    from plain_files import FakeEncoder

    from training.data.synthetic_words import words_data

    spec = "synthetic:words,n_users=30,n_items=40,max_per_user=10,seed=3"
    run = _run(tmp_path, spec)
    summary = export_state(run, tmp_path / "out", Settings())  # never served: the data alone
    gen = words_data(n_users=30, n_items=40, max_per_user=10, seed=3, encoder=FakeEncoder(),
                     cache_dir=tmp_path / "gen")  # fmt: skip
    FakeEncoder.texts = []  # what the reader's texts encode (another cache: no hit)
    assert summary["interactions"] == {"data": gen.dataset.n_interactions, "online": 0}
    ds = load_plain(tmp_path / "out")
    assert FakeEncoder.texts == list(gen.texts)  # as trained on: the same encoding
    assert ds.item_ids.ids == gen.dataset.item_ids.ids

    def pairs(d: Dataset) -> list[tuple[str, str]]:
        return list(zip(d.user_ids.externals(d.users), d.item_ids.externals(d.items), strict=True))

    assert pairs(ds) == pairs(gen.dataset)  # the generator's interactions, in its order
    assert ds.events is not None and set(ds.events.tolist()) <= {"view", "click", "buy"}
