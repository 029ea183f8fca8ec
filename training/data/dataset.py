"""The Dataset type: interactions plus item modality features, with the one id mapping."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from models.idmap import IdMap


@dataclass(frozen=True)
class Dataset:
    """Implicit feedback with item content.

    Interactions are parallel arrays: `users[k]` interacted with `items[k]` at `order[k]` (a
    timestamp or the position in the user's history; only its order within a user matters).
    `modalities` maps a name (`text`, `image`, `audio`) to float32 features [n_items, d].
    `shipped_part`, when the source ships its own split, labels each interaction
    0 = train, 1 = valid, 2 = test.
    `events` and `weights`, when the source has them (plain input's `event` and `weight`
    columns), are each interaction's event name and weight: read and validated, not used by
    training, which treats every interaction as one implicit positive. `notes` is what the
    reader dropped or merged (skipped invalid rows, duplicates), shown by `stats()`.
    """

    name: str
    user_ids: IdMap
    item_ids: IdMap
    users: np.ndarray  # [n] int64
    items: np.ndarray  # [n] int64
    order: np.ndarray  # [n] int64 or float64
    modalities: dict[str, np.ndarray] = field(default_factory=dict)
    shipped_part: np.ndarray | None = None  # [n] int8
    events: np.ndarray | None = None  # [n] str
    weights: np.ndarray | None = None  # [n] float32
    notes: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n or len(self.order) != n:
            raise ValueError("users, items and order must have the same length")
        if n and (self.users.max() >= self.n_users or self.items.max() >= self.n_items):
            raise ValueError("an interaction refers to an id outside the id maps")
        for name, feats in self.modalities.items():
            if feats.ndim != 2 or feats.shape[0] != self.n_items or feats.dtype != np.float32:
                raise ValueError(f"modality {name!r} must be float32 [n_items, d]")
        if self.shipped_part is not None and len(self.shipped_part) != n:
            raise ValueError("shipped_part must label every interaction")
        for label, values in (("events", self.events), ("weights", self.weights)):
            if values is not None and len(values) != n:
                raise ValueError(f"{label} must have one value per interaction")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    @property
    def n_items_without_interactions(self) -> int:
        """Catalogue items that no interaction names (cold from day one)."""
        return self.n_items - len(np.unique(self.items))

    @property
    def modal_dims(self) -> dict[str, int]:
        return {name: int(f.shape[1]) for name, f in sorted(self.modalities.items())}

    def stats(self) -> dict[str, object]:
        """The summary `coldrec data stats` prints."""
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "modalities": self.modal_dims,
            **self.notes,
        }

    def with_modalities(self, names: list[str]) -> Dataset:
        """The same dataset keeping only the named modalities (for modality ablations)."""
        missing = sorted(set(names) - set(self.modalities))
        if missing:
            have = sorted(self.modalities)
            raise ValueError(f"{self.name} has no modality {', '.join(missing)}; it has {have}")
        kept = {n: self.modalities[n] for n in names}
        if sorted(kept) == sorted(self.modalities):
            return self
        # A distinct name, so reports set an ablation beside the full run instead of over it.
        return replace(self, name=f"{self.name}[{'+'.join(sorted(kept))}]", modalities=kept)
