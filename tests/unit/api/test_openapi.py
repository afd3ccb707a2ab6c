"""The OpenAPI document lists every status each route can answer, all in the one error shape.

schemathesis (tests/e2e/test_api_schema.py) checks the running API against this document; here
the document itself is pinned, so that a status added to a route is added to its docs too.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from aidetect.api.main import create_app
from tests.unit.api.conftest import make_settings

ERROR_REF = "#/components/schemas/ErrorResponse"

DOCUMENTED: dict[tuple[str, str], set[str]] = {
    ("post", "/predict"): {"202", "400", "401", "403", "413", "422", "502", "503"},
    ("get", "/status/{task_id}"): {"200", "401", "404", "422", "503"},
    ("get", "/status/{task_id}/texts"): {"200", "401", "404", "409", "422", "503"},
    ("get", "/tasks/{task_id}/results"): {"200", "401", "404", "422", "503"},
    ("get", "/profiles"): {"200", "401", "503"},
    ("get", "/tasks"): {"200", "401", "403", "422", "503"},
    ("delete", "/tasks/{task_id}"): {"202", "401", "404", "409", "422", "502", "503"},
    ("get", "/stats"): {"200", "401", "403", "503"},
    ("get", "/readyz"): {"200", "503"},
    ("get", "/healthz"): {"200"},
    ("get", "/metrics"): {"200"},
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = TestClient(create_app(make_settings())).get("/openapi.json").json()
    return document


@pytest.mark.parametrize(("method", "path"), list(DOCUMENTED))
def test_each_route_documents_each_status_it_answers(
    openapi: dict[str, Any], method: str, path: str
) -> None:
    responses = openapi["paths"][path][method]["responses"]

    assert set(responses) == DOCUMENTED[(method, path)]
    for status, response in responses.items():
        if int(status) >= 400:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)


def test_every_route_is_pinned_here(openapi: dict[str, Any]) -> None:
    routes = {(m, p) for p, ops in openapi["paths"].items() for m in ops}

    assert routes == set(DOCUMENTED)


def test_guarded_routes_declare_the_bearer_scheme(openapi: dict[str, Any]) -> None:
    guarded = {k for k, v in DOCUMENTED.items() if "401" in v}

    for method, path in guarded:
        assert openapi["paths"][path][method]["security"] == [{"HTTPBearer": []}]
    assert openapi["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
