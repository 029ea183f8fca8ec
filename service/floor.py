"""The content floor in the service (issue 13): rank by s_model + w * cos(profile, content).

The score is `models.content_floor`'s, the one the offline evaluation chose w by and measured
(training/evaluation/content_floor.py): an inner product of augmented rows. So the index holds
every item as [e_i, sqrt(w) c_i] (`FloorCatalogue`: the model part in, the augmented row
stored, the model part out again for warm-up and online users' means) and a user asks with
[e_u, sqrt(w) p_u] (`ContentFloor.query`), where p_u is the normalised mean content of the items
the user has: the bundle's training items (the evaluation's profile) and every item they took
online since, so it is kept up to date by the seen sets the engine already keeps.

Item content: bundle rows from the bundle's content.npy; a registered item's from its features
(`record_content`: raw text through the text encoder, as the projector gets it), appended by the
featurizer to the projection, so the row written to Redis and the stream for this bundle
carries it, and replicas, restarts and replays learn it from there (`ContentFloor.take`). A
bundle without the floor (older, or validation turned it off) keeps the model's rows alone:
every method here is then the identity.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from bundle.reader import Bundle
from models.content_floor import FloorConfig, content_vectors, item_rows, profile, user_rows
from service.errors import BundleError
from service.index import Catalogue, Hit, Kind, KindIndex, Query


def floor_config(bundle: Bundle) -> FloorConfig | None:
    """The floor `bundle` asks for (None: none), checked against its content and modalities."""
    try:
        cfg = FloorConfig.from_manifest(bundle.manifest.cold_start)
    except (TypeError, ValueError, KeyError) as exc:
        raise BundleError(f"manifest.json cold_start: {exc}") from exc
    if cfg is None:
        return None
    if bundle.content is None:
        raise BundleError("manifest.json cold_start asks for the content floor: no content.npy")
    dims = bundle.manifest.modalities
    if any(m not in dims for m in cfg.source) or bundle.content.shape[1] != sum(
        dims[m] for m in cfg.source
    ):
        raise BundleError(f"content.npy does not hold {cfg.source} of modalities {dims}")
    return cfg


def record_content(
    features: list[dict[str, np.ndarray]], cfg: FloorConfig, dims: dict[str, int]
) -> np.ndarray:
    """float32 [n, dc]: the content vectors of n items from their features (each a dict of the
    modalities it came with), `models.content_floor.content_vectors` row by row."""
    if not features:
        return np.zeros((0, sum(dims[m] for m in cfg.source)), np.float32)
    rows = [
        content_vectors({k: v[None, :] for k, v in f.items()}, cfg.source, dims) for f in features
    ]
    return np.concatenate(rows, axis=0)


class ContentFloor:
    """One bundle's floor: its constants and the content of every item of its engine, by
    internal id (bundle rows first, registered items after, as the engine's `IdMap`)."""

    def __init__(self, cfg: FloorConfig | None, dim: int, content: np.ndarray | None) -> None:
        self.cfg = cfg
        self.dim = dim  # the model's embedding dimension
        self.cdim = 0 if cfg is None or content is None else int(content.shape[1])
        self._content = np.zeros((0, self.cdim), np.float32) if content is None else content
        self._lock = threading.Lock()  # guards growing and writing `_content`

    @classmethod
    def of(cls, bundle: Bundle) -> ContentFloor:
        cfg = floor_config(bundle)
        content = None if cfg is None else np.array(bundle.content, np.float32)
        return cls(cfg, bundle.manifest.dim, content)

    @property
    def index_dim(self) -> int:
        """Width of the index rows: the model's dim plus the content's (0 without a floor)."""
        return self.dim + self.cdim

    def item_rows(self, items: np.ndarray, vectors: np.ndarray, kind: Kind) -> np.ndarray:
        """Index rows [m, index_dim] of `items` [m] with model vectors [m, dim]."""
        if self.cfg is None:
            return vectors
        floored = self.cfg.items == "all" or kind == "cold"
        return item_rows(vectors, self._rows(items), self.cfg.weight, floored)

    def take(self, items: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Learn the content of `items` [m] from their rows for this bundle (projection, then
        content; a row of the model's width alone leaves what is known) and return the model
        part [m, dim]."""
        rows = np.asarray(rows, np.float32)
        if self.cfg is not None and rows.shape[1] == self.index_dim and len(items):
            with self._lock:
                need = int(np.max(items)) + 1
                if need > len(self._content):
                    grown = np.zeros((max(need, 2 * len(self._content)), self.cdim), np.float32)
                    grown[: len(self._content)] = self._content
                    self._content = grown
                self._content[np.asarray(items, np.int64)] = rows[:, self.dim :]
        return rows[:, : self.dim]

    def query(self, vector: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The query row [index_dim] of a user with model vector [dim] who has `items` (the
        internal ids of their training and online items)."""
        if self.cfg is None:
            return vector
        return user_rows(vector, profile(self._rows(items)), self.cfg.weight)

    def _rows(self, items: np.ndarray) -> np.ndarray:
        """Content rows [m, cdim] of `items` (zeros for an item it never learnt)."""
        items = np.asarray(items, np.int64)
        with self._lock:
            known = items < len(self._content)
            out = np.zeros((len(items), self.cdim), np.float32)
            out[known] = self._content[items[known]]
        return out


class FloorCatalogue(Catalogue):
    """The catalogue whose index rows carry the floor's content part: upserts take model
    vectors [m, dim] and store `ContentFloor.item_rows`; `vectors` gives the model part back;
    a search asks with each query's `ContentFloor.query` row, the profile made of the query's
    `exclude`: the engine excludes exactly the user's items (training and online ones)."""

    def __init__(self, warm: KindIndex, cold: KindIndex, floor: ContentFloor) -> None:
        super().__init__(warm, cold)
        self.floor = floor

    def upsert(self, items: np.ndarray, vectors: np.ndarray, kind: Kind) -> None:
        super().upsert(items, self.floor.item_rows(np.asarray(items), vectors, kind), kind)

    def vectors(self, items: list[int]) -> np.ndarray:
        return super().vectors(items)[:, : self.floor.dim]

    def search(self, queries: list[Query]) -> list[list[Hit]]:
        if self.floor.cfg is not None:
            queries = [
                q
                if len(q.vector) != self.floor.dim
                else replace(q, vector=self.floor.query(q.vector, q.exclude))
                for q in queries
            ]
        return super().search(queries)


def model_part(catalogue: Catalogue, items: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The model part [m, dim] of rows a featurizer made for `catalogue`'s bundle (projection,
    then content under a floor, which learns it here): what the warm-up turns and stores."""
    return catalogue.floor.take(items, rows) if isinstance(catalogue, FloorCatalogue) else rows


def row_dim(catalogue: Catalogue, dim: int) -> int:
    """Width of the rows a featurizer makes for `catalogue`'s bundle of model dim `dim` (what
    Redis caches and the stream carries for it): the index's width under a floor, else `dim`."""
    return catalogue.floor.index_dim if isinstance(catalogue, FloorCatalogue) else dim
