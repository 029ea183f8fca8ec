"""Loaders: format detection and every format on small files written into tmp_path."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from training.data import readers
from training.data.formats import DatasetError, UnknownFormat, UnsafePickle, detect_format
from training.data.readers import load_dataset
from training.data.sparse_pickle import load_sparse_pickle

BEAUTY = Path(__file__).resolve().parents[3] / "shared" / "data" / "amazon_beauty"  # ../shared


class FakeEncoder:
    """Stands in for MiniLM: a deterministic 384-d vector per text, no model load."""

    name = "fake-minilm"
    dim = 384
    calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        FakeEncoder.calls += 1
        return np.stack([_fake_vec(t) for t in texts]) if texts else np.zeros((0, 384), np.float32)


def _fake_vec(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(384).astype(np.float32)


@pytest.fixture(autouse=True)
def fake_minilm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("training.data.text.TextEncoder", FakeEncoder)
    monkeypatch.setenv("COLDREC_CACHE_DIR", str(tmp_path / "cache"))


# -- P5 ------------------------------------------------------------------------------------------
def write_p5(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "user_sequence.txt").write_text("UB B2 A1 C3\nUA A1 B2\n")
    (d / "item_generative_indexing_phase_0.txt").write_text(
        "C3 garden hose\nA1 red lipstick\nB2 hand cream\n"
    )


def test_p5_ids_order_and_text(tmp_path: Path) -> None:
    write_p5(tmp_path / "p5")
    assert detect_format(tmp_path / "p5") == "p5"
    ds = load_dataset(tmp_path / "p5")
    assert ds.user_ids.ids == ["UB", "UA"]  # line order
    assert ds.item_ids.ids == ["A1", "B2", "C3"]  # ascending ASIN
    assert ds.item_ids.externals(ds.items) == ["B2", "A1", "C3", "A1", "B2"]
    np.testing.assert_array_equal(ds.users, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.order, [0, 1, 2, 0, 1])
    assert ds.shipped_part is None
    np.testing.assert_array_equal(ds.modalities["text"][2], _fake_vec("garden hose"))


def test_p5_wins_over_diffmm_pickles_in_the_same_folder(tmp_path: Path) -> None:
    write_p5(tmp_path / "both")
    write_diffmm(tmp_path / "both", valid_name="beauty_valid.pkl")
    assert detect_format(tmp_path / "both") == "p5"


# -- RecBole / UniSRec ---------------------------------------------------------------------------
SEQS = {"UX": [0, 1, 2, 3, 4, 5, 6], "UY": [7, 8, 9, 10, 7], "UZ": [3, 2, 1]}
ASINS = ["A0", "A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "A10"]


def write_recbole(d: Path, cap: int = 50, feats: bool = False, every_prefix: bool = True) -> None:
    """UniSRec layout: every train prefix (longest first), one valid and one test row per user.

    Without `every_prefix` train holds only each user's longest prefix (plain RecBole).
    """
    d.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for u, seq in enumerate(SEQS.values()):
        n = len(seq)
        for t in range(n - 1, 0, -1):
            split = "test" if t == n - 1 else "valid" if t == n - 2 else "train"
            if split == "train" and t < n - 3 and not every_prefix:
                continue
            window = " ".join(str(i) for i in seq[max(0, t - cap) : t])
            parts[split].append(f"{u}\t{window}\t{seq[t]}\n")
    for split, rows in parts.items():
        (d / f"Sci.{split}.inter").write_text(header + "".join(rows))
    (d / "Sci.item2index").write_text("".join(f"{a}\t{i}\n" for i, a in enumerate(ASINS)))
    (d / "Sci.user2index").write_text("".join(f"{u}\t{i}\n" for i, u in enumerate(SEQS)))
    text = "".join(f"{a}\ttitle of {a}\n" for a in reversed(ASINS))
    (d / "Sci.text").write_text("item_id:token\ttext:token_seq\n" + text)
    if feats:
        rows = np.arange(len(ASINS) * 512, dtype=np.float32).reshape(len(ASINS), 512)
        rows.tofile(d / "Sci.feat1CLS")
        (-rows).tofile(d / "Sci.feat3CLS")


def _histories(ds) -> dict[str, list[int]]:
    out = {}
    for u, ext in enumerate(ds.user_ids.ids):
        mask = ds.users == u
        out[ext] = [int(i) for i in ds.items[mask][np.argsort(ds.order[mask])]]
    return out


# cap 3: windows truncated, histories rebuilt by chaining; every_prefix False: one train row
@pytest.mark.parametrize(("cap", "every_prefix"), [(50, True), (3, True), (50, False)])
def test_recbole_rebuilds_histories_and_parts(tmp_path: Path, cap: int, every_prefix: bool) -> None:
    write_recbole(tmp_path / "rb", cap=cap, every_prefix=every_prefix)
    assert detect_format(tmp_path / "rb") == "recbole"
    ds = load_dataset(tmp_path / "rb")
    assert _histories(ds) == SEQS
    assert ds.item_ids.ids == ASINS and ds.user_ids.ids == list(SEQS)
    for u in range(3):
        mask = ds.users == u
        parts = ds.shipped_part[mask][np.argsort(ds.order[mask])]
        assert parts.tolist() == [0] * (mask.sum() - 2) + [1, 2]
    np.testing.assert_array_equal(ds.modalities["text"][4], _fake_vec("title of A4"))


def test_recbole_feature_files_win_over_text(tmp_path: Path) -> None:
    write_recbole(tmp_path / "rb", feats=True)
    calls = FakeEncoder.calls
    ds = load_dataset(tmp_path / "rb")
    assert FakeEncoder.calls == calls  # feat1CLS is the text modality: nothing encoded
    assert ds.modal_dims == {"image": 512, "text": 512}
    assert ds.modalities["text"][2, 0] == 2 * 512 and ds.modalities["image"][2, 0] == -2 * 512


def test_recbole_feature_file_of_wrong_size_is_refused(tmp_path: Path) -> None:
    write_recbole(tmp_path / "rb", feats=True)
    np.zeros(100, np.float32).tofile(tmp_path / "rb" / "Sci.feat3CLS")
    with pytest.raises(DatasetError, match="feat3CLS"):
        load_dataset(tmp_path / "rb")


# -- MMRec ---------------------------------------------------------------------------------------
def write_mmrec(d: Path, timestamp: bool = True) -> None:
    d.mkdir(parents=True, exist_ok=True)
    rows = [(0, 1, 30, 0), (0, 2, 10, 0), (1, 0, 5, 1), (0, 3, 40, 2), (2, 1, 7, 2)]
    cols = ["userID", "itemID", "rating"] + (["timestamp"] if timestamp else []) + ["x_label"]
    lines = ["\t".join(cols)]
    for u, i, ts, label in rows:
        lines.append("\t".join(map(str, [u, i, 5] + ([ts] if timestamp else []) + [label])))
    (d / "toy.inter").write_text("\n".join(lines) + "\n")
    np.save(d / "text_feat.npy", np.eye(5, 6, dtype=np.float64))  # 5 items, one never seen
    np.save(d / "image_feat.npy", np.ones((5, 3), np.float16))


def test_mmrec_inter_with_features(tmp_path: Path) -> None:
    write_mmrec(tmp_path / "mm")
    assert detect_format(tmp_path / "mm") == "mmrec"
    ds = load_dataset(tmp_path / "mm")
    assert ds.stats() == {
        "users": 3,
        "items": 5,
        "interactions": 5,
        "modalities": {"image": 3, "text": 6},
    }
    np.testing.assert_array_equal(ds.items, [1, 2, 0, 3, 1])
    np.testing.assert_array_equal(ds.order, [30, 10, 5, 40, 7])
    np.testing.assert_array_equal(ds.shipped_part, [0, 0, 1, 2, 2])
    assert ds.modalities["image"].dtype == np.float32


def test_mmrec_without_timestamp_orders_by_file_position(tmp_path: Path) -> None:
    write_mmrec(tmp_path / "mm", timestamp=False)
    ds = load_dataset(tmp_path / "mm")
    np.testing.assert_array_equal(ds.order, [0, 1, 0, 2, 0])


# -- DiffMM --------------------------------------------------------------------------------------
def write_diffmm(d: Path, valid_name: str = "valMat.pkl") -> None:
    d.mkdir(parents=True, exist_ok=True)
    shape = (4, 6)
    parts = {
        "trnMat.pkl": ([0, 0, 1, 2, 3], [0, 1, 2, 3, 4]),
        valid_name: ([0, 3], [5, 0]),
        "tstMat.pkl": ([1, 2], [1, 5]),
    }
    for name, (rows, cols) in parts.items():
        m = sp.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        with (d / name).open("wb") as fh:
            pickle.dump(m, fh)
    np.save(d / "image_feat.npy", np.arange(12, dtype=np.float16).reshape(6, 2))


@pytest.mark.parametrize("valid_name", ["valMat.pkl", "baby_valid.pkl"])
def test_diffmm_union_with_parts(tmp_path: Path, valid_name: str) -> None:
    write_diffmm(tmp_path / "dm", valid_name)
    assert detect_format(tmp_path / "dm") == "diffmm"
    ds = load_dataset(tmp_path / "dm")
    assert ds.stats() == {"users": 4, "items": 6, "interactions": 9, "modalities": {"image": 2}}
    assert ds.user_ids.ids == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(ds.shipped_part, [0] * 5 + [1] * 2 + [2] * 2)
    np.testing.assert_array_equal(ds.order, ds.shipped_part)
    test = ds.shipped_part == 2
    assert set(zip(ds.users[test].tolist(), ds.items[test].tolist(), strict=True)) == {
        (1, 1),
        (2, 5),
    }
    assert ds.modalities["image"].dtype == np.float32 and ds.modalities["image"][5, 1] == 11


def test_diffmm_features_with_wrong_row_count_are_refused(tmp_path: Path) -> None:
    write_diffmm(tmp_path / "dm")
    np.save(tmp_path / "dm" / "audio_feat.npy", np.zeros((5, 2), np.float32))
    with pytest.raises(DatasetError, match="audio_feat"):
        load_dataset(tmp_path / "dm")


class _Exploit:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "evil"
    write_diffmm(d)
    marker = tmp_path / "pwned"
    (d / "trnMat.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(UnsafePickle, match="system"):
        load_dataset(d)
    with pytest.raises(UnsafePickle):
        load_sparse_pickle(d / "trnMat.pkl")
    assert not marker.exists()


def test_only_sparse_matrices_and_known_names_are_unpickled(tmp_path: Path) -> None:
    (tmp_path / "tstMat.pkl").write_bytes(pickle.dumps({"not": "a matrix"}))
    with pytest.raises(DatasetError):
        load_sparse_pickle(tmp_path / "tstMat.pkl")
    (tmp_path / "trnMat.pkl").write_bytes(pickle.dumps(np.arange(3)))
    with pytest.raises(DatasetError, match="coo_matrix"):
        load_sparse_pickle(tmp_path / "trnMat.pkl")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps(sp.coo_matrix(np.eye(2))))
    with pytest.raises(DatasetError, match="known DiffMM"):
        load_sparse_pickle(tmp_path / "other.pkl")


# -- detection errors ----------------------------------------------------------------------------
def test_unknown_format_names_the_files_looked_for(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("nothing here")
    with pytest.raises(UnknownFormat) as err:
        load_dataset(tmp_path)
    for wanted in ("user_sequence.txt", ".train.inter", "trnMat.pkl", "x_label"):
        assert wanted in str(err.value)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "absent")


# -- real data (skipped without ../shared) -------------------------------------------------------
@pytest.mark.skipif(not BEAUTY.is_dir(), reason="needs ../shared/data/amazon_beauty")
def test_amazon_beauty_counts_and_matrix_alignment() -> None:
    ds = load_dataset(BEAUTY)  # text encoded by the fake: counts do not depend on it
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (22_363, 12_101, 198_502)
    assert ds.modal_dims == {"text": 384}
    # SOURCE.md: matrix row u = line u, column i = i-th sorted ASIN; the pickles agree with us.
    dm = readers.load_diffmm(BEAUTY)
    pairs = set(zip(ds.users.tolist(), ds.items.tolist(), strict=True))
    assert pairs == set(zip(dm.users.tolist(), dm.items.tolist(), strict=True))
