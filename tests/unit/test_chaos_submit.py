"""The chaos suite's REST client (bench/chaos_submit.py) retries without creating duplicates."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaos_submit import RestClient, key_of, plan  # noqa: E402


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chaos_submit.time.sleep", lambda _s: None)


def client_with(
    answer: Callable[[int], httpx.Response], find_uid: Callable[[str], str | None]
) -> tuple[RestClient, list[str]]:
    """A RestClient whose POSTs get answer(n) for the n-th one; returns it and the paths hit."""
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        return answer(hits.count("/predict"))

    rest = RestClient("http://api", "token", find_uid=find_uid)
    rest.http = httpx.Client(base_url="http://api", transport=httpx.MockTransport(handler))
    return rest, hits


def test_every_task_carries_its_key_in_its_first_text() -> None:
    tasks = plan("abc123", 10)
    assert [key_of(list(t.texts)) for t in tasks] == [t.key for t in tasks]
    assert {t.kind for t in tasks[::2]} == {"kubectl"}
    assert {t.kind for t in tasks[1::2]} == {"rest"}


def test_a_refused_connection_and_a_503_are_sent_again() -> None:
    def answer(n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("Connection refused")
        if n == 2:
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "m"}})
        return httpx.Response(202, json={"taskId": "uid-1", "name": "api-x", "namespace": "d"})

    rest, hits = client_with(answer, find_uid=lambda _key: None)
    sub = rest.submit(plan("abc123", 2)[1])
    assert (sub.uid, sub.refused, sub.ambiguous) == ("uid-1", 2, 0)
    assert hits.count("/predict") == 3


def test_a_lost_reply_for_a_task_that_was_created_is_not_sent_again() -> None:
    def answer(_n: int) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    rest, hits = client_with(answer, find_uid=lambda _key: "uid-created")
    sub = rest.submit(plan("abc123", 2)[1])
    assert (sub.uid, sub.adopted, sub.ambiguous) == ("uid-created", True, 1)
    assert hits.count("/predict") == 1


def test_a_lost_reply_for_a_task_that_was_not_created_is_sent_again() -> None:
    def answer(n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ReadError("Connection reset by peer")
        return httpx.Response(202, json={"taskId": "uid-2", "name": "api-y", "namespace": "d"})

    rest, hits = client_with(answer, find_uid=lambda _key: None)
    sub = rest.submit(plan("abc123", 2)[1])
    assert (sub.uid, sub.adopted, sub.ambiguous) == ("uid-2", False, 1)
    assert hits.count("/predict") == 2


def test_a_client_error_is_not_retried() -> None:
    rest, hits = client_with(lambda _n: httpx.Response(422, json={}), find_uid=lambda _key: None)
    sub = rest.submit(plan("abc123", 2)[1])
    assert sub.uid is None and "422" in sub.error
    assert hits.count("/predict") == 1
