"""Text features: the disk cache (with a fake encoder) and one real MiniLM encode."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from models.text_encoder import TextEncoder, TextEncoderUnavailable
from training.data.text import default_cache_dir, encode_texts_cached, text_cache_key


class CountingEncoder:
    """Deterministic 4-d vectors from a hash of each text; counts how often it runs."""

    name = "fake"
    dim = 4

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        seeds = [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little") for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(4) for s in seeds]).astype(
            np.float32
        )


def test_second_call_is_a_cache_hit(tmp_path: Path) -> None:
    enc = CountingEncoder()
    texts = ["red lipstick", "hand cream", ""]
    first = encode_texts_cached(texts, tmp_path, encoder=enc)
    second = encode_texts_cached(texts, tmp_path, encoder=enc)
    assert enc.calls == 1
    assert first.shape == (3, 4) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert len(list((tmp_path / "text").glob("*.npy"))) == 1
    encode_texts_cached(["hand cream", "red lipstick", ""], tmp_path, encoder=enc)
    assert enc.calls == 2  # another order is another key


def test_key_depends_on_texts_and_encoder() -> None:
    base = text_cache_key(["a b", "c"], "fake", 4)
    assert base == text_cache_key(["a b", "c"], "fake", 4)
    assert base != text_cache_key(["a", "b c"], "fake", 4)
    assert base != text_cache_key(["a b", "c"], "other", 4)
    assert base != text_cache_key(["a b", "c"], "fake", 8)


def test_corrupt_cache_file_is_re_encoded(tmp_path: Path) -> None:
    enc = CountingEncoder()
    encode_texts_cached(["x"], tmp_path, encoder=enc)
    (cached,) = (tmp_path / "text").glob("*.npy")
    cached.write_bytes(b"not an npy file")
    out = encode_texts_cached(["x"], tmp_path, encoder=enc)
    assert enc.calls == 2 and out.shape == (1, 4)


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLDREC_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    enc = CountingEncoder()
    encode_texts_cached(["y"], None, encoder=enc)
    assert len(list((tmp_path / "c" / "text").glob("*.npy"))) == 1
    monkeypatch.delenv("COLDREC_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "coldrec"


def test_encoder_constructor_does_no_io(tmp_path: Path) -> None:
    enc = TextEncoder(model_path=tmp_path / "missing")
    assert not enc.loaded and enc.dim == 384
    assert enc.encode([]).shape == (0, 384)  # nothing to encode: still nothing loaded
    assert not enc.loaded
    with pytest.raises(TextEncoderUnavailable):
        enc.load()


def test_minilm_encodes_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one real model load (~5 s): bundled weights, unit 384-d rows, meaningful geometry."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # restored after the test
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    enc = TextEncoder()
    out = enc.encode(["red lipstick", "pink lip gloss", "120 grit sanding roll"])
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    sim = out @ out.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[1, 2]
