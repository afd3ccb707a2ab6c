"""GET /tasks validates its filters before they reach the database: bad ones are a 422.

A NUL byte in a filter made psycopg2 raise ValueError (a 500) on the real database; the e2e
test `test_list_filters_with_a_nul_byte_are_422_on_the_real_database` covers that path.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aidetect.core.memory import MemoryDatabase
from tests.unit.api.conftest import AUTH
from tests.unit.api.fakes import task_record

BAD_FILTERS = [
    ("namespace=a%00b", "query.namespace"),
    ("namespace=%00", "query.namespace"),
    ("namespace=Upper", "query.namespace"),
    ("namespace=a_b", "query.namespace"),
    ("namespace=a%0A", "query.namespace"),
    ("namespace=" + "a" * 64, "query.namespace"),
    ("detector=%00", "query.detector"),
    ("detector=a%00b", "query.detector"),
    ("detector=Not_A_Profile", "query.detector"),
    ("detector=" + "d" * 64, "query.detector"),
    ("cursor=%00", "cursor"),
]


@pytest.mark.parametrize(("query", "field"), BAD_FILTERS)
def test_a_malformed_filter_is_422_naming_it(api: TestClient, query: str, field: str) -> None:
    response = api.get(f"/tasks?{query}", headers=AUTH)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["field"] == field


def test_well_formed_filters_still_filter(api: TestClient, fake_db: MemoryDatabase) -> None:
    wanted = fake_db.restore(task_record(n=1, namespace="team-a", detector="log-rank"))
    fake_db.restore(task_record(n=2, namespace="team-a"))

    response = api.get("/tasks?namespace=team-a&detector=log-rank", headers=AUTH)

    assert [t["id"] for t in response.json()["items"]] == [str(wanted.id)]
