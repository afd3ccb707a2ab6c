"""Request bodies over the limit get a 413 in the error shape, however they are sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.unit.api.conftest import AUTH, make_settings
from tests.unit.api.fakes import FakeApiServer

LIMIT = 4096


def small_limit_client(build_app: Callable[..., FastAPI]) -> TestClient:
    return TestClient(build_app(make_settings(max_body_bytes=LIMIT)), raise_server_exceptions=False)


def test_oversize_body_gets_413_not_500(build_app: Callable[..., FastAPI]) -> None:
    client = small_limit_client(build_app)

    response = client.post("/predict", json={"text": "a" * LIMIT}, headers=AUTH)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert str(LIMIT) in error["message"]


def test_oversize_chunked_body_without_content_length_gets_413(
    build_app: Callable[..., FastAPI], apiserver: FakeApiServer
) -> None:
    client = small_limit_client(build_app)

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    response = client.post(
        "/predict", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert apiserver.objects == {}


def test_body_just_under_the_limit_is_read(build_app: Callable[..., FastAPI]) -> None:
    client = small_limit_client(build_app)

    response = client.post("/predict", json={"text": "a" * (LIMIT - 100)}, headers=AUTH)

    assert response.status_code == 202


def test_default_limit_admits_the_largest_batch_sent_as_utf8(api: TestClient) -> None:
    response = api.post("/predict", json={"texts": ["é" * 100_000] * 5}, headers=AUTH)

    assert response.status_code == 202


def test_413_is_counted_under_its_route(build_app: Callable[..., FastAPI]) -> None:
    client = small_limit_client(build_app)
    client.post("/predict", json={"text": "a" * LIMIT}, headers=AUTH)

    metrics = client.get("/metrics").text

    assert 'aidetect_api_requests_total{route="/predict",status="413"} 1.0' in metrics
