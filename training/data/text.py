"""Item text -> MiniLM features, cached on disk outside the repo, keyed by the texts and encoder."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from models.text_encoder import TextEncoder

log = logging.getLogger(__name__)

CACHE_ENV = "COLDREC_CACHE_DIR"


class Encoder(Protocol):
    """What the cache needs from an encoder (TextEncoder, or a fake in tests)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def default_cache_dir() -> Path:
    """`$COLDREC_CACHE_DIR` when set, else `~/.cache/coldrec`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "coldrec"


def text_cache_key(texts: list[str], encoder_name: str, dim: int) -> str:
    """A sha256 over the encoder identity and every text, length-prefixed (no join collisions)."""
    h = hashlib.sha256()
    h.update(f"{encoder_name}\0{dim}\0{len(texts)}\0".encode())
    for text in texts:
        raw = text.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def encode_texts_cached(
    texts: list[str], cache_dir: Path | None = None, *, encoder: Encoder | None = None
) -> np.ndarray:
    """Encode `texts` (float32 [n, dim]), reusing `<cache_dir>/text/<key>.npy` when present.

    `cache_dir` None means `default_cache_dir()`. `encoder` defaults to MiniLM (`TextEncoder`),
    which is only loaded on a cache miss.
    """
    enc: Encoder = encoder if encoder is not None else TextEncoder()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / "text" / f"{text_cache_key(texts, enc.name, enc.dim)}.npy"
    cached = _read(path, (len(texts), enc.dim))
    if cached is not None:
        log.info("text features: cache hit %s", path)
        return cached
    log.info("text features: encoding %d texts with %s", len(texts), enc.name)
    feats = np.ascontiguousarray(enc.encode(list(texts)), dtype=np.float32)  # [n, dim]
    if feats.shape != (len(texts), enc.dim):
        raise ValueError(f"encoder returned {feats.shape}, expected {(len(texts), enc.dim)}")
    _write(path, feats)
    return feats


def _read(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached array, or None when absent, unreadable or of the wrong shape (re-encoded)."""
    if not path.is_file():
        return None
    try:
        arr: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable text cache %s: %s", path, exc)
        return None
    if arr.shape != shape or arr.dtype != np.float32:
        log.warning("ignoring text cache %s of shape %s", path, arr.shape)
        return None
    return arr


def _write(path: Path, feats: np.ndarray) -> None:
    """Write atomically (temp file + rename) so a concurrent reader never sees half a file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, feats, allow_pickle=False)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache must not fail the load
        log.warning("could not write text cache %s: %s", path, exc)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
