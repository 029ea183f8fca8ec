"""IdMap: the one translator between external string ids and contiguous internal ints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class UnknownId(KeyError):
    """An external id that the map does not hold."""


class IdMap:
    """Bidirectional map external id (str) <-> dense internal index (0..n-1).

    Internal ids are contiguous and stable: adding never renumbers existing ids.
    """

    __slots__ = ("_to_index", "_ids")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._to_index: dict[str, int] = {}
        for external in ids:
            self.add(external)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external: object) -> bool:
        return external in self._to_index

    def add(self, external: str) -> int:
        """Return the index of `external`, appending it when new."""
        index = self._to_index.get(external)
        if index is None:
            index = len(self._ids)
            self._ids.append(external)
            self._to_index[external] = index
        return index

    def index(self, external: str) -> int:
        try:
            return self._to_index[external]
        except KeyError as exc:
            raise UnknownId(external) from exc

    def get(self, external: str) -> int | None:
        return self._to_index.get(external)

    def indices(self, externals: Sequence[str]) -> np.ndarray:
        """Vector form of `index`: an int64 array."""
        return np.fromiter((self.index(e) for e in externals), dtype=np.int64, count=len(externals))

    def external(self, index: int) -> str:
        return self._ids[index]

    def externals(self, indices: Iterable[int]) -> list[str]:
        return [self._ids[int(i)] for i in indices]

    @property
    def ids(self) -> list[str]:
        """External ids in internal order (a copy)."""
        return list(self._ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._ids == other._ids

    def __repr__(self) -> str:
        return f"IdMap(n={len(self)})"
