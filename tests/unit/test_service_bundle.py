"""The bundle: the writer writes what the reader loads; a missing, altered or mismatched bundle is
refused; a format-1 bundle (with its unused index.faiss) still loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from service_bundle import write_bundle

from bundle.format import FORMAT_VERSION, BundleError, sha256_file
from bundle.reader import load_bundle, resolve_bundle_dir
from bundle.writer import write_bundle as write_bundle_files
from models.projection import project_features as project
from service.errors import BundleError as ServiceBundleError


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle", fit_steps=50).path


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_loads_and_projects(bundle_dir: Path) -> None:
    b = load_bundle(bundle_dir)
    assert b.users.shape == (16, 8) and b.items.shape == (16, 8)
    assert b.user_ids.external(3) == "u3" and b.item_ids.index("i5") == 5
    assert list(b.seen(0)) == [0, 2, 4, 6]
    assert b.projector is not None and not b.projector.training
    emb = project(b.projector, {"text": np.ones((2, 12), np.float32)})
    assert emb.shape == (2, 8) and emb.dtype == np.float32


def test_run_dir_resolves_to_bundle(bundle_dir: Path) -> None:
    assert resolve_bundle_dir(bundle_dir.parent) == bundle_dir
    with pytest.raises(BundleError, match="no manifest.json"):
        resolve_bundle_dir(bundle_dir / "nowhere")


def test_altered_file_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    bad = _copy(bundle_dir, tmp_path / "b")
    items = np.load(bad / "items.npy")
    np.save(bad / "items.npy", items + 1)
    with pytest.raises(BundleError, match="items.npy was altered"):
        load_bundle(bad)


def test_missing_file_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    bad = _copy(bundle_dir, tmp_path / "b")
    (bad / "seen.npz").unlink()
    with pytest.raises(BundleError, match="seen.npz is missing"):
        load_bundle(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 4}, "format_version 4; this reader reads 1, 2, 3"),
        ({"format_version": True}, "format_version True"),
        ({"dim": 9}, r"users.npy: shape \[16, 8\], manifest says \[16, 9\]"),
        ({"n_items": 17}, "items.npy: shape"),
        ({"modalities": {"text": 13}}, "projector.safetensors: does not fit"),
    ],
)
def test_manifest_mismatch_is_refused(
    bundle_dir: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    bad = _copy(bundle_dir, tmp_path / "b")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest.update(change)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(bad)


def test_pickled_array_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    bad = _copy(bundle_dir, tmp_path / "b")
    np.save(bad / "users.npy", np.array([object()] * 16, dtype=object), allow_pickle=True)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["files"]["users.npy"] = sha256_file(bad / "users.npy")
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a plain numpy array"):
        load_bundle(bad)


def test_the_writer_writes_format_2_without_an_index(bundle_dir: Path) -> None:
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert set(manifest["files"]) == {
        "users.npy",
        "items.npy",
        "user_ids.json",
        "item_ids.json",
        "seen.npz",
        "projector.safetensors",
    }
    assert manifest["projector"] == {"hidden": 32, "dropout": 0.0}
    assert not (bundle_dir / "index.faiss").exists()
    assert ServiceBundleError is BundleError  # one name: the service maps the reader's error


@pytest.mark.parametrize("with_index", [True, False])
def test_a_format_1_bundle_still_loads_its_index_ignored(
    bundle_dir: Path, tmp_path: Path, with_index: bool
) -> None:
    old = _copy(bundle_dir, tmp_path / "v1")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 1
    manifest["files"]["index.faiss"] = "0" * 64  # what it held is never read, nor checked
    if with_index:
        (old / "index.faiss").write_bytes(b"a FAISS index the service never read")
    (old / "manifest.json").write_text(json.dumps(manifest))
    b = load_bundle(old)
    assert b.manifest.format_version == 1 and "index.faiss" not in b.manifest.files
    assert np.array_equal(b.items, load_bundle(bundle_dir).items)


def test_the_writer_takes_a_state_dict_and_a_scipy_csr(bundle_dir: Path, tmp_path: Path) -> None:
    import scipy.sparse as sp

    from models.config import ProjectorConfig

    b = load_bundle(bundle_dir)
    assert b.projector is not None
    seen = sp.csr_matrix(
        (np.ones(len(b.seen_indices)), b.seen_indices, b.seen_indptr), shape=(16, 16)
    )
    out = write_bundle_files(
        tmp_path / "b",
        users=b.users,
        items=b.items,
        user_ids=b.user_ids.ids,
        item_ids=b.item_ids.ids,
        seen=seen,
        projector=(b.projector.state_dict(), ProjectorConfig(hidden=32, dropout=0.0)),
        model="lightgcn",
        dataset="checkerboard",
        modal_dims={"text": 12},
        metrics={"warm": {"recall@20": 0.5}},
    )
    again = load_bundle(out)
    assert again.manifest.metrics == {"warm": {"recall@20": 0.5}} and again.manifest.created_at
    assert np.array_equal(again.seen_indices, b.seen_indices)
    x = {"text": np.ones((1, 12), np.float32)}
    assert again.projector is not None
    assert np.allclose(project(again.projector, x), project(b.projector, x))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_ids": ["u0"] * 16}, "user_ids: 16 ids"),
        ({"items": np.full((16, 8), np.nan, np.float32)}, "items holds non-finite"),
        ({"items": np.zeros((16, 9), np.float32)}, "users have dim 8, items 9"),
        ({"projector": None}, "need a projector"),
        ({"modal_dims": {"text": 13}}, "the projector maps"),
        ({"seen": (np.zeros(3, np.int64), np.zeros(0, np.int64))}, "seen: indptr"),
    ],
)
def test_the_writer_refuses_what_the_reader_would(
    bundle_dir: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    b = load_bundle(bundle_dir)
    args: dict[str, object] = {
        "users": b.users,
        "items": b.items,
        "user_ids": b.user_ids.ids,
        "item_ids": b.item_ids.ids,
        "seen": (b.seen_indptr, b.seen_indices),
        "projector": b.projector,
        "model": "lightgcn",
        "dataset": "checkerboard",
        "modal_dims": {"text": 12},
    }
    with pytest.raises(ValueError, match=message):
        write_bundle_files(tmp_path / "b", **{**args, **change})  # type: ignore[arg-type]
