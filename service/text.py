"""The text encoder (MiniLM) that every bundle's featurizer shares: made once, and loaded while
the service starts (or before a hot swap) when a served bundle has a text modality it can feed,
so the first raw-text item after `/readyz` says ready does not wait seconds for it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from service.features import TEXT_MODALITY, Encoder

log = logging.getLogger(__name__)


class SharedEncoder:
    """A callable giving the one encoder `factory` makes (on the first call, thread-safe; a
    failed make is tried again by the next call).

    `dim`, when known without making the encoder (MiniLM: 384), limits loading ahead to bundles
    whose text modality has that many dims: another bundle cannot take raw text through it
    anyway (the featurizer refuses the item). None (a factory given to `create_app`): any
    bundle with a text modality.
    """

    def __init__(self, factory: Callable[[], Encoder], dim: int | None = None) -> None:
        self._factory = factory
        self.dim = dim
        self._made: Encoder | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self) -> Encoder:
        with self._lock:
            if self._made is None:
                self._made = self._factory()
            return self._made

    @property
    def loaded(self) -> bool:
        return self._made is not None

    def needed_by(self, modal_dims: dict[str, int]) -> bool:
        """Whether a bundle with these modalities takes raw text through this encoder."""
        text = modal_dims.get(TEXT_MODALITY)
        return text is not None and (self.dim is None or text == self.dim)

    def preload(self, modal_dims: dict[str, int], background: bool = False) -> None:
        """Make the encoder now if a bundle of `modal_dims` needs it and it is not made yet: in
        this thread, or with `background` in a thread that `wait()` joins (the start loads it
        while the bundle is indexed and Redis replayed). A failure is logged, not raised: the
        service serves without it and a raw-text item tries again."""
        if self._made is not None or not self.needed_by(modal_dims):
            return
        if self._thread is not None and self._thread.is_alive():
            return  # being made at start: the start waits for it
        if background:
            self._thread = threading.Thread(
                target=self._load, name="coldrec-text-encoder", daemon=True
            )
            self._thread.start()
        else:
            self._load()

    def wait(self) -> None:
        """Until a background load has finished (at once when there is none)."""
        if self._thread is not None:
            self._thread.join()

    def _load(self) -> None:
        started = time.monotonic()
        try:
            self()
        except Exception:
            log.exception("cannot load the text encoder: raw-text items will try again")
            return
        log.info("text encoder loaded in %.2f s", time.monotonic() - started)
