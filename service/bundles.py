"""Bundles as a rollout sees them: what names one (`BundleInfo`), the rollout record every
replica follows (`Keys.rollout`, with a `bundle` event on the stream), the checks a second
bundle must pass to serve the same live state, and building an engine over a loaded bundle."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bundle.reader import Bundle, load_bundle, resolve_bundle_dir
from service.cold_edges import edges_for
from service.engine import Engine, build_catalogue
from service.errors import BundleError, BundleRefused
from service.features import Featurizer
from service.floor import floor_config
from service.metrics import Metrics
from service.settings import Settings
from service.store import Store
from service.text import SharedEncoder


@dataclass(frozen=True)
class BundleInfo:
    """What names a bundle: its directory, the SHA-256 of its manifest.json and the manifest's
    model, dataset and creation time."""

    path: str
    digest: str
    model: str
    dataset: str
    created_at: str
    dim: int

    @classmethod
    def of(cls, bundle: Bundle) -> BundleInfo:
        m = bundle.manifest
        path = str(bundle.path.resolve())
        return cls(path, bundle.digest, m.model, m.dataset, m.created_at, m.dim)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> BundleInfo:
        return cls(
            str(data["path"]),
            str(data["digest"]),
            str(data.get("model", "")),
            str(data.get("dataset", "")),
            str(data.get("created_at", "")),
            int(data.get("dim", 0)),
        )


@dataclass(frozen=True)
class Record:
    """What every replica should serve: the active bundle, and an A/B candidate with its share
    of users (0 to 1) or none."""

    active: BundleInfo
    candidate: BundleInfo | None = None
    share: float = 0.0

    def to_json(self, replica: str) -> str:
        body = {**asdict(self), "updated_at": time.time(), "by": replica}
        return json.dumps(body, sort_keys=True)

    @classmethod
    def parse(cls, raw: bytes | str) -> Record:
        data = json.loads(raw)
        cand = data.get("candidate")
        return cls(
            BundleInfo.parse(data["active"]),
            BundleInfo.parse(cand) if cand else None,
            float(data.get("share", 0.0)),
        )


def read_record(store: Store) -> Record | None:
    """The recorded rollout; None when no bundle was ever rolled out on this state."""
    raw = store._call("rollout", lambda: store.client.get(store.keys.rollout))  # noqa: SLF001
    if not raw:
        return None
    try:
        return Record.parse(raw)
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: as if none (a new rollout writes a good one)


def publish(store: Store, record: Record, replica: str, maxlen: int) -> None:
    """Record the rollout and announce it on the stream, in one MULTI/EXEC."""

    def run() -> None:
        pipe = store.client.pipeline(transaction=True)
        pipe.set(store.keys.rollout, record.to_json(replica))
        event = {"type": "bundle", "origin": replica, "ts": repr(time.time())}
        pipe.xadd(store.keys.events, event, maxlen=maxlen, approximate=True)
        pipe.execute()

    store._call("rollout", run)  # noqa: SLF001


def peek_digest(path: str | Path) -> str:
    """The digest of the bundle at `path` (a bundle or run directory) without loading it."""
    try:
        root = resolve_bundle_dir(Path(path))
        return hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()
    except (OSError, ValueError) as exc:  # e.g. a NUL byte in the path
        raise BundleRefused(f"cannot read a bundle at {str(path)[:300]!r}: {exc}") from exc
    except BundleError as exc:
        raise BundleRefused(str(exc)) from exc


def load_beside(path: str | Path, serving: Bundle) -> Bundle:
    """Load and verify the bundle at `path` and check that it can serve `serving`'s live state:
    the same dataset (the registered items and interactions are that catalogue's) and the same
    modalities with the same feature dimensions (registered items' raw features must fit its
    projector). The embedding dimension may differ: each bundle has its own index."""
    try:
        bundle = load_bundle(Path(path))
    except (OSError, ValueError) as exc:
        raise BundleRefused(f"cannot load a bundle from {str(path)[:300]!r}: {exc}") from exc
    except BundleError as exc:
        raise BundleRefused(f"cannot load the bundle at {str(path)[:300]!r}: {exc}") from exc
    new, old = bundle.manifest, serving.manifest
    if new.dataset != old.dataset:
        raise BundleRefused(
            f"the bundle at {bundle.path} is of dataset {new.dataset!r}, the live state of "
            f"{old.dataset!r}: its registered items and interactions belong to another catalogue"
        )
    if new.modalities != old.modalities:
        raise BundleRefused(
            f"the bundle at {bundle.path} takes modalities {new.modalities}, the serving one "
            f"{old.modalities}: registered items' features would not fit its projector"
        )
    return bundle


def engine_factory(
    store: Store, metrics: Metrics, settings: Settings, encoder: SharedEncoder
) -> Callable[[Bundle], Engine]:
    """Build an engine (its index filled from the bundle, Redis not yet replayed) per bundle;
    every bundle's featurizer shares `encoder`, loaded first when the bundle needs it and it is
    not loaded yet (a hot swap to a bundle with text: before the swap, not on the first item)."""

    def build(bundle: Bundle) -> Engine:
        if settings.preload_text_encoder:
            encoder.preload(bundle.manifest.modalities)
        featurizer = Featurizer(
            bundle.projector,
            bundle.manifest.modalities,
            encoder,
            encoder.dim,
            edges_for(bundle),
            floor=floor_config(bundle),  # rows carry the content floor's part (service/floor.py)
        )
        catalogue = build_catalogue(bundle, settings)
        return Engine(bundle, catalogue, store, featurizer, metrics, settings)

    return build
