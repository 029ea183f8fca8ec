"""The words generator: seeded, readable texts tied to the tastes, users consume by taste, and
`synthetic:words` resolves to it with MiniLM text features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data.resolve import resolve_data
from training.data.synthetic_words import WordsData, item_text, words_data
from training.data.words_vocab import THEME_NAMES, THEMES


class FakeEncoder:
    """Counts of each theme's phrases in a text: a stand-in for MiniLM, exact and fast."""

    name = "fake-theme-counts"
    dim = len(THEMES)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for col, theme in enumerate(THEMES):
                out[row, col] = sum(p in text for p in theme.products + theme.related)
        return out


def _small(tmp_path: Path, **kw: float) -> WordsData:
    args: dict[str, float] = {"n_users": 200, "n_items": 150, **kw}
    return words_data(**args, encoder=FakeEncoder(), cache_dir=tmp_path)  # type: ignore[arg-type]


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    a, b, c = _small(tmp_path), _small(tmp_path), _small(tmp_path, seed=1)
    assert a.texts == b.texts and a.texts != c.texts
    for name in ("users", "items", "order"):
        np.testing.assert_array_equal(getattr(a.dataset, name), getattr(b.dataset, name))


def test_texts_read_as_products_of_the_item_theme(tmp_path: Path) -> None:
    w = words_data(n_users=100, n_items=300, encoder=FakeEncoder(), cache_dir=tmp_path)
    ds = w.dataset
    assert ds.stats()["modalities"] == {"text": len(THEMES)}
    assert w.themes == THEME_NAMES and len(w.texts) == ds.n_items
    np.testing.assert_allclose(w.item_taste.sum(1), 1.0)
    np.testing.assert_allclose(w.user_taste.sum(1), 1.0)
    for i, text in enumerate(w.texts):
        main = THEMES[int(np.argmax(w.item_taste[i]))]
        title = text.split(".")[0].lower()
        assert any(p.lower() in title for p in main.products), text  # the title's product
        assert text.endswith(".") and text[0].isupper()
    # The text features (theme phrase counts here) point at the main theme for most items.
    feats = ds.modalities["text"]
    agree = (feats.argmax(1) == w.item_taste.argmax(1)).mean()
    assert agree > 0.8, agree


def test_users_consume_items_of_their_taste(tmp_path: Path) -> None:
    w = words_data(n_users=300, n_items=400, encoder=FakeEncoder(), cache_dir=tmp_path)
    ds = w.dataset
    per_user = np.bincount(ds.users, minlength=ds.n_users)
    assert per_user.min() >= 8 and per_user.max() <= 30
    pairs = set(zip(ds.users.tolist(), ds.items.tolist(), strict=True))
    assert len(pairs) == ds.n_interactions
    same = w.user_taste.argmax(1)[ds.users] == w.item_taste.argmax(1)[ds.items]
    assert same.mean() > 0.6, same.mean()  # chance is 1 / 10
    bakers = w.users_of("baking")
    assert bakers and all(w.user_taste[ds.user_ids.index(u), 1] >= 0.8 for u in bakers)


def test_item_text_about_one_theme() -> None:
    text = item_text("jazz records", np.random.default_rng(0))
    jazz = THEMES[THEME_NAMES.index("jazz records")]
    others = [t for t in THEMES if t is not jazz]
    assert sum(p in text for p in jazz.products + jazz.related) >= 3, text
    assert not any(p in text for t in others for p in t.products + t.related), text
    with pytest.raises(ValueError, match="unknown theme"):
        item_text("opera", np.random.default_rng(0))


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_themes"):
        _small(tmp_path, n_themes=0)
    with pytest.raises(ValueError, match="min_per_user"):
        _small(tmp_path, min_per_user=5, max_per_user=4)


def test_resolve_synthetic_words_encodes_with_minilm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("COLDREC_CACHE_DIR", str(tmp_path))
    ds = resolve_data("synthetic:words,n_users=20,n_items=30,n_themes=3,seed=2")
    assert ds.name == "synthetic-words-2"
    assert ds.stats() == {
        "users": 20,
        "items": 30,
        "interactions": ds.n_interactions,
        "modalities": {"text": 384},
    }
    norms = np.linalg.norm(ds.modalities["text"], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)  # MiniLM rows are unit vectors
    assert resolve_data("synthetic:checkerboard").name.startswith("checkerboard")
