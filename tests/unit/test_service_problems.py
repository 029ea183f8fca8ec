"""Every error is application/problem+json from one table; no traceback ever reaches a client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, service_settings, write_bundle

from service.deps import get_rollout
from service.errors import StoreUnavailable
from service.main import create_app
from service.problems import PROBLEMS, problem_for
from service.redis_conn import fail_fast_retry

KEYS = {"type", "title", "status", "detail", "instance"}
INF = float("inf")  # json.dumps writes Infinity, which the service parses


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle", fit_steps=50)


@pytest.fixture()
def client(tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path) -> Iterator[TestClient]:
    s = service_settings(tiny.path, redis_url_or_none, tmp_path, max_k=100, max_batch=3)
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        yield c


def _problem(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert KEYS <= set(body) and body["status"] == status and body["type"] == f"/problems/{slug}"
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


@pytest.mark.parametrize(
    ("payload", "status", "slug", "detail"),
    [
        ({"id": "x", "features": {"text": [1.0] * 11}}, 422, "invalid-features", "needs 12"),
        (
            {"id": "x", "features": {"audio": [1.0] * 12}},
            422,
            "invalid-features",
            "unknown modality",
        ),
        ({"id": "x", "features": {"text": [float("nan")] * 12}}, 422, "invalid-features", "NaN"),
        ({"id": "x", "features": {"text": [1e300] * 12}}, 422, "invalid-features", "over 1e6"),
        ({"id": "x", "features": {"text": [0.0] * 12}}, 422, "invalid-features", "zero"),
        ({"id": "x"}, 422, "validation-error", "exactly one"),
        ({"id": "a b", "text": "t"}, 422, "validation-error", "pattern"),
        ({"items": []}, 422, "validation-error", "at least 1"),
        (
            {"items": [{"id": f"x{i}", "text": "t"} for i in range(4)]},
            400,
            "invalid-request",
            "limit",
        ),
        (
            {"items": [{"id": "x", "text": "t"}, {"id": "x", "text": "t"}]},
            400,
            "invalid-request",
            "twice",
        ),
        ({"id": "x", "features": {"text": [INF] * 12}}, 422, "invalid-features", "Inf"),
        ({"id": "x", "features": {"text": [-INF] + [1.0] * 11}}, 422, "invalid-features", "Inf"),
        ({"id": "x", "features": {"text": [9e4] * 12}}, 422, "invalid-features", "L2 norm"),
        ({"id": "x", "features": {"text": [1e-9] * 12}}, 422, "invalid-features", "zero"),
        ({"id": "x", "features": {}}, 422, "invalid-features", "no features"),
        ({"id": "x", "text": "   "}, 422, "invalid-features", "empty text"),
        ({"id": "x" * 257, "text": "t"}, 422, "validation-error", "at most 256"),
        ({"id": "a/b", "text": "t"}, 422, "validation-error", "pattern"),
        ({"id": "caf\u00e9", "text": "t"}, 422, "validation-error", "pattern"),
        ({"id": "", "text": "t"}, 422, "validation-error", "at least 1"),
        ({"id": "x", "text": "t" * 20_001}, 422, "validation-error", "at most 20000"),
        ({"id": "x", "features": {"text": "abc"}}, 422, "validation-error", "list"),
        ({"id": "x", "features": {"text": [[1.0]] * 12}}, 422, "validation-error", "number"),
        ({"id": "x", "text": "t", "price": 3}, 422, "validation-error", "Extra inputs"),
    ],
)
def test_bad_items(client: TestClient, payload, status: int, slug: str, detail: str) -> None:
    r = client.post(
        "/items", content=json.dumps(payload), headers={"content-type": "application/json"}
    )
    assert detail in _problem(r, status, slug)["detail"]


def test_other_problems(client: TestClient) -> None:
    _problem(client.get("/users/u0/recommendations?k=101"), 400, "invalid-request")
    _problem(client.get("/users/u0/recommendations?k=0"), 422, "validation-error")
    _problem(client.get("/users/u0/recommendations?pool=hot"), 422, "validation-error")
    _problem(
        client.post("/interactions", json={"user_id": "u0", "item_id": "nope"}), 404, "unknown-item"
    )
    _problem(
        client.post("/items", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "validation-error",
    )
    _problem(client.get("/nowhere"), 404, "not-found")
    _problem(client.put("/items/i0"), 405, "method-not-allowed")
    text = client.get("/metrics").text
    assert 'coldrec_problems_total{type="unknown-item"} 1.0' in text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/items", "POST"),
        ("PUT", "/items/i0", "DELETE, GET"),
        ("DELETE", "/users/u0/recommendations", "GET"),
        ("GET", "/interactions", "POST"),
        ("PUT", "/admin/bundle", "GET, POST"),
        ("GET", "/admin/bundle/promote", "POST"),
        ("POST", "/readyz", "GET"),
    ],
)
def test_405_allows_exactly_the_methods_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    """Every method some route takes at the path, and no other (FastAPI 0.165 wraps included
    routers, whose routes a walk of `app.routes` by `path_regex` does not see: an empty Allow)."""
    r = client.request(method, path)
    _problem(r, 405, "method-not-allowed")
    assert r.headers["allow"] == allow


def test_limits_on_interactions_and_recommendations(client: TestClient) -> None:
    many = {"interactions": [{"user_id": "u0", "item_id": "i0"}] * 4}
    assert (
        "limit"
        in _problem(client.post("/interactions", json=many), 400, "invalid-request")["detail"]
    )
    bad_user = {"user_id": "u 0", "item_id": "i0"}
    _problem(client.post("/interactions", json=bad_user), 422, "validation-error")
    _problem(
        client.post("/interactions", json={"user_id": "u0", "item_id": "i0", "event": "lick"}),
        422,
        "validation-error",
    )
    for query in ("k=10001", "k=-1", "k=abc", "k=1.5"):
        _problem(client.get(f"/users/u0/recommendations?{query}"), 422, "validation-error")
    _problem(client.get(f"/users/{'u' * 257}/recommendations"), 422, "validation-error")
    _problem(client.get("/users/u%200/recommendations"), 422, "validation-error")
    _problem(client.get(f"/items/{'i' * 257}"), 422, "validation-error")
    assert client.get("/users/u0/recommendations?k=100").status_code == 200  # max_k itself


GARBAGE = [
    b"",
    b"null",
    b"[]",
    b'"items"',
    b"5",
    b"[" * 100_000,  # deeper than the JSON parser's recursion limit
    b"\xff\xfe\x00",
    b'{"id": "x", "text": "\\ud800"}',  # a lone surrogate
    b'{"id": "x", "features": {"text": [' + b",".join([b"1" + b"0" * 400] * 12) + b"]}}",
    b'{"id": "x", "features": {"text": [1e400, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}}',
    b'{"id": "x", "features": {"text": [NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}}',
    b'{"items": {"id": "x"}}',
    b'{"items": [null]}',
    b'{"interactions": [{"user_id": ["u0"], "item_id": "i0"}]}',
    b'{"id": {"$gt": ""}, "text": "t"}',
]


def test_bad_input_never_yields_a_5xx(client: TestClient) -> None:
    for path in ("/items", "/interactions"):
        for body in GARBAGE:
            r = client.post(path, content=body, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (path, body[:80], r.text)
            _problem(r, r.status_code, r.json()["type"].rsplit("/", 1)[1])


def test_index_fault_is_a_problem_without_traceback(client: TestClient) -> None:
    """A failing FAISS search (through the batcher thread) is a 500 problem; the next works."""
    engine = client.app.state.engine
    real = engine.catalogue.search

    def broken(queries: object) -> None:
        raise RuntimeError("Error in faiss::knn at /secret/faiss/IndexFlat.cpp:42")

    engine.catalogue.search = broken
    try:
        body = _problem(client.get("/users/u0/recommendations"), 500, "internal-error")
        assert "faiss" not in body["detail"] and "secret" not in body["detail"]
    finally:
        engine.catalogue.search = real
    assert client.get("/users/u0/recommendations").status_code == 200


def test_dependency_failures_map_through_the_table(client: TestClient) -> None:
    class Broken:  # the bundles served (a rollout) and its engine, both failing
        def engine_for(self, user_id: str) -> Broken:
            return self

        async def recommend_async(self, *a: object) -> None:
            raise StoreUnavailable("Redis is unavailable (test)")

        def interact(self, *a: object) -> None:
            raise RuntimeError("secret internals /etc/passwd")

    client.app.dependency_overrides[get_rollout] = lambda: Broken()
    body = _problem(client.get("/users/u0/recommendations"), 503, "store-unavailable")
    assert body["instance"] == "/users/u0/recommendations"
    body = _problem(
        client.post("/interactions", json={"user_id": "u", "item_id": "i"}), 500, "internal-error"
    )
    assert "secret" not in body["detail"]
    client.app.dependency_overrides.clear()


def test_redis_down_writes_503_reads_from_memory(client: TestClient, tiny: TinyBundle) -> None:
    engine = client.app.state.engine
    real = engine.store.client
    engine.store.client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=fail_fast_retry()
    )
    try:
        _problem(
            client.post("/items", json={"id": "x", "features": tiny.item_features(0)}),
            503,
            "store-unavailable",
        )
        _problem(client.get("/readyz"), 503, "store-unavailable")
        r = client.get("/users/u0/recommendations")
        assert r.status_code == 200 and len(r.json()["items"]) == 12
        assert client.get("/readyz").status_code == 503
        assert client.get("/items/x").status_code == 404  # nothing half written
    finally:
        engine.store.client = real
    assert client.get("/readyz").status_code == 200
    assert 'coldrec_redis_errors_total{op="save_items"} 1.0' in client.get("/metrics").text


def test_every_domain_error_has_a_problem_type() -> None:
    import service.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert set(classes) <= set(PROBLEMS)
    assert problem_for(KeyError("x"))[0] == 500
