"""Generated shop data whose items have words: `synthetic:words[,key=value,...]`.

Every user and every item has a taste mixture over readable themes (`words_vocab.THEMES`:
outdoor gear, baking, jazz records, ...), mostly one theme, for some with a second one beside
it. Users consume items by their tastes, as `synthetic_dataset` does with latent factors:
one draw at a time, softmax(sharpness * u.v + popularity) over the items not yet drawn. An
item's text is written from its own mixture: a title (a descriptor and a product of its main
theme) and a description whose phrases come from themes drawn by the mixture (a share `noise`
from any theme). The text modality is that text encoded with MiniLM (384 dims, the encoder the
service uses for raw-text `POST /items`), so a new item described in words reaches the users
of its theme. Same seed, same data (texts, tastes, interactions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.idmap import IdMap
from training.data.dataset import Dataset
from training.data.text import Encoder, encode_texts_cached
from training.data.words_vocab import OPENERS, THEMES, Theme

WORDS = "words"


@dataclass(frozen=True)
class WordsData:
    """The generated dataset with what made it: item texts and the latent tastes.

    `user_taste` [n_users, n_themes] and `item_taste` [n_items, n_themes] are the mixtures over
    `themes` (rows sum to 1); `texts[i]` is item i's text (the dataset's item index order).
    """

    dataset: Dataset
    texts: tuple[str, ...]
    themes: tuple[str, ...]
    user_taste: np.ndarray
    item_taste: np.ndarray

    def users_of(self, theme: str, min_share: float = 0.8) -> list[str]:
        """External ids of the users whose taste is at least `min_share` of `theme`."""
        col = self.themes.index(theme)
        rows = np.flatnonzero(self.user_taste[:, col] >= min_share)
        return [self.dataset.user_ids.external(int(u)) for u in rows]


def item_text(theme: Theme | str, rng: np.random.Generator, n_phrases: int = 3) -> str:
    """A new item's text about one theme (a title and a description), e.g. for a demo request."""
    t = theme if isinstance(theme, Theme) else THEMES[_theme_index(theme)]
    mix = np.zeros(len(THEMES))
    mix[THEMES.index(t)] = 1.0
    return _write_text(mix, rng, noise=0.0, n_phrases=min(n_phrases, 8))


def words_data(
    n_users: int = 2000,
    n_items: int = 3000,
    n_themes: int = len(THEMES),
    min_per_user: int = 8,
    max_per_user: int = 30,
    user_mixed: float = 0.4,
    item_mixed: float = 0.3,
    sharpness: float = 5.0,
    popularity: float = 0.5,
    noise: float = 0.1,
    seed: int = 0,
    *,
    encoder: Encoder | None = None,
    cache_dir: Path | None = None,
) -> WordsData:
    """Generate the words dataset (see the module docstring).

    `n_themes` uses the first themes of `THEMES`; a share `user_mixed` of users (`item_mixed` of
    items) has a second theme beside its main one (see `_tastes`); each user draws
    `min_per_user`..`max_per_user` distinct items; `popularity` is the std of a per-item
    log-popularity (a signal the text does not carry); `noise` is the share of description
    phrases drawn from a random theme. Texts are encoded by `encoder` (default MiniLM) through
    the on-disk cache of `training.data.text`.
    """
    if not 1 <= n_themes <= len(THEMES):
        raise ValueError(f"n_themes must be 1..{len(THEMES)}")
    if not 1 <= min_per_user <= max_per_user <= n_items:
        raise ValueError("need 1 <= min_per_user <= max_per_user <= n_items")
    if not 0.0 <= noise <= 1.0:
        raise ValueError("noise must be in [0, 1]")
    rng = np.random.default_rng(seed)
    user_taste = _tastes(n_users, n_themes, user_mixed, rng)  # [U, T]
    item_taste = _tastes(n_items, n_themes, item_mixed, rng)  # [I, T]
    log_pop = popularity * rng.standard_normal(n_items)  # [I]
    counts = rng.integers(min_per_user, max_per_user + 1, size=n_users)  # [U]
    affinity = sharpness * (user_taste @ item_taste.T) + log_pop  # [U, I]
    # Gumbel top-k = sequential sampling without replacement, in draw order.
    keys = affinity + rng.gumbel(size=affinity.shape)  # [U, I]
    picks = [np.argsort(-keys[u], kind="stable")[: counts[u]] for u in range(n_users)]

    text_rng = np.random.default_rng([seed, 1])
    texts = tuple(_write_text(mix, text_rng, noise, n_themes) for mix in _pad(item_taste))
    feats = encode_texts_cached(list(texts), cache_dir, encoder=encoder)  # [I, 384]
    dataset = Dataset(
        name=words_name({"seed": seed}),
        user_ids=IdMap(f"u{u}" for u in range(n_users)),
        item_ids=IdMap(f"i{i}" for i in range(n_items)),
        users=np.repeat(np.arange(n_users, dtype=np.int64), counts),
        items=np.concatenate(picks).astype(np.int64),
        order=np.concatenate([np.arange(c, dtype=np.int64) for c in counts]),
        modalities={"text": feats},
    )
    names = tuple(t.name for t in THEMES[:n_themes])
    return WordsData(dataset, texts, names, user_taste, item_taste)


def words_name(kwargs: Mapping[str, object]) -> str:
    """The name of the dataset `words_data(**kwargs)` generates (its seed's)."""
    return f"synthetic-words-{kwargs.get('seed', 0)}"


def words_dataset(**kwargs: int | float) -> Dataset:
    """`words_data(**kwargs).dataset`: what `resolve_data("synthetic:words,...")` returns."""
    return words_data(**kwargs).dataset  # type: ignore[arg-type]


def _tastes(n: int, n_themes: int, mixed: float, rng: np.random.Generator) -> np.ndarray:
    """Mixtures [n, n_themes]: a uniform main theme; for a share `mixed`, a second theme
    weighing 0.15-0.45 (the main one keeps the rest)."""
    rows = np.arange(n)
    main = rng.integers(n_themes, size=n)  # [n]
    second = (main + rng.integers(1, max(n_themes, 2), size=n)) % n_themes  # [n], != main
    weight = np.where(rng.random(n) < mixed, rng.uniform(0.15, 0.45, size=n), 0.0)  # [n]
    taste = np.zeros((n, n_themes))
    taste[rows, main] = 1.0 - weight
    taste[rows, second] += weight
    return taste


def _pad(taste: np.ndarray) -> np.ndarray:
    """Mixtures over the first themes -> over all of `THEMES` (zeros for the unused ones)."""
    out = np.zeros((len(taste), len(THEMES)))
    out[:, : taste.shape[1]] = taste
    return out


def _theme_index(name: str) -> int:
    names = [t.name for t in THEMES]
    if name not in names:
        raise ValueError(f"unknown theme {name!r}; themes are {names}")
    return names.index(name)


def _write_text(
    mix: np.ndarray,
    rng: np.random.Generator,
    noise: float,
    n_themes: int = len(THEMES),
    n_phrases: int | None = None,
) -> str:
    """`Title. Opener a, b and c.`: the title from the main theme, phrases drawn by `mix`
    (over all of `THEMES`), a share `noise` of them from any theme of the first `n_themes`."""
    main = THEMES[int(np.argmax(mix))]
    title = f"{_pick(main.descriptors, rng)} {_pick(main.products, rng)}"
    count = int(rng.integers(3, 6)) if n_phrases is None else n_phrases
    phrases: list[str] = []
    while len(phrases) < count:
        if rng.random() < noise:
            theme = THEMES[int(rng.integers(n_themes))]  # noise: any theme in play
        else:
            theme = THEMES[int(rng.choice(len(mix), p=mix))]
        pool = theme.related + theme.products
        phrase = _pick(pool, rng)
        if phrase not in phrases and phrase not in title:
            phrases.append(phrase)
    body = ", ".join(phrases[:-1]) + f" and {phrases[-1]}" if len(phrases) > 1 else phrases[0]
    return f"{title[0].upper()}{title[1:]}. {_pick(OPENERS, rng)} {body}."


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]
