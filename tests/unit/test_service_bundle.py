"""Bundle loading: a good bundle loads; a missing, altered or mismatched one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from service_bundle import write_bundle

from service.bundle import load_bundle, project, resolve_bundle_dir
from service.errors import BundleError


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
        ({"format_version": 2}, "format_version 2"),
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
    from service.bundle import sha256_file

    manifest["files"]["users.npy"] = sha256_file(bad / "users.npy")
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a plain numpy array"):
        load_bundle(bad)
