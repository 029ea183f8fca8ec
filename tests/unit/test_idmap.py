"""IdMap: stable, contiguous, bidirectional."""

import numpy as np
import pytest

from models.idmap import IdMap, UnknownId


def test_round_trip_and_stability() -> None:
    ids = IdMap(["b", "a", "c", "a"])
    assert len(ids) == 3 and ids.ids == ["b", "a", "c"]
    assert ids.add("d") == 3 and ids.add("a") == 1
    assert np.array_equal(ids.indices(["c", "b"]), [2, 0])
    assert ids.externals([3, 0]) == ["d", "b"]
    assert "a" in ids and "z" not in ids and ids.get("z") is None
    with pytest.raises(UnknownId):
        ids.index("z")
