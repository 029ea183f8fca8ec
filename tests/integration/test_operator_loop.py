"""Issue 14, "Done when", tried as an operator would, every step a real `coldrec` process: train
a `--deploy` run, `coldrec serve` it (the suite's Redis), register new products by their text,
post purchases of some, `coldrec export` the live state (pointed at the same Redis and
namespace), `coldrec train --data EXPORT --deploy`, then `POST /admin/bundle` on the running
service while client threads keep asking for recommendations and items: no read fails, the new
bundle's digest becomes active, and the products that got purchases answer `kind: warm` (the
one that got none stays cold). The waits are liveness deadlines only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from conftest import ServiceProcess, start_service
from loop_steps import (
    NEW,
    TAKEN,
    Clients,
    admin_state,
    coldrec,
    purchases,
    train_deploy,
    wait_for,
)

from bundle.reader import load_bundle

SPEC = "synthetic:words,n_users=200,n_items=240,seed=1"
KEY = "operator-loop-key"
AUTH = {"X-API-Key": KEY}
READ_ITEMS = [*NEW, "i0", "i7"]  # the new products and two of the shop's


def _ask(http: httpx.Client, svc: ServiceProcess, i: int, n: int) -> httpx.Response:
    """Client n's i-th read: recommendations (a trained user, or a stranger; every pool in
    turn), every other one `GET /items/{id}`."""
    if (i + n) % 2:
        item = READ_ITEMS[(i // 2 + n) % len(READ_ITEMS)]
        return http.get(f"{svc.url}/items/{item}")
    user = f"u{(i * 4 + n) % 50}" if i % 5 else f"stranger-{i}"
    pool = ("all", "cold", "warm")[(i // 2) % 3]
    return http.get(f"{svc.url}/users/{user}/recommendations", params={"k": 10, "pool": pool})


def test_an_operator_closes_the_loop_and_rolls_out_with_no_failed_read(
    redis_url: str, services: list[ServiceProcess], tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers")
    cache = {"COLDREC_CACHE_DIR": str(tmp_path / "cache")}
    run1, export, run2 = tmp_path / "run1", tmp_path / "export", tmp_path / "run2"
    train_deploy(SPEC, run1, cache)
    live = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "operator", **cache}
    svc = start_service(services, run1, {**live, "COLDREC_API_KEYS": KEY}, tmp_path / "serve.log")
    old = admin_state(svc)["active"]["digest"]

    items = [{"id": i, "text": t} for i, t in NEW.items()]
    r = svc.http.post("/items", json={"items": items}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert [(x["kind"], x["source"]) for x in r.json()["items"]] == [("cold", "text")] * 3
    r = svc.http.post("/interactions", json={"interactions": purchases()}, headers=AUTH)
    assert r.status_code == 201 and r.json()["recorded"] == 40, r.text
    assert svc.http.get(f"/items/{TAKEN[0]}").json()["kind"] == "cold"  # until a retrain

    args = ["export", "--bundle", str(run1), "--out", str(export), "--quiet"]
    summary = json.loads(coldrec(args, live))  # the service's Redis, while it serves
    assert summary["items"]["registered"] == 3 and summary["interactions"]["online"] == 40
    train_deploy(str(export), run2, cache)
    new = load_bundle(run2).digest
    assert new != old

    with Clients([svc], n=3, ask=_ask) as clients:
        time.sleep(0.5)  # reads flowing before the swap
        started = time.monotonic()
        r = svc.http.post("/admin/bundle", json={"path": str(run2)}, headers=AUTH)
        assert r.status_code == 200, r.text
        wait_for([svc], lambda s: s["active"]["digest"] == new, "the new bundle never served")
        switched = time.monotonic()
        time.sleep(0.5)  # and after it
    assert clients.sent_between(started, switched) > 0, "no read was in flight during the swap"
    assert clients.failures() == [], clients.failures()[:10]
    assert len(clients.answers) > 20

    state = admin_state(svc)
    assert state["active"]["path"].startswith(str(run2)) and state["error"] is None, state
    for item_id in TAKEN:
        view = svc.http.get(f"/items/{item_id}").json()
        assert view["kind"] == "warm" and view["source"] == "bundle", view
    view = svc.http.get("/items/quiet-item").json()
    assert view["kind"] == "cold", view
    recs = svc.http.get("/users/u2/recommendations", params={"k": 20, "pool": "all"})
    assert recs.status_code == 200 and "arcade-stick" not in recs.text  # u2 bought it: seen
