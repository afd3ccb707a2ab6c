"""Every error, whoever raises it, has the one shape {"error": {"code", "message", ...}}."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aidetect.api import deps
from aidetect.api.errors import field_name
from aidetect.core.errors import DatabaseRefused, InvalidInput
from tests.unit.api.conftest import AUTH
from tests.unit.api.fakes import FakeApiServer


def test_unknown_path_is_404_in_the_error_shape(api: TestClient) -> None:
    response = api.get("/nowhere", headers=AUTH)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_wrong_method_is_405_in_the_error_shape(api: TestClient) -> None:
    response = api.put("/predict", headers=AUTH)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_invalid_json_is_422_not_400_or_500(api: TestClient) -> None:
    response = api.post(
        "/predict", content=b'{"text": ', headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body"
    assert "not valid JSON" in response.json()["error"]["message"]


def test_bug_in_a_route_is_a_500_in_the_error_shape_without_internals(
    build_app: Callable[..., FastAPI],
) -> None:
    app = build_app()

    def broken() -> None:
        raise KeyError("secret internals")

    app.dependency_overrides[deps.get_db] = broken
    client = TestClient(app, raise_server_exceptions=False)

    response = client.get("/tasks", headers=AUTH)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


def test_permanent_core_error_is_a_4xx(build_app: Callable[..., FastAPI]) -> None:
    app = build_app()

    def bad_input() -> None:
        raise InvalidInput("ConfigMap ns/x not found")

    app.dependency_overrides[deps.get_db] = bad_input
    client = TestClient(app, raise_server_exceptions=False)

    response = client.get("/tasks", headers=AUTH)

    assert response.status_code == 422
    assert response.json() == {
        "error": {"code": "invalid_input", "message": "ConfigMap ns/x not found"}
    }


def test_a_statement_postgres_refused_is_our_500_not_the_clients_4xx(
    build_app: Callable[..., FastAPI],
) -> None:
    app = build_app()

    def refused() -> None:
        raise DatabaseRefused("the database refused the statement: column x does not exist")

    app.dependency_overrides[deps.get_db] = refused
    client = TestClient(app, raise_server_exceptions=False)

    response = client.get("/tasks", headers=AUTH)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "column" not in response.text


def test_field_names_read_like_the_request() -> None:
    assert field_name(("body", "texts", 3)) == "texts[3]"
    assert field_name(("body",)) == "body"
    assert field_name(("query", "limit")) == "query.limit"


@pytest.mark.parametrize(
    "body",
    [b'{"text": "caf\xe9"}', b'{"text": "\xff\xfe"}', b"\xff\xfe{\x00}\x00"],
    ids=["latin-1", "stray-bytes", "utf-16-bom"],
)
def test_a_body_that_is_not_utf8_is_400_in_the_error_shape(
    api: TestClient, apiserver: FakeApiServer, body: bytes
) -> None:
    response = api.post(
        "/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_encoding"
    assert "not UTF-8" in error["message"]
    assert error["details"][0]["field"] == "body"
    assert apiserver.objects == {}


def test_a_utf8_body_with_non_ascii_text_is_accepted(api: TestClient) -> None:
    body = '{"text": "café ✓"}'.encode()

    response = api.post(
        "/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 202
