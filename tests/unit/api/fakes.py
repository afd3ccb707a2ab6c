"""Stand-ins for the API's two seams: records for the database, and the kube-apiserver.

The database is `core.memory.MemoryDatabase` (held to Postgres's semantics by tests/contract);
`task_record` and `scored` make rows to `restore` into it. `FakeApiServer` sits
under a real kubernetes `ApiClient` in place of urllib3's pool manager, so the real `core.k8s`
helpers run unchanged and only the HTTP exchange is faked.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client

from aidetect.core import crd
from aidetect.core.memory import MemoryDatabase
from aidetect.core.models import ItemResult, Progress, TaskRecord, TaskResult
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


@dataclass
class FakeLazyDatabase:
    """Stands in for `deps.LazyDatabase`."""

    db: MemoryDatabase

    def get(self) -> MemoryDatabase:
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
