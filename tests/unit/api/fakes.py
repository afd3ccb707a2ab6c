"""In-memory stand-ins for the API's two seams: the database and the kube-apiserver.

`FakeDatabase` implements the `core.db.Database` methods the API calls. `FakeApiServer` sits
under a real kubernetes `ApiClient` in place of urllib3's pool manager, so the real `core.k8s`
helpers run unchanged and only the HTTP exchange is faked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client

from aidetect.core import crd
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.models import ItemResult, Progress, TaskRecord, TaskResult, Transition
from aidetect.core.states import TERMINAL, Phase

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def task_record(phase: Phase = Phase.QUEUED, *, n: int = 0, **changes: Any) -> TaskRecord:
    """A task row as the operator would have recorded it; `n` orders tasks by creation time."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "namespace": "default",
        "name": f"api-{n:05d}",
        "generation": 1,
        "detector": "roberta-openai",
        "granularity": "document",
        "priority": 0,
        "backoff_limit": 3,
        "active_deadline_seconds": None,
        "ttl_seconds_after_finished": None,
        "phase": phase,
        "reason": None,
        "message": None,
        "attempts": 0,
        "progress": Progress(total=1),
        "result": None,
        "worker": None,
        "created_at": T0 + timedelta(seconds=n),
        "queued_at": None,
        "started_at": None,
        "finished_at": T0 + timedelta(seconds=n + 1) if phase in TERMINAL else None,
        "version": 1,
        "cr_version": 1,
        "cr_deleted_at": None,
    }
    values.update(changes)
    return TaskRecord(**values)


def scored(record: TaskRecord) -> tuple[TaskRecord, list[ItemResult]]:
    """A Succeeded copy of `record` with one scored item."""
    item = ItemResult(index=0, score=0.9, label="ai", threshold=0.5, model_version="m@1")
    result = TaskResult(
        score=0.9, label="ai", threshold=0.5, detector=record.detector, model_version="m@1"
    )
    done = record.model_copy(
        update={"phase": Phase.SUCCEEDED, "result": result, "progress": Progress(total=1, done=1)}
    )
    return done, [item]


class FakeDatabase:
    """The `Database` methods the API uses, over dicts; `up = False` simulates an outage."""

    def __init__(self) -> None:
        self.up = True
        self.tasks: dict[uuid.UUID, TaskRecord] = {}
        self.item_results: dict[uuid.UUID, list[ItemResult]] = {}
        self.logs: dict[uuid.UUID, list[Transition]] = {}
        self.heartbeats: list[dict[str, Any]] = []

    def add(self, record: TaskRecord, items: list[ItemResult] | None = None) -> TaskRecord:
        self.tasks[record.id] = record
        self.item_results[record.id] = items or []
        self.logs[record.id] = [
            Transition(from_phase=None, to_phase=Phase.PENDING, reason="Recorded", at=T0)
        ]
        return record

    def _check(self) -> None:
        if not self.up:
            raise DatabaseUnavailable("cannot connect to the database: connection refused")

    def ping(self) -> None:
        self._check()

    def find_task(self, task_id: uuid.UUID) -> TaskRecord | None:
        self._check()
        return self.tasks.get(task_id)

    def items(self, task_id: uuid.UUID) -> list[ItemResult]:
        self._check()
        return self.item_results.get(task_id, [])

    def transitions(self, task_id: uuid.UUID) -> list[Transition]:
        self._check()
        return self.logs.get(task_id, [])

    def list_tasks(
        self,
        *,
        phase: Phase | None = None,
        namespaces: Sequence[str] | None = None,
        detector: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Any:
        from aidetect.core.db import TaskPage
        from aidetect.core.db.rows import decode_cursor, encode_cursor

        self._check()
        rows = sorted(self.tasks.values(), key=lambda t: (t.created_at, t.id), reverse=True)
        if cursor:  # the real keyset cursor
            after = decode_cursor(cursor)
            rows = [t for t in rows if (t.created_at, t.id) < after]
        rows = [
            t
            for t in rows
            if (phase is None or t.phase == phase)
            and (namespaces is None or t.namespace in namespaces)
            and (detector is None or t.detector == detector)
        ]
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
        return TaskPage(tasks=page, next_cursor=next_cursor)

    def workers(self) -> list[dict[str, Any]]:
        self._check()
        return self.heartbeats

    def phase_counts(self) -> dict[str, int]:
        self._check()
        counts: dict[str, int] = {}
        for t in self.tasks.values():
            counts[t.phase] = counts.get(t.phase, 0) + 1
        return counts


@dataclass
class FakeLazyDatabase:
    """Stands in for `lazy_db.LazyDatabase`."""

    db: FakeDatabase

    def get(self) -> FakeDatabase:
        self.db.ping()
        return self.db

    def close(self) -> None:
        pass


TASKS_PATH = re.compile(
    rf"^/apis/{crd.GROUP}/{crd.VERSION}/namespaces/(?P<ns>[^/]+)/{crd.PLURAL}(/(?P<name>[^/]+))?$"
)
VERSION_INFO = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0",
    "gitCommit": "0",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class FakeApiServer:
    """DetectionTask create/delete and /version, answered from memory."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    reject_create: tuple[int, str] | None = None  # (status, message) for the next creates
    missing_namespaces: set[str] = field(default_factory=set)
    down: bool = False

    def api_client(self) -> client.ApiClient:
        api = client.ApiClient(client.Configuration(host="http://fake-apiserver"))
        api.rest_client.pool_manager = self
        return api

    def request(self, method: str, url: str, body: Any = None, **_: Any) -> urllib3.HTTPResponse:
        path = urlsplit(url).path.rstrip("/")
        self.requests.append((method, path))
        if self.down:
            return self._answer(503, _status(503, "ServiceUnavailable", "etcd is down"))
        if path == "/version":
            return self._answer(200, VERSION_INFO)
        match = TASKS_PATH.match(path)
        if match is None:
            return self._answer(404, _status(404, "NotFound", f"no route {path}"))
        payload = json.loads(body) if isinstance(body, str | bytes) else body
        if method == "POST":
            return self._create(match["ns"], payload)
        if method == "DELETE":
            return self._delete(match["ns"], match["name"], payload or {})
        return self._answer(405, _status(405, "MethodNotAllowed", method))

    def _create(self, ns: str, obj: dict[str, Any]) -> urllib3.HTTPResponse:
        if ns in self.missing_namespaces:  # the apiserver's own answer
            missing = _status(404, "NotFound", f'namespaces "{ns}" not found')
            return self._answer(404, {**missing, "details": {"name": ns, "kind": "namespaces"}})
        if self.reject_create:
            code, message = self.reject_create
            return self._answer(code, _status(code, "Invalid", message))
        meta = obj["metadata"]
        meta["name"] = meta.pop("generateName") + uuid.uuid4().hex[:5]
        meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion="1")
        self.objects[(ns, meta["name"])] = obj
        return self._answer(201, obj)

    def _delete(self, ns: str, name: str, options: dict[str, Any]) -> urllib3.HTTPResponse:
        obj = self.objects.get((ns, name))
        if obj is None:
            return self._answer(404, _status(404, "NotFound", f"{name} not found"))
        uid = (options.get("preconditions") or {}).get("uid")
        if uid and uid != obj["metadata"]["uid"]:
            return self._answer(409, _status(409, "Conflict", "Precondition failed: UID"))
        obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        return self._answer(200, obj)

    @staticmethod
    def _answer(status: int, document: dict[str, Any]) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(
            body=json.dumps(document).encode(),
            status=status,
            reason=HTTPStatus(status).phrase,
            headers={"Content-Type": "application/json"},
            preload_content=False,
        )
