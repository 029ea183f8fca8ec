"""`coldrec replay`'s pure parts: held-out interactions per user, sampling, reading /metrics,
the offline metrics, the report; and the CLI's parser entry."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from clients.replay import (
    ReplayConfig,
    ReplayError,
    ReplayResult,
    format_report,
    held_out_by_user,
    item_payloads,
    offline_recall,
    read_counters,
    replay,
    sample_users,
)
from coldrec.cli import build_parser
from models.idmap import IdMap
from service.metrics import Metrics
from training.data.dataset import Dataset
from training.protocol.splits import Part, Split


def _dataset() -> Dataset:
    users = np.array([0, 0, 0, 1, 1, 2, 2, 0], dtype=np.int64)
    items = np.array([0, 1, 3, 1, 2, 0, 3, 1], dtype=np.int64)
    return Dataset(
        name="tiny",
        user_ids=IdMap(["ua", "ub", "uc"]),
        item_ids=IdMap(["i0", "i1", "i2", "i3"]),
        users=users,
        items=items,
        order=np.arange(8, dtype=np.int64),
        modalities={"text": np.eye(4, 3, dtype=np.float32), "image": np.ones((4, 2), np.float32)},
    )


def _split() -> Split:
    p = Part
    part = np.array(
        [p.TRAIN, p.TEST, p.COLD_TEST, p.TRAIN, p.VALID, p.TRAIN, p.COLD_TEST, p.TEST], np.int8
    )
    return Split(part, np.zeros(0, np.int64), np.array([3]), seed=0, cold_fraction=0.25)


def test_held_out_by_user_keeps_test_and_cold_test_once() -> None:
    got = held_out_by_user(_dataset(), _split())
    assert sorted(got) == [0, 2]
    assert got[0].tolist() == [1, 3]  # item 1 twice in TEST: once
    assert got[2].tolist() == [3]


def test_sample_users_is_seeded_and_bounded() -> None:
    users = list(range(100))
    a, b = sample_users(users, 10, seed=3), sample_users(users, 10, seed=3)
    assert a == b and len(set(a)) == 10 and set(a) <= set(users)
    assert sample_users(users, 10, seed=4) != a
    assert sorted(sample_users(users, 1000, seed=0)) == users


def test_read_counters_from_the_service_exposition() -> None:
    m = Metrics()
    m.recommended.labels("cold", "control").inc(5)
    m.recommended.labels("warm", "control").inc(12)
    m.recommended.labels("warm", "candidate").inc(3)  # an A/B: summed over the variants
    m.hits.labels("cold", "control").inc(2)
    m.interactions.labels("warm").inc(7)
    got = read_counters(m.render().decode())
    assert got["coldrec_recommended_items"] == {"cold": 5.0, "warm": 15.0}
    assert got["coldrec_hits"] == {"cold": 2.0, "warm": 0.0}  # both kinds exist from the start
    assert got["coldrec_interactions"] == {"warm": 7.0, "cold": 0.0}


def test_item_payloads_send_the_bundle_modalities_in_batches() -> None:
    batches = list(item_payloads(_dataset(), np.array([0, 2, 3]), ["text"], batch=2))
    assert [len(b) for b in batches] == [2, 1]
    assert batches[0][1] == {"id": "i2", "features": {"text": [0.0, 0.0, 1.0]}}


def test_offline_recall_and_report(tmp_path: Path) -> None:
    metrics = {"test": {"warm": {"recall@20": 0.25}, "cold_all": {"recall@20": 0.5}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert offline_recall(tmp_path, 20) == {"warm": 0.25, "cold_all": 0.5}
    assert offline_recall(tmp_path, 10) == {}

    r = ReplayResult(users=3, offline=offline_recall(tmp_path, 20))
    r.recommended.update(warm=40, cold=20)
    r.hits.update(warm=4, cold=5)
    r.held_out.update(warm=8, cold=10)
    r.online = {"coldrec_hits": {"warm": 4.0, "cold": 5.0}}
    r.online["coldrec_recommended_items"] = {"warm": 40.0, "cold": 20.0}
    assert r.online_hit_rate("cold") == r.hit_rate("cold") == 0.25
    assert r.recall("warm") == 0.5
    text = format_report(r, 20)
    assert "0.2500 (cold_all)" not in text and "0.5000 (cold_all)" in text
    summary = r.summary(20)
    assert summary["online_hit_rate"] == {"warm": 0.1, "cold": 0.25}
    assert summary["offline_test_recall@20"] == {"warm": 0.25, "cold_all": 0.5}


def test_cli_replay_entry() -> None:
    args = build_parser().parse_args(
        ["replay", "--run", "r", "--url", "http://127.0.0.1:1", "--max-users", "5"]
    )
    assert args.max_users == 5 and args.k == 20 and args.data is None and args.max_seconds == 120


def test_a_refused_request_is_a_replay_error_with_the_problem_detail(tmp_path: Path) -> None:
    _split().save(str(tmp_path / "split.npz"))
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "manifest.json").write_text(json.dumps({"modalities": {"text": 3}}))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(200, text="")
        return httpx.Response(422, json={"type": "/problems/invalid-features", "detail": "dims"})

    client = httpx.Client(base_url="http://svc", transport=httpx.MockTransport(answer))
    with pytest.raises(ReplayError, match="POST /items: 422 dims"):
        replay(tmp_path, _dataset(), client, ReplayConfig())


def _valid_phase() -> tuple[Dataset, Split]:
    """Four users take cold validation item i2 (and u0 a warm validation item); i3 is cold test."""
    users = np.array([0, 1, 2, 3, 0, 1], dtype=np.int64)
    items = np.array([2, 2, 2, 2, 1, 3], dtype=np.int64)
    ds = Dataset(
        name="tiny",
        user_ids=IdMap(["u0", "u1", "u2", "u3"]),
        item_ids=IdMap(["i0", "i1", "i2", "i3"]),
        users=users,
        items=items,
        order=np.arange(6, dtype=np.int64),
        modalities={"text": np.eye(4, 3, dtype=np.float32)},
    )
    p = Part
    part = np.array([p.COLD_VALID] * 4 + [p.VALID, p.COLD_TEST], np.int8)
    return ds, Split(part, np.array([2]), np.array([3]), seed=0, cold_fraction=0.5)


def test_held_out_by_phase_and_cold_only() -> None:
    ds, split = _valid_phase()
    assert {u: v.tolist() for u, v in held_out_by_user(ds, split, "valid").items()} == {
        0: [1, 2],
        1: [2],
        2: [2],
        3: [2],
    }
    assert held_out_by_user(ds, split, "valid", cold_only=True)[0].tolist() == [2]
    assert held_out_by_user(ds, split, "test", cold_only=True)[1].tolist() == [3]


def test_a_valid_replay_ranks_each_cold_interaction_by_the_users_before(tmp_path: Path) -> None:
    """The cold validation item is registered; user n (in the replay's order) takes it as its
    n-th interaction; the mock shows it to every user after the first two."""
    ds, split = _valid_phase()
    split.save(str(tmp_path / "split.npz"))
    (tmp_path / "metrics.json").write_text(json.dumps({"valid": {"cold_all": {"recall@20": 0.1}}}))
    (tmp_path / "manifest.json").write_text(json.dumps({"modalities": {"text": 3}}))
    registered: list[str] = []
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/metrics":
            return httpx.Response(200, text="")
        if path == "/items":
            registered.extend(i["id"] for i in json.loads(request.content)["items"])
            return httpx.Response(201, json={"items": []})
        if path.startswith("/users/"):
            asked.append(path.split("/")[2])
            shown = [{"item_id": "i2", "score": 1.0, "cold": True}] if len(asked) > 2 else []
            return httpx.Response(200, json={"items": shown})
        rows = json.loads(request.content)["interactions"]
        out = [
            {**r, "hit": len(asked) > 2 and r["item_id"] == "i2", "cold": r["item_id"] == "i2"}
            for r in rows
        ]
        return httpx.Response(201, json={"interactions": out})

    client = httpx.Client(base_url="http://svc", transport=httpx.MockTransport(answer))
    cfg = ReplayConfig(phase="valid", cold_only=True, first_n=3, pool="cold")
    result = replay(tmp_path, ds, client, cfg)
    assert registered == ["i2"] and len(asked) == 4
    assert result.by_rank == {1: [1, 0], 2: [1, 0], 3: [1, 1], 4: [1, 1]}
    assert result.first_n_hit_rate() == (3, 1, 1 / 3)
    summary = result.summary(20)
    assert summary["phase"] == "valid" and summary["offline_valid_recall@20"] == {"cold_all": 0.1}
    assert summary["cold_first_n"]["by_rank"]["3"] == {"interactions": 1, "hits": 1, "hit_rate": 1}
    assert "first 3 interactions: 1 hits / 3 = 0.3333" in format_report(result, 20)
    args = build_parser().parse_args(
        ["replay", "--run", "r", "--url", "u", "--phase", "valid", "--cold-only", "--first-n", "5"]
    )
    assert (args.phase, args.cold_only, args.first_n, args.pool) == ("valid", True, 5, "all")
