"""Raw-text items go through the real MiniLM encoder, the one training uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_bundle import write_bundle

from bundle.reader import load_bundle
from models.projection import project_features as project
from models.text_encoder import TextEncoder, TextEncoderUnavailable
from service.main import create_app
from service.settings import Settings


def test_raw_text_is_encoded_with_minilm(redis_url: str, tmp_path: Path) -> None:
    try:
        encoder = TextEncoder().load()
    except TextEncoderUnavailable as exc:
        pytest.skip(f"MiniLM unavailable: {exc}")
    tb = write_bundle(tmp_path / "bundle", modal_dims={"text": 384}, fit_steps=20)
    settings = Settings(bundle=tb.path, redis_url=redis_url, namespace="text")
    text = "a matte red lipstick that lasts all day"
    with TestClient(create_app(settings, text_encoder=lambda: encoder)) as client:
        r = client.post("/items", json={"id": "lipstick", "text": text})
        assert r.status_code == 201 and r.json()["items"][0]["source"] == "text"
        got = client.get("/users/u0/recommendations", params={"pool": "cold", "k": 1}).json()
    bundle = load_bundle(tb.path)
    assert bundle.projector is not None
    expected = project(bundle.projector, {"text": encoder.encode([text])})[0] @ bundle.users[0]
    assert got["items"][0]["item_id"] == "lipstick"
    assert np.isclose(got["items"][0]["score"], float(expected), rtol=1e-4, atol=1e-5)
