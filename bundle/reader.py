"""Load and check an artifact bundle (docs/BUNDLE.md, formats 2 and 3; format 1 is read too).
Nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file

from bundle.format import (
    CONTENT_FILE,
    IGNORED_FILES,
    ITEM_PROJECTIONS_FILE,
    PROJECTED_FILE,
    PROJECTED_VERSION,
    PROJECTOR_FILE,
    READABLE_VERSIONS,
    REQUIRED_FILES,
    BundleError,
    sha256_file,
)
from models.config import ProjectorConfig
from models.idmap import IdMap
from models.projection import ModalProjector


@dataclass(frozen=True)
class Manifest:
    """The typed view of manifest.json."""

    format_version: int
    model: str
    dataset: str
    dim: int
    n_users: int
    n_items: int
    modalities: dict[str, int]  # name -> feature dim, sorted by name
    projector_hidden: int
    projector_dropout: float
    files: dict[str, str]  # file name -> sha256 hex
    created_at: str
    code_version: str
    metrics: dict[str, Any]
    # constants of the cold-start steps chosen on validation at training time (name -> value);
    # empty in bundles written before them, which then serve without those steps
    cold_start: dict[str, Any]


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: trained embeddings, the id maps, training history and the projector."""

    path: Path
    manifest: Manifest
    digest: str  # sha256 of manifest.json: names this exact bundle (e.g. in embedding caches)
    users: np.ndarray  # [n_users, dim] float32
    items: np.ndarray  # [n_items, dim] float32
    user_ids: IdMap
    item_ids: IdMap
    seen_indptr: np.ndarray  # [n_users + 1] int64
    seen_indices: np.ndarray  # [nnz] int64, item rows
    projector: ModalProjector | None
    # [m] int64 sorted item rows the projector embedded from features (format 3; empty before):
    # items with no training interaction, served as cold
    projected: np.ndarray
    # [n_items, dc] float32 content vectors for the content floor (models/content_floor.py);
    # None in bundles without content.npy, which serve without the floor
    content: np.ndarray | None = None
    # [n_items, dim] float32 every item's projection from its own features, the keys of the
    # simulated edges of source content (models/simulated_edges.py); None without the file
    item_projections: np.ndarray | None = None

    def is_projected(self, row: int) -> bool:
        """Whether item row `row` was projected from features rather than trained."""
        at = int(np.searchsorted(self.projected, row))
        return at < len(self.projected) and int(self.projected[at]) == row

    def seen(self, user: int) -> np.ndarray:
        """Item rows user `user` trained on: int64 [m]."""
        return self.seen_indices[self.seen_indptr[user] : self.seen_indptr[user + 1]]


def resolve_bundle_dir(path: Path) -> Path:
    """Accept the bundle directory itself or a run directory that holds `bundle/`."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return path
    if (path / "bundle" / "manifest.json").is_file():
        return path / "bundle"
    raise BundleError(f"no manifest.json in {path} or {path / 'bundle'}")


def load_bundle(path: Path) -> Bundle:
    """Read, verify (format, hashes, shapes) and load the bundle at `path`."""
    root = resolve_bundle_dir(path)
    raw = (root / "manifest.json").read_bytes()
    manifest = parse_manifest(raw)
    verify_files(root, manifest)
    users = _load_matrix(root / "users.npy", (manifest.n_users, manifest.dim))
    items = _load_matrix(root / "items.npy", (manifest.n_items, manifest.dim))
    user_ids = _load_ids(root / "user_ids.json", manifest.n_users)
    item_ids = _load_ids(root / "item_ids.json", manifest.n_items)
    indptr, indices = _load_seen(root / "seen.npz", manifest.n_users, manifest.n_items)
    projector = _load_projector(root, manifest)
    projected = _load_projected(root, manifest)
    content = None
    if CONTENT_FILE in manifest.files:
        content = _load_matrix(root / CONTENT_FILE, (manifest.n_items, -1))
    return Bundle(
        path=root,
        manifest=manifest,
        digest=hashlib.sha256(raw).hexdigest(),
        users=users,
        items=items,
        user_ids=user_ids,
        item_ids=item_ids,
        seen_indptr=indptr,
        seen_indices=indices,
        projector=projector,
        projected=projected,
        content=content,
        item_projections=_load_optional(root, manifest, ITEM_PROJECTIONS_FILE, manifest.dim),
    )


def parse_manifest(raw: bytes) -> Manifest:
    """Parse manifest.json and check its format version and field types."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"manifest.json is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError("manifest.json must hold an object")
    version = data.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise BundleError(f"bundle format_version {version!r}; this reader reads {readable}")
    ignored = IGNORED_FILES.get(version, frozenset())
    try:
        modalities = {str(k): int(v) for k, v in sorted(dict(data.get("modalities", {})).items())}
        projector = dict(data.get("projector", {}))
        manifest = Manifest(
            format_version=version,
            model=str(data["model"]),
            dataset=str(data.get("dataset", "")),
            dim=int(data["dim"]),
            n_users=int(data["n_users"]),
            n_items=int(data["n_items"]),
            modalities=modalities,
            projector_hidden=int(projector.get("hidden", ProjectorConfig.hidden)),
            projector_dropout=float(projector.get("dropout", ProjectorConfig.dropout)),
            files={str(k): str(v) for k, v in dict(data["files"]).items() if k not in ignored},
            created_at=str(data.get("created_at", "")),
            code_version=str(data.get("code_version", "")),
            metrics=dict(data.get("metrics", {})),
            cold_start=dict(data.get("cold_start", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"manifest.json has a missing or malformed field: {exc}") from exc
    if manifest.dim < 1 or manifest.n_users < 0 or manifest.n_items < 0:
        raise BundleError("manifest.json: dim must be positive and counts non-negative")
    if any(d < 1 for d in manifest.modalities.values()):
        raise BundleError("manifest.json: every modality dimension must be positive")
    return manifest


def verify_files(root: Path, manifest: Manifest) -> None:
    """Every required file is listed and present, and every listed file matches its SHA-256."""
    required = list(REQUIRED_FILES) + ([PROJECTOR_FILE] if manifest.modalities else [])
    if manifest.format_version >= PROJECTED_VERSION:
        required.append(PROJECTED_FILE)
    missing = [name for name in required if name not in manifest.files]
    if missing:
        raise BundleError(f"manifest.json does not list {missing}")
    for name, expected in manifest.files.items():
        if Path(name).name != name:
            raise BundleError(f"manifest.json lists a file outside the bundle: {name!r}")
        path = root / name
        if not path.is_file():
            raise BundleError(f"bundle file {name} is missing")
        actual = sha256_file(path)
        if actual != expected.lower():
            raise BundleError(f"bundle file {name} was altered: sha256 {actual} != {expected}")


def _load_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise BundleError(f"{path.name}: not a plain numpy array ({exc})") from exc
    if arr.ndim != 2 or any(
        want not in (-1, got) for want, got in zip(shape, arr.shape, strict=True)
    ):
        raise BundleError(f"{path.name}: shape {list(arr.shape)}, manifest says {list(shape)}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise BundleError(f"{path.name}: holds non-finite values")
    return arr


def _load_optional(root: Path, manifest: Manifest, name: str, dim: int) -> np.ndarray | None:
    """An optional [n_items, dim] float32 file of the bundle; None when the manifest lists none."""
    if name not in manifest.files:
        return None
    return _load_matrix(root / name, (manifest.n_items, dim))


def _load_ids(path: Path, n: int) -> IdMap:
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{path.name}: not JSON ({exc})") from exc
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BundleError(f"{path.name}: must be a JSON list of strings")
    idmap = IdMap(ids)
    if len(ids) != n or len(idmap) != n:
        raise BundleError(f"{path.name}: {len(ids)} ids ({len(idmap)} distinct), manifest says {n}")
    return idmap


def _load_seen(path: Path, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            indptr = np.asarray(npz["indptr"], dtype=np.int64)
            indices = np.asarray(npz["indices"], dtype=np.int64)
    except (KeyError, ValueError) as exc:
        raise BundleError(f"seen.npz: needs plain arrays indptr and indices ({exc})") from exc
    ok = (
        indptr.shape == (n_users + 1,)
        and indptr[0] == 0
        and indptr[-1] == len(indices)
        and bool(np.all(np.diff(indptr) >= 0))
        and (len(indices) == 0 or (indices.min() >= 0 and indices.max() < n_items))
    )
    if not ok:
        raise BundleError("seen.npz: not a valid CSR over the bundle's users and items")
    return indptr, indices


def _load_projected(root: Path, manifest: Manifest) -> np.ndarray:
    """The projected item rows: int64 [m], sorted, distinct, within the items; empty when the
    bundle has none (formats 1 and 2)."""
    if PROJECTED_FILE not in manifest.files:
        return np.zeros(0, dtype=np.int64)
    try:
        rows = np.load(root / PROJECTED_FILE, allow_pickle=False)
    except ValueError as exc:
        raise BundleError(f"{PROJECTED_FILE}: not a plain numpy array ({exc})") from exc
    ok = (
        rows.ndim == 1
        and rows.dtype.kind in "iu"
        and (len(rows) == 0 or (rows.min() >= 0 and rows.max() < manifest.n_items))
        and bool(np.all(np.diff(rows) > 0))
    )
    if not ok:
        raise BundleError(f"{PROJECTED_FILE}: not sorted distinct item rows of the bundle")
    if len(rows) and not manifest.modalities:
        raise BundleError(f"{PROJECTED_FILE}: projected items in a bundle without a projector")
    out: np.ndarray = rows.astype(np.int64)
    return out


def _load_projector(root: Path, manifest: Manifest) -> ModalProjector | None:
    if not manifest.modalities:
        return None
    cfg = ProjectorConfig(hidden=manifest.projector_hidden, dropout=manifest.projector_dropout)
    projector = ModalProjector(manifest.modalities, manifest.dim, cfg)
    try:
        state = load_file(str(root / PROJECTOR_FILE))
        projector.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise BundleError(f"{PROJECTOR_FILE}: does not fit the manifest ({exc})") from exc
    projector.eval()
    return projector
