"""The engine: registrations, recommendations and interactions over the bundle, index and Redis.

Unknown users (no bundle embedding, no online interactions) get the fallback: the items ranked
for the mean of all trained user embeddings, i.e. what appeals to the average user, with
`source: "fallback"`. A user known only through online interactions is the mean of the
embeddings of the items they interacted with (`source: "interactions"`).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from bundle.reader import Bundle
from models.idmap import IdMap
from service.batcher import SearchBatcher
from service.errors import InvalidRequest, UnknownItem
from service.features import Featurizer, check_features
from service.floor import ContentFloor, FloorCatalogue
from service.index import KINDS, Catalogue, Hit, Kind, KindIndex, Pool, Query
from service.metrics import Metrics
from service.recent import Recent, RecentWriter
from service.replay import replay_state
from service.search import make_backend, resolve_device
from service.settings import Settings
from service.store import ItemRecord, Store, stream_version
from service.variants import CONTROL, remember_candidate_lists
from service.warmup import Warmup


@dataclass
class NewItem:
    """A registration as the engine takes it: features by modality, or raw text."""

    item_id: str
    features: dict[str, list[float]] | None = None
    text: str | None = None


@dataclass(frozen=True)
class Scored:
    item_id: str
    score: float
    cold: bool


@dataclass(frozen=True)
class Recommendations:
    user_id: str
    source: str  # "user" | "interactions" | "fallback"
    pool: Pool
    items: list[Scored]


@dataclass(frozen=True)
class ItemView:
    item_id: str
    kind: Kind
    source: str  # "bundle" | "features" | "text"
    modalities: list[str]
    registered_at: float | None
    version: str = ""  # the stream id of the write that made it (registrations)
    warmth: tuple[int, float] | None = None  # cold items: (takers counted, weight); warmup.py


def build_catalogue(bundle: Bundle, settings: Settings) -> Catalogue:
    """The bundle's items in an index of the configured type and device: trained items warm,
    projected ones (docs/BUNDLE.md) cold, as if registered; rows with the content floor's part."""
    floor = ContentFloor.of(bundle)
    rows = np.arange(bundle.manifest.n_items, dtype=np.int64)
    kinds = []
    for kind in KINDS:
        backend = make_backend(
            settings.index_type,
            resolve_device(settings.index_device),
            floor.index_dim,
            floor.item_rows(rows, bundle.items, "cold"),  # what IVF and sq8 train on
            settings.ivf_nlist,
            settings.ivf_nprobe,
            settings.index_precision,
            settings.index_oversample,
        )
        kinds.append(KindIndex(kind, floor.index_dim, backend, settings.compact_after))
    catalogue = FloorCatalogue(kinds[0], kinds[1], floor)
    if not len(bundle.projected):
        catalogue.upsert(rows, bundle.items, "warm")
        return catalogue
    trained = np.setdiff1d(rows, bundle.projected, assume_unique=True)
    catalogue.upsert(trained, bundle.items[trained], "warm")
    catalogue.upsert(bundle.projected, bundle.items[bundle.projected], "cold")
    return catalogue


class Engine:
    """Everything a route does, with typed errors; Redis is written before the index."""

    def __init__(
        self,
        bundle: Bundle,
        catalogue: Catalogue,
        store: Store,
        featurizer: Featurizer,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.bundle = bundle
        self.catalogue = catalogue
        self.store = store
        self.featurizer = featurizer
        self.metrics = metrics
        self.settings = settings
        self.origin = uuid.uuid4().hex  # this replica, so it skips its own stream events
        self.item_ids = IdMap(bundle.item_ids.ids)  # bundle rows first; new items appended
        self.online_seen: dict[str, set[int]] = {}
        # item -> stream id of the write the index holds: a replica applies a write only if it is
        # newer, so replicas converge whatever order local writes and stream events arrive in.
        self._versions: dict[int, tuple[int, int]] = {}
        self._lock = threading.Lock()  # guards item_ids, _versions, index writes
        self._seen_lock = threading.Lock()  # guards online_seen (never held across other work)
        users = bundle.users if len(bundle.users) else bundle.items
        self.mean_user = users.mean(axis=0).astype(np.float32)  # [dim], the fallback user
        self.batcher = SearchBatcher(self._search, settings.max_search_batch)
        self.recent = RecentWriter(self._write_recent)
        self.synced = False  # True once Redis has been replayed (False: the bundle alone)
        self.variant = CONTROL  # the A/B arm this engine serves (service/variants.py)
        self.warmup = Warmup(  # cold items move toward their takers (service/warmup.py)
            catalogue, bundle.users, bundle.user_ids, settings.warmup_k0, settings.warmup
        )

    def _search(self, queries: list[Query]) -> list[list[Hit]]:
        self.metrics.search_batch.observe(len(queries))
        return self.catalogue.search(queries)

    # -- items ---------------------------------------------------------------------------------
    def register(
        self, items: list[NewItem], received_at: float, peers: Sequence[Engine] = ()
    ) -> list[ItemView]:
        """Validate, project, write to Redis, then index (here and in `peers`, the other bundles
        this replica serves, each with its own projection): servable on return."""
        ids = [it.item_id for it in items]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("a batch names the same item id twice")
        records = [self._record(it, received_at) for it in items]
        embeddings = self.featurizer.embed(records)  # [n, dim]
        versions = self.store.save_items(records, embeddings, self.bundle.digest, self.origin)
        self.index_cold(ids, embeddings, versions)
        for peer in peers:
            peer.index_cold(ids, peer.featurizer.embed(records), versions)
        self.metrics.registered.inc(len(items))
        self.metrics.servable_latency.labels("local").observe(time.time() - received_at)
        return [replace(self._view(r), version=v) for r, v in zip(records, versions, strict=True)]

    def index_cold(self, ids: list[str], embeddings: np.ndarray, versions: list[str]) -> None:
        """Upsert cold items whose write (stream id) is newer than what the index holds."""
        with self._lock:
            internal = np.asarray([self.item_ids.add(i) for i in ids], dtype=np.int64)
            keep = [j for j, v in enumerate(versions) if self._claim(int(internal[j]), v)]
            self.warmup.upsert(internal[keep], embeddings[keep])

    def _record(self, item: NewItem, now: float) -> ItemRecord:
        if (item.features is None) == (item.text is None):
            raise InvalidRequest(f"item {item.item_id!r}: give either features or text")
        if item.text is not None:
            self.featurizer.check_text(item.item_id, item.text)
            return ItemRecord(item.item_id, text=item.text, registered_at=now)
        feats = check_features(item.item_id, item.features or {}, self.featurizer.modal_dims)
        return ItemRecord(item.item_id, features=feats, registered_at=now)

    @staticmethod
    def _view(rec: ItemRecord) -> ItemView:
        source = "text" if rec.text is not None and not rec.features else "features"
        mods = ["text"] if source == "text" else sorted(rec.features)
        return ItemView(rec.item_id, "cold", source, mods, rec.registered_at)

    def get_item(self, item_id: str) -> ItemView:
        kind = self._kind(item_id)
        if kind == "warm":
            return ItemView(item_id, "warm", "bundle", list(self.bundle.manifest.modalities), None)
        warmth = self.warmup.warmth(self.item_ids.index(item_id))
        rec = self.store.load_item(item_id)
        if rec is not None:
            return replace(self._view(rec), warmth=warmth)
        row = self.bundle.item_ids.get(item_id)
        if row is not None and self.bundle.is_projected(row):  # cold in the bundle itself
            mods = list(self.bundle.manifest.modalities)
            return ItemView(item_id, "cold", "bundle", mods, None, warmth=warmth)
        raise UnknownItem(f"item {item_id!r} has no record in Redis")

    def delete_item(self, item_id: str, peers: Sequence[Engine] = ()) -> None:
        """Retire an item (bundle or registered): it is never recommended again."""
        self._kind(item_id)
        version = self.store.retire(item_id, self.bundle.digest, self.origin)
        for engine in (self, *peers):
            engine.remove(item_id, version)
        self.metrics.retired.inc()

    def remove(self, item_id: str, version: str) -> None:
        """Take an item out of the index if `version` is newer than what the index holds."""
        with self._lock:
            idx = self.item_ids.get(item_id)
            if idx is not None and self._claim(idx, version):
                self.catalogue.remove(idx)

    def _claim(self, item: int, version: str) -> bool:
        """Record `version` for `item` if it is newer than what the index holds (lock held)."""
        v = stream_version(version)
        if self._versions.get(item, (-1, -1)) >= v:
            return False
        self._versions[item] = v
        return True

    def _kind(self, item_id: str) -> Kind:
        internal = self.item_ids.get(item_id)
        kind = None if internal is None else self.catalogue.kind_of(internal)
        if kind is None:
            raise UnknownItem(f"no servable item {item_id!r}")
        return kind

    # -- recommendations -----------------------------------------------------------------------
    def user_vector(self, user_id: str) -> tuple[np.ndarray, str, np.ndarray]:
        """(embedding [dim], source, excluded internal item ids) for `user_id`."""
        row = self.bundle.user_ids.get(user_id)
        online = self._online(user_id)
        trained = self.bundle.seen(row) if row is not None else np.zeros(0, np.int64)
        exclude = np.union1d(trained, online) if online else trained  # the common case: no copy
        if row is not None:
            return self.bundle.users[row], "user", exclude
        if online:
            vectors = self.catalogue.vectors(online)  # [m, dim]
            if len(vectors):
                return vectors.mean(axis=0).astype(np.float32), "interactions", exclude
        return self.mean_user, "fallback", exclude

    def _online(self, user_id: str) -> list[int]:
        with self._seen_lock:
            return sorted(self.online_seen.get(user_id, ()))

    def recommend(self, user_id: str, k: int, pool: Pool) -> Recommendations:
        """Blocking: top-k for `user_id` (searched with whatever else is waiting)."""
        vector, source, exclude = self.user_vector(user_id)
        hits = self.batcher.search(Query(vector, k, pool, exclude))
        return self._answer(user_id, source, pool, hits)

    async def recommend_async(self, user_id: str, k: int, pool: Pool) -> Recommendations:
        """`recommend` for the event loop: only the search runs off it, on the batcher thread.

        A user known only online needs their items' vectors from the index, whose lock a running
        search or compaction may hold: that one case is worked out in a thread.
        """
        if self.bundle.user_ids.get(user_id) is None and self._online(user_id):
            vector, source, exclude = await asyncio.to_thread(self.user_vector, user_id)
        else:
            vector, source, exclude = self.user_vector(user_id)
        hits = await asyncio.wrap_future(self.batcher.submit(Query(vector, k, pool, exclude)))
        return self._answer(user_id, source, pool, hits)

    def _answer(self, user_id: str, source: str, pool: Pool, hits: list[Hit]) -> Recommendations:
        names = self.item_ids.externals(h.item for h in hits)
        items = [
            Scored(name, h.score, h.kind == "cold") for name, h in zip(names, hits, strict=True)
        ]
        n_cold = sum(1 for h in hits if h.kind == "cold")
        if n_cold:
            self.metrics.recommended.labels("cold", self.variant).inc(n_cold)
        if len(hits) > n_cold:
            self.metrics.recommended.labels("warm", self.variant).inc(len(hits) - n_cold)
        if names:  # remembered for hit counting, behind the response (service/recent.py)
            self.recent.submit(Recent(user_id, names, time.time()))
        return Recommendations(user_id, source, pool, items)

    def _write_recent(self, lists: list[Recent]) -> None:
        s = self.settings
        self.store.remember_many(
            [(r.user, r.items, r.ts) for r in lists], s.recent_recs, s.recent_ttl_s
        )
        if self.variant != CONTROL:  # which arm served the list, for hits (service/variants.py)
            remember_candidate_lists(self.store, lists, s.recent_ttl_s)

    # -- interactions --------------------------------------------------------------------------
    def interact(
        self,
        pairs: list[tuple[str, str]],
        events: list[str] | None = None,
        served: list[str] | None = None,
        peers: Sequence[Engine] = (),
    ) -> list[tuple[str, str, bool, Kind | None]]:
        """Record (user, item) pairs and their event kinds (stored, default "click"); returns
        (user, item, hit, kind) for each. `served`: the variant whose list held each item (a hit
        is credited to it, with the item's kind there); `peers` note the interactions too."""
        internal = []
        for _, item_id in pairs:
            idx = self.item_ids.get(item_id)
            if idx is None:
                raise UnknownItem(f"interaction with unknown item {item_id!r}")
            internal.append(idx)
        self.recent.flush()  # the lists of recommendations this replica answered are in Redis
        hits = self.store.record_interactions(pairs, self.origin, time.time(), events)
        arms = {e.variant: e for e in (*peers, self)}
        out = []
        for n, ((user, item_id), idx, hit) in enumerate(zip(pairs, internal, hits, strict=True)):
            self._add_seen(user, idx)
            for peer in peers:
                peer.note_seen(user, item_id)
            kind = self.catalogue.kind_of(idx)
            self.metrics.interactions.labels(kind or "retired").inc()
            variant = served[n] if served else self.variant
            arm = arms.get(variant, self)
            if arm is not self and kind is not None:
                kind = arm.kind_of(item_id) or kind
            if hit and kind is not None:
                self.metrics.hits.labels(kind, variant).inc()
            out.append((user, item_id, hit, kind))
        for engine in (self, *peers):
            engine.warm_up(pairs)
        return out

    def warm_up(self, pairs: list[tuple[str, str]]) -> None:
        """Count (user, item) interactions toward their cold items' warm-up (service/warmup.py)."""
        known = [(self.item_ids.get(item), user) for user, item in pairs]
        self.warmup.took_many([(idx, user) for idx, user in known if idx is not None])

    def kind_of(self, item_id: str) -> Kind | None:
        """The item's kind in this engine's index (None: unknown or retired)."""
        idx = self.item_ids.get(item_id)
        return None if idx is None else self.catalogue.kind_of(idx)

    def note_seen(self, user: str, item_id: str) -> None:
        """Exclude `item_id` from `user`'s recommendations (an interaction taken elsewhere)."""
        idx = self.item_ids.get(item_id)
        if idx is not None:
            self._add_seen(user, idx)

    def _add_seen(self, user: str, item: int) -> None:
        with self._seen_lock:
            self.online_seen.setdefault(user, set()).add(item)

    # -- replay and replication ----------------------------------------------------------------
    def replay(self) -> None:
        """Rebuild what happened after training from Redis (service/replay.py)."""
        replay_state(self)
        with self._seen_lock:
            seen = [(i, u) for u, items in self.online_seen.items() for i in items]
        self.warmup.took_many(seen)  # the takers are the seen sets: recomputed for this bundle
        self.synced = True

    def add_cold(self, ids: list[str], embeddings: np.ndarray) -> None:
        """Index items as cold without a version (a replay of Redis)."""
        with self._lock:
            internal = np.asarray([self.item_ids.add(i) for i in ids], np.int64)
        self.warmup.upsert(internal, embeddings)

    def apply_event(self, event_id: str, fields: dict[bytes, bytes]) -> None:
        """Apply one stream event written by another replica (older versions are ignored)."""
        if fields.get(b"origin", b"").decode() == self.origin:
            return
        kind = fields.get(b"type", b"").decode()
        item_id = fields.get(b"id", b"").decode()
        if kind == "item":
            self._apply_item(event_id, item_id, fields)
        elif kind == "retire":
            self.remove(item_id, event_id)
        elif kind == "interaction":
            idx = self.item_ids.get(item_id)
            if idx is not None:
                user = fields.get(b"user", b"").decode()
                self._add_seen(user, idx)
                self.warmup.took(idx, user)

    def _apply_item(self, event_id: str, item_id: str, fields: dict[bytes, bytes]) -> None:
        with self._lock:  # already applied (e.g. by the replica's own other bundle): no work
            idx = self.item_ids.get(item_id)
            if idx is not None and self._versions.get(idx, (-1, -1)) >= stream_version(event_id):
                return
        emb = fields.get(b"emb")
        if fields.get(b"digest", b"").decode() == self.bundle.digest and emb:
            vector = np.frombuffer(emb, dtype="<f4").astype(np.float32)[None, :]  # [1, dim]
        else:  # another bundle projected it: re-project the raw features with ours
            rec = self.store.load_item(item_id)
            if rec is None:
                return  # retired since; its retire event follows
            vector = self.featurizer.embed([rec])
        with self._lock:
            idx = self.item_ids.add(item_id)
            if not self._claim(idx, event_id):
                return
            self.warmup.upsert(np.asarray([idx], np.int64), vector)
        sent = float(fields.get(b"ts", b"0"))
        if sent > 0:
            self.metrics.servable_latency.labels("stream").observe(max(0.0, time.time() - sent))
