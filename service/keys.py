"""Every Redis key the service uses, in one place (STYLE.md habit 6)."""

from __future__ import annotations


class Keys:
    """Key names under one namespace prefix, so several deployments can share a Redis."""

    def __init__(self, namespace: str = "coldrec") -> None:
        self.ns = namespace

    def item(self, item_id: str) -> str:
        """HASH: a registered item's raw features (`f:<modality>` float32 bytes, or `text`)."""
        return f"{self.ns}:item:{item_id}"

    @property
    def items(self) -> str:
        """SET: ids of every registered (online) item."""
        return f"{self.ns}:items"

    @property
    def registered_at(self) -> str:
        """HASH: item id -> `registered_at` of its latest registration (beside its record, so a
        replay checks its cached embeddings without reading every record)."""
        return f"{self.ns}:regat"

    @property
    def retired(self) -> str:
        """SET: ids of retired items, bundle items included."""
        return f"{self.ns}:retired"

    def embeddings(self, bundle_digest: str) -> str:
        """HASH: item id -> float32 embedding bytes as projected by the bundle with this digest."""
        return f"{self.ns}:emb:{bundle_digest}"

    def embedded_at(self, bundle_digest: str) -> str:
        """HASH: item id -> `registered_at` of the registration its cached embedding projects."""
        return f"{self.ns}:embat:{bundle_digest}"

    @property
    def users(self) -> str:
        """SET: users with online interactions."""
        return f"{self.ns}:users"

    def seen(self, user_id: str) -> str:
        """SET: items the user interacted with online."""
        return f"{self.ns}:seen:{user_id}"

    def recent(self, user_id: str) -> str:
        """ZSET: items recently recommended to the user, scored by time (for hit counting)."""
        return f"{self.ns}:recent:{user_id}"

    def served_by(self, user_id: str) -> str:
        """HASH: item id -> time of the candidate bundle's list that showed it (an A/B)."""
        return f"{self.ns}:recentab:{user_id}"

    @property
    def rollout(self) -> str:
        """STRING (JSON): the active bundle and any A/B candidate, as every replica serves it."""
        return f"{self.ns}:rollout"

    def rate(self, identity: str, second: int) -> str:
        """STRING counter: requests of one API key (hashed) or client in one second."""
        return f"{self.ns}:rate:{identity}:{second}"

    @property
    def catalogue(self) -> str:
        """STRING (JSON): the dataset this state belongs to, and the bundle that recorded it."""
        return f"{self.ns}:catalogue"

    @property
    def events(self) -> str:
        """STREAM: item upserts, retirements and interactions, followed by every replica."""
        return f"{self.ns}:events"

    @property
    def log(self) -> str:
        """STREAM: every interaction (user, id, event, ts), never trimmed by length: what
        `coldrec export` reads; it trims the part a retrained run's data already holds
        (docs/SERVICE.md, "The interaction log")."""
        return f"{self.ns}:log"
