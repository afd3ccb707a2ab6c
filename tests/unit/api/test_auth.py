"""Bearer-token auth, and the refusal to start with default secrets outside dev mode."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from aidetect.api.main import create_app
from aidetect.core.config import AmqpSettings, ApiSettings, Settings
from tests.unit.api.conftest import AUTH, make_settings

AUTH_BYTES = AUTH["Authorization"].encode()

GUARDED = [
    ("POST", "/predict"),
    ("GET", f"/status/{uuid.uuid4()}"),
    ("GET", "/tasks"),
    ("DELETE", f"/tasks/{uuid.uuid4()}"),
    ("GET", "/stats"),
]


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_guarded_route_without_token_is_401_with_bearer_challenge(
    api: TestClient, method: str, path: str
) -> None:
    response = api.request(method, path, json={"text": "x"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    ["Bearer wrong-token", "Basic dXNlcjpwYXNz", f"Bearer {AUTH['Authorization'][7:]}x"],
)
def test_wrong_token_or_scheme_is_401(api: TestClient, header: str) -> None:
    response = api.get("/tasks", headers={"Authorization": header})

    assert response.status_code == 401


def test_non_ascii_token_is_401_not_500(api: TestClient) -> None:
    response = api.get("/tasks", headers={b"Authorization": "Bearer t\u00e9st".encode("latin-1")})

    assert response.status_code == 401


def test_auth_runs_before_body_validation(api: TestClient) -> None:
    response = api.post("/predict", json={"text": ""})

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_need_no_token(api: TestClient, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 200


def test_with_auth_disabled_no_token_is_needed(build_app: Callable[..., FastAPI]) -> None:
    client = TestClient(build_app(make_settings(auth_enabled=False)))

    response = client.get("/tasks")

    assert response.status_code == 200


def test_empty_configured_token_in_dev_mode_matches_nothing(
    build_app: Callable[..., FastAPI],
) -> None:
    settings = make_settings(token=SecretStr("")).model_copy(update={"dev_mode": True})
    client = TestClient(build_app(settings))

    response = client.get("/tasks", headers={"Authorization": "Bearer "})

    assert response.status_code == 401


def test_create_app_refuses_an_empty_token_outside_dev_mode() -> None:
    settings = Settings(dev_mode=False, api=ApiSettings(token=SecretStr("")))

    with pytest.raises(RuntimeError, match="AIDETECT_API_TOKEN is empty"):
        create_app(settings)


def test_create_app_refuses_guest_password_on_a_remote_broker() -> None:
    settings = make_settings().model_copy(
        update={"amqp": AmqpSettings(url="amqp://guest:guest@rabbit.example:5672/%2F")}
    )

    with pytest.raises(RuntimeError, match="default guest password"):
        create_app(settings)


def test_dev_mode_may_run_with_default_secrets() -> None:
    settings = Settings(dev_mode=True, api=ApiSettings(token=SecretStr("")))

    app = create_app(settings)

    assert app.title == "aidetect"


# --- the token is checked before the body is read ----------------------------------------------

SIX_MB = b'{"text": "' + b"a" * 6_000_000 + b'"}'


def call_asgi(app: FastAPI, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, int]:
    """POST /predict through the raw ASGI interface; (status, body bytes the app received)."""
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    received = 0
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not chunks:
            return {"type": "http.disconnect"}
        chunk = chunks.pop(0)
        received += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "server": ("testserver", 80),
        "client": ("testclient", 50000),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return statuses[0], received


@pytest.mark.parametrize(
    "headers",
    [[], [(b"authorization", b"Bearer wrong")]],
    ids=["no-token", "wrong-token"],
)
def test_unauthenticated_6mb_post_is_401_before_a_byte_of_the_body_is_read(
    build_app: Callable[..., FastAPI], headers: list[tuple[bytes, bytes]]
) -> None:
    status, received = call_asgi(
        build_app(), [(b"content-length", str(len(SIX_MB)).encode()), *headers], SIX_MB
    )

    assert status == 401
    assert received == 0


def test_unauthenticated_chunked_post_is_401_before_the_body_is_read(
    build_app: Callable[..., FastAPI],
) -> None:
    status, received = call_asgi(build_app(), [(b"transfer-encoding", b"chunked")], SIX_MB)

    assert (status, received) == (401, 0)


def test_with_a_valid_token_the_same_body_is_read_and_judged(
    build_app: Callable[..., FastAPI],
) -> None:
    headers = [(b"content-length", str(len(SIX_MB)).encode()), (b"authorization", AUTH_BYTES)]

    status, received = call_asgi(build_app(), headers, SIX_MB)

    assert (status, received) == (422, len(SIX_MB))  # read whole, then refused: text too long


def test_a_401_is_counted_under_its_route(api: TestClient) -> None:
    api.post("/predict", json={"text": "x"})

    metrics = api.get("/metrics").text

    assert 'aidetect_api_requests_total{route="/predict",status="401"} 1.0' in metrics
