"""The web page and the profiles it offers: served by the API itself, nothing from elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.conftest import AUTH

pytestmark = pytest.mark.unit


def test_the_page_and_its_files_are_served_without_a_token(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/"), f"{asset} is not served by the API"
        assert api.get(asset).status_code == 200, asset
    script = api.get("/ui/app.js").text
    assert "http://" not in script and "https://" not in script


def test_profiles_list_the_default_first_with_the_way_the_score_points(api: TestClient) -> None:
    response = api.get("/profiles", headers=AUTH)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items[0]["default"] is True
    assert sum(p["default"] for p in items) == 1
    kinds = {p["kind"]: p for p in items}
    assert kinds["hf-classifier"]["higherIsAi"] is True
    if "binoculars" in kinds:  # a lower Binoculars score means more likely AI
        assert kinds["binoculars"]["higherIsAi"] is False
    assert all(isinstance(p["threshold"], float) for p in items)


def test_profiles_need_a_token(api: TestClient) -> None:
    assert api.get("/profiles").status_code == 401


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_their_assets_from_the_api(api: TestClient, path: str) -> None:
    html = api.get(path).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls
    for url in urls:
        assert url.startswith("/"), f"{path} loads {url}"


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_pages_tell_the_browser_to_load_nothing_from_elsewhere(api: TestClient, path: str) -> None:
    policy = api.get(path).headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy


def test_model_versions_come_from_recent_heartbeats_only() -> None:
    from datetime import UTC, datetime, timedelta

    from aidetect.api.routes.profiles import loaded_versions
    from aidetect.core.models import WorkerHeartbeat

    now = datetime(2026, 1, 1, tzinfo=UTC)

    def beat(worker: str, detectors: list[str], versions: str, ago: float) -> WorkerHeartbeat:
        return WorkerHeartbeat(
            worker=worker,
            node="n",
            detectors=detectors,
            model_version=versions,
            device="cpu",
            started_at=now - timedelta(hours=1),
            last_seen=now - timedelta(seconds=ago),
        )

    workers = [
        beat("a", ["tiny", "bino"], "m@1,demo-untrained", 10),
        beat("b", ["tiny"], "m@2", 30),
        beat("gone", ["tiny"], "m@0", 3600),
    ]
    assert loaded_versions(workers, now) == {"tiny": {"m@1", "m@2"}, "bino": {"demo-untrained"}}
