"""Start and stop the service's parts in order: bundle, Redis, index, state check and replay,
threads."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import faiss
import torch

from bundle.reader import load_bundle
from models.text_encoder import TextEncoder
from service.engine import Engine, build_catalogue
from service.errors import BundleError, StoreUnavailable
from service.features import Encoder, Featurizer
from service.follower import Follower
from service.keys import Keys
from service.metrics import Metrics
from service.settings import Settings
from service.state import claim, describe, embedded_path
from service.store import Store, connect

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """A running service: the engine plus what must be stopped with it."""

    engine: Engine
    follower: Follower
    close_redis: Callable[[], None]

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
        bundle = load_bundle(settings.bundle)
        path = None if settings.redis_url else embedded_path(settings, bundle.path)
        client, close = connect(settings.redis_url, path)
        try:
            store = Store(
                client,
                Keys(settings.namespace),
                on_error=lambda op: metrics.redis_errors.labels(op).inc(),
                stream_maxlen=settings.stream_maxlen,
            )
            featurizer = Featurizer(
                bundle.projector,
                bundle.manifest.modalities,
                encoder_factory or (lambda: TextEncoder().load()),
            )
            if settings.preload_text_encoder and "text" in bundle.manifest.modalities:
                featurizer.encoder()
            engine = Engine(
                bundle, build_catalogue(bundle, settings), store, featurizer, metrics, settings
            )
            sync = _syncer(engine, store, settings, describe(settings, path))
            start_id = _catch_up(sync, store, settings)
        except BaseException:
            close()
            raise
        metrics.track_index(engine.catalogue.sizes)  # type: ignore[arg-type]
        engine.batcher.start()
        engine.recent.start()
        follower = Follower(
            store, engine.apply_event, start_id, settings.follow_block_ms, on_gap=sync
        ).start()
        log.info("serving %s: %s", bundle.path, engine.catalogue.sizes())
        return cls(engine, follower, close)

    def stop(self) -> None:
        """Stop the follower and the batcher, then close Redis (stopping an embedded one)."""
        self.follower.stop()
        self.engine.batcher.stop()
        self.engine.recent.stop()  # writes what is queued while Redis is still open
        self.close_redis()


def _syncer(engine: Engine, store: Store, settings: Settings, where: str) -> Callable[[], None]:
    """Check that the state belongs to the bundle's dataset (service/state.py), then replay it:
    at start, and whenever the follower must rebuild (Redis back, a trimmed stream)."""
    manifest = engine.bundle.manifest
    bundle = {"model": manifest.model, "digest": engine.bundle.digest}

    def sync() -> None:
        claim(store, settings, where, manifest.dataset, bundle)
        engine.replay()

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
