"""A kube-apiserver in memory, under a real kubernetes `ApiClient`.

It takes urllib3's pool manager's place, so the real `core.k8s` helpers (and their error
mapping) run unchanged and only the HTTP exchange is faked. It answers what aidetect asks:
DetectionTask create, get, list, delete, JSON patches of the metadata (`test`, `add`,
`replace`), merge patches of /status; Events; ConfigMaps and Secrets for `textFrom`; /version.
Deletion follows the finalizer rules: a CR with finalizers gets a deletionTimestamp, and goes
once the last finalizer is removed.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import urllib3
from kubernetes import client

from aidetect.core import crd

TASKS_PATH = re.compile(
    rf"^/apis/{crd.GROUP}/{crd.VERSION}(/namespaces/(?P<ns>[^/]+))?/{crd.PLURAL}"
    r"(/(?P<name>[^/]+))?(?P<status>/status)?$"
)
CORE_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>events|configmaps|secrets)(/(?P<name>[^/]+))?$"
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


def status_document(code: int, reason: str, message: str) -> dict[str, Any]:
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
    """DetectionTasks, Events, ConfigMaps and Secrets, answered from memory."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    configmaps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    reject_create: tuple[int, str] | None = None  # (status, message) for the next creates
    reject_details: dict[str, Any] | None = None  # the Status's details in those refusals
    missing_namespaces: set[str] = field(default_factory=set)
    down: bool = False
    unreachable: bool = False  # no answer at all, as urllib3 reports it after its retries
    _versions: int = 1

    def api_client(self) -> client.ApiClient:
        api = client.ApiClient(client.Configuration(host="http://fake-apiserver"))
        api.rest_client.pool_manager = self
        return api

    # --- what tests set up and look at -------------------------------------------------------

    def add_task(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        *,
        finalizers: list[str] | None = None,
        generation: int = 1,
    ) -> dict[str, Any]:
        """A DetectionTask as `kubectl apply` would have created it."""
        obj = {
            "apiVersion": crd.API_VERSION,
            "kind": crd.KIND,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "generation": generation,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": list(finalizers or []),
            },
            "spec": spec,
        }
        self._store(namespace, name, obj)
        return obj

    def task(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    def writes(self) -> list[tuple[str, str]]:
        """The requests that changed something (neither GET nor /version)."""
        return [(m, p) for m, p in self.requests if m != "GET"]

    # --- HTTP --------------------------------------------------------------------------------

    def request(self, method: str, url: str, body: Any = None, **_: Any) -> urllib3.HTTPResponse:
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        self.requests.append((method, path))
        if self.unreachable:
            refused = urllib3.exceptions.ProtocolError("Connection refused")
            raise urllib3.exceptions.MaxRetryError(None, url, refused)  # type: ignore[arg-type]
        if self.down:
            return self._answer(503, status_document(503, "ServiceUnavailable", "etcd is down"))
        if path == "/version":
            return self._answer(200, VERSION_INFO)
        payload = json.loads(body) if isinstance(body, str | bytes) else body
        if match := TASKS_PATH.match(path):
            return self._tasks(method, match, payload, parse_qs(parts.query))
        if match := CORE_PATH.match(path):
            return self._core(method, match, payload)
        return self._answer(404, status_document(404, "NotFound", f"no route {path}"))

    def _tasks(
        self, method: str, m: re.Match[str], payload: Any, query: dict[str, list[str]]
    ) -> urllib3.HTTPResponse:
        ns, name = m["ns"], m["name"]
        if name is None:
            if method == "POST":
                return self._create(ns, payload)
            if method == "GET":
                return self._list(ns)
        elif method == "GET":
            return self._found(ns, name, lambda obj: self._answer(200, obj))
        elif method == "DELETE":
            return self._delete(ns, name, payload or {})
        elif method == "PATCH" and m["status"]:
            return self._found(ns, name, lambda obj: self._patch_status(ns, name, obj, payload))
        elif method == "PATCH":
            return self._found(ns, name, lambda obj: self._patch_json(ns, name, obj, payload))
        return self._answer(405, status_document(405, "MethodNotAllowed", method))

    def _found(self, ns: str, name: str, then: Any) -> urllib3.HTTPResponse:
        obj = self.objects.get((ns, name))
        if obj is None:
            return self._answer(404, status_document(404, "NotFound", f'"{name}" not found'))
        answer: urllib3.HTTPResponse = then(obj)
        return answer

    def _store(self, ns: str, name: str, obj: dict[str, Any]) -> None:
        self._versions += 1
        obj["metadata"]["resourceVersion"] = str(self._versions)
        self.objects[(ns, name)] = obj

    def _create(self, ns: str, obj: dict[str, Any]) -> urllib3.HTTPResponse:
        if ns in self.missing_namespaces:  # the apiserver's own answer
            missing = status_document(404, "NotFound", f'namespaces "{ns}" not found')
            return self._answer(404, {**missing, "details": {"name": ns, "kind": "namespaces"}})
        if self.reject_create:
            code, message = self.reject_create
            refusal = status_document(code, "Invalid", message)
            if self.reject_details is not None:
                refusal["details"] = self.reject_details
            return self._answer(code, refusal)
        meta = obj["metadata"]
        if "generateName" in meta:
            meta["name"] = meta.pop("generateName") + uuid.uuid4().hex[:5]
        meta.update(namespace=ns, uid=str(uuid.uuid4()), generation=1)
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        self._store(ns, meta["name"], obj)
        return self._answer(201, obj)

    def _list(self, ns: str | None) -> urllib3.HTTPResponse:
        items = [o for (n, _), o in sorted(self.objects.items()) if ns is None or n == ns]
        listing = {
            "apiVersion": crd.API_VERSION,
            "kind": f"{crd.KIND}List",
            "metadata": {"resourceVersion": str(self._versions)},
            "items": items,
        }
        return self._answer(200, listing)

    def _delete(self, ns: str, name: str, options: dict[str, Any]) -> urllib3.HTTPResponse:
        obj = self.objects.get((ns, name))
        if obj is None:
            return self._answer(404, status_document(404, "NotFound", f"{name} not found"))
        uid = (options.get("preconditions") or {}).get("uid")
        if uid and uid != obj["metadata"]["uid"]:
            return self._answer(409, status_document(409, "Conflict", "Precondition failed: UID"))
        if obj["metadata"].get("finalizers"):
            obj["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:01Z")
            self._store(ns, name, obj)
        else:
            del self.objects[(ns, name)]
        return self._answer(200, obj)

    def _patch_status(
        self, ns: str, name: str, obj: dict[str, Any], patch: dict[str, Any]
    ) -> urllib3.HTTPResponse:
        obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        self._store(ns, name, obj)
        return self._answer(200, obj)

    def _patch_json(
        self, ns: str, name: str, obj: dict[str, Any], ops: list[dict[str, Any]]
    ) -> urllib3.HTTPResponse:
        meta = obj["metadata"]
        for op in ops:
            key = op["path"].removeprefix("/metadata/")
            if op["op"] == "test" and meta.get(key) != op["value"]:
                return self._answer(422, status_document(422, "Invalid", f"test of {key} failed"))
        for op in ops:
            if op["op"] in ("add", "replace"):
                meta[op["path"].removeprefix("/metadata/")] = op["value"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[(ns, name)]
        else:
            self._store(ns, name, obj)
        return self._answer(200, obj)

    def _core(self, method: str, m: re.Match[str], payload: Any) -> urllib3.HTTPResponse:
        ns, kind, name = m["ns"], m["kind"], m["name"]
        if kind == "events" and method == "POST":
            self.events.append(payload)
            return self._answer(201, payload)
        if method == "GET" and name is not None and kind in ("configmaps", "secrets"):
            if kind == "configmaps" and (ns, name) in self.configmaps:
                return self._answer(
                    200, {"metadata": {"name": name}, "data": self.configmaps[(ns, name)]}
                )
            if kind == "secrets" and (ns, name) in self.secrets:
                data = {
                    k: base64.b64encode(v.encode()).decode()
                    for k, v in self.secrets[(ns, name)].items()
                }
                return self._answer(200, {"metadata": {"name": name}, "data": data})
            return self._answer(404, status_document(404, "NotFound", f'{kind} "{name}" not found'))
        return self._answer(405, status_document(405, "MethodNotAllowed", method))

    @staticmethod
    def _answer(status: int, document: dict[str, Any]) -> urllib3.HTTPResponse:
        return urllib3.HTTPResponse(
            body=json.dumps(document).encode(),
            status=status,
            reason=HTTPStatus(status).phrase,
            headers={"Content-Type": "application/json"},
            preload_content=False,
        )
