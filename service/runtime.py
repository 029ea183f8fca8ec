"""Start and stop the service's parts in order: bundle, Redis, index, state check and replay,
threads."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import torch

from bundle.reader import Bundle, load_bundle, parse_manifest, resolve_bundle_dir
from models.text_encoder import TextEncoder
from service.bundles import engine_factory, read_record
from service.engine import Engine
from service.errors import BundleError, StoreUnavailable
from service.features import Encoder
from service.follower import Follower
from service.keys import Keys
from service.metrics import Metrics
from service.redis_conn import connect
from service.rollout import Rollout
from service.settings import Settings
from service.state import claim, describe, embedded_path
from service.store import Store
from service.text import SharedEncoder

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """A running service: the bundles it serves (`rollout`) plus what must be stopped with it."""

    rollout: Rollout
    follower: Follower
    close_redis: Callable[[], None]

    @property
    def engine(self) -> Engine:
        """The active bundle's engine."""
        return self.rollout.active

    @classmethod
    def start(
        cls,
        settings: Settings,
        metrics: Metrics,
        encoder_factory: Callable[[], Encoder] | None = None,
    ) -> Runtime:
        """Everything in order; on a failure, what was opened is closed again."""
        if settings.bundle is None:
            raise BundleError("no bundle: set COLDREC_BUNDLE or pass --bundle")
        if settings.search_threads:
            torch.set_num_threads(settings.search_threads)
            faiss.omp_set_num_threads(settings.search_threads)
        root = resolve_bundle_dir(settings.bundle)
        path = None if settings.redis_url else embedded_path(settings, root)
        client, close = connect(
            settings.redis_url,
            path,
            settings.redis_socket_timeout_s,
            settings.redis_connect_timeout_s,
        )
        try:
            store = Store(
                client,
                Keys(settings.namespace),
                on_error=lambda op: metrics.redis_errors.labels(op).inc(),
                stream_maxlen=settings.stream_maxlen,
            )
            text = _text_encoder(encoder_factory)
            bundle = _starting_bundle(root, store)
            if settings.preload_text_encoder:  # beside the index build and the replay
                text.preload(bundle.manifest.modalities, background=True)
            build = engine_factory(store, metrics, settings, text)
            engine = build(bundle)
            rollout = Rollout(engine, build, store, metrics, settings)
            sync = _syncer(rollout, store, settings, describe(settings, path))
            start_id = _catch_up(sync, store, settings)
            text.wait()  # ready means the first raw-text item need not load it
        except BaseException:
            close()
            raise
        metrics.track_index(lambda: rollout.active.catalogue.sizes())  # type: ignore[arg-type,return-value]
        engine.batcher.start()
        engine.recent.start()
        follower = Follower(
            store, rollout.apply_event, start_id, settings.follow_block_ms, on_gap=sync
        ).start()
        rollout.start()
        log.info("serving %s: %s", engine.bundle.path, engine.catalogue.sizes())
        return cls(rollout, follower, close)

    def stop(self) -> None:
        """Stop the follower and the engines' threads, then close Redis (stopping an embedded
        one)."""
        self.follower.stop()
        self.rollout.stop()  # the recent writers write what is queued while Redis is open
        self.close_redis()


def _text_encoder(factory: Callable[[], Encoder] | None) -> SharedEncoder:
    """The encoder shared by every bundle: `factory`'s, else MiniLM (384 dims, known unloaded)."""
    if factory is not None:
        return SharedEncoder(factory)
    return SharedEncoder(lambda: TextEncoder().load(), dim=TextEncoder.dim)


def _starting_bundle(root: Path, store: Store) -> Bundle:
    """The bundle to start on: the one a rollout recorded in Redis (POST /admin/bundle), so a
    replica started later serves what the others serve; else, or if the recorded one is of
    another dataset than COLDREC_BUNDLE or cannot be loaded here, COLDREC_BUNDLE."""
    try:
        record = read_record(store)
    except StoreUnavailable:
        record = None  # Redis down at start: the follower picks the record up later
    raw = (root / "manifest.json").read_bytes()
    if record is not None and record.active.digest != hashlib.sha256(raw).hexdigest():
        if record.active.dataset == parse_manifest(raw).dataset:
            try:
                bundle = load_bundle(Path(record.active.path))
                if bundle.digest == record.active.digest:
                    log.info("starting on the recorded rollout's bundle %s", bundle.path)
                    return bundle
                log.warning(
                    "the recorded bundle %s has changed: serving COLDREC_BUNDLE", bundle.path
                )
            except (BundleError, OSError) as exc:
                log.warning("cannot load the recorded bundle (%s): serving COLDREC_BUNDLE", exc)
    return load_bundle(root)


def _syncer(rollout: Rollout, store: Store, settings: Settings, where: str) -> Callable[[], None]:
    """Check that the state belongs to the bundle's dataset (service/state.py), then replay it:
    at start, and whenever the follower must rebuild (Redis back, a trimmed stream)."""

    def sync() -> None:
        bundle = rollout.active.bundle
        about = {"model": bundle.manifest.model, "digest": bundle.digest}
        claim(store, settings, where, bundle.manifest.dataset, about)
        rollout.replay()

    return sync


def _catch_up(sync: Callable[[], None], store: Store, settings: Settings) -> str | None:
    """Note the stream's last id, then check and replay Redis; the id the follower starts after.

    Nothing falls between the two: events after the noted id are applied by the follower. When
    an external Redis is down at start, the service starts anyway on the bundle alone (reads
    only; `/readyz` 503) and returns None: the follower replays once Redis answers.
    """
    try:
        start_id = store.last_event_id()
        sync()
        return start_id
    except StoreUnavailable:
        if settings.redis_url is None:
            raise  # the embedded Redis is ours: failing to reach it is a real error
        log.warning("Redis is down at start: serving the bundle only until it answers")
        return None
