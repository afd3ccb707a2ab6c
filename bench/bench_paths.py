"""How the bench creates CRs: as `kubectl apply` would, by `POST /predict`, or for the floor.

Each path retries only what cannot have created a task (no answer, 5xx, 429, 503) and treats a
409 on a named create as its own earlier attempt. The bench's own client says `aidetect-bench`
as its user agent, so its creates stand apart from the API's and the operator's in the audit log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from aidetect.core import crd

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
USER_AGENT = "aidetect-bench"
TERMINAL = ("Succeeded", "Failed", "Cancelled")
RETRY_FOR_SECONDS = 60.0

SENTENCES = (
    "The committee met on Tuesday to review the budget and the heating costs of the library.",
    "After a long discussion, members agreed to postpone the vote until the spring survey is in.",
    "The river rose overnight, and the ferry to the island did not run until noon.",
    "Several volunteers repainted the community hall before the autumn fair opened.",
)


def text_for(run: str, index: int, item: int = 0) -> str:
    """A unique text (so that nothing can be served from a cache), about 100 characters."""
    return f"[bench {run}-{index}.{item}] {SENTENCES[(index + item) % len(SENTENCES)]}"


@dataclass(frozen=True)
class Resource:
    """A custom resource the bench creates, and how to read that one of its objects is done."""

    group: str
    version: str
    plural: str
    kind: str
    done_phases: tuple[str, ...]

    def phase(self, obj: dict[str, Any]) -> str | None:
        """The object's phase when it is done, else None."""
        phase = (obj.get("status") or {}).get("phase")
        return phase if phase in self.done_phases else None


DETECTION_TASKS = Resource(crd.GROUP, crd.VERSION, crd.PLURAL, crd.KIND, TERMINAL)
FLOOR_TASKS = Resource("bench.aidetect.io", "v1", "floortasks", "FloorTask", ("Done",))


def kube_client(kubeconfig: str) -> client.ApiClient:
    api = config.new_client_from_config(config_file=kubeconfig)
    api.user_agent = USER_AGENT
    return api


class CreatePath(Protocol):
    """One way to create a task; `create` returns the CR's name."""

    kind: str

    def create(self, key: str, texts: Sequence[str]) -> str: ...


def _spec(texts: Sequence[str], ttl: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"text": texts[0]} if len(texts) == 1 else {"texts": list(texts)}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return spec


def _retrying(what: str, attempt: Callable[[], str | None]) -> str:
    """`attempt()` until it returns a name; it returns None for what is worth another try."""
    deadline = time.monotonic() + RETRY_FOR_SECONDS
    while time.monotonic() < deadline:
        name = attempt()
        if name is not None:
            return name
        time.sleep(0.5)
    raise RuntimeError(f"{what}: no success in {RETRY_FOR_SECONDS:.0f}s")


@dataclass
class KubeCreate:
    """A CR created by name: as client-side `kubectl apply` (DetectionTask) or for the floor."""

    kubeconfig: str
    namespace: str
    resource: Resource
    kind: str = "kubectl"
    last_applied: bool = True  # what `kubectl apply` adds; off for big batches (`kubectl create`)
    labels: dict[str, str] = field(default_factory=dict)
    ttl: int | None = None
    _local: threading.local = field(default_factory=threading.local)

    def _custom(self) -> client.CustomObjectsApi:
        if not hasattr(self._local, "api"):
            self._local.api = client.CustomObjectsApi(kube_client(self.kubeconfig))
        api: client.CustomObjectsApi = self._local.api
        return api

    def manifest(self, name: str, texts: Sequence[str]) -> dict[str, Any]:
        r = self.resource
        body: dict[str, Any] = {
            "apiVersion": f"{r.group}/{r.version}",
            "kind": r.kind,
            "metadata": {"name": name, "labels": dict(self.labels)},
            "spec": _spec(texts, self.ttl),
        }
        if self.last_applied:
            last = json.dumps(body, separators=(",", ":"))
            body["metadata"]["annotations"] = {LAST_APPLIED: last}
        return body

    def create(self, key: str, texts: Sequence[str]) -> str:
        name = f"bench-{key}"
        r = self.resource

        def attempt() -> str | None:
            try:
                self._custom().create_namespaced_custom_object(
                    r.group,
                    r.version,
                    self.namespace,
                    r.plural,
                    self.manifest(name, texts),
                    field_manager="kubectl-client-side-apply",
                    _request_timeout=(5, 30),
                )
            except ApiException as e:
                if e.status == 409:
                    return name  # an earlier attempt created it
                if e.status is not None and e.status < 500 and e.status != 429:
                    raise
                return None
            except (Urllib3Error, OSError):
                return None
            return name

        return _retrying(f"create {r.kind} {name}", attempt)


@dataclass
class RestCreate:
    """`POST /predict` with the stack's bearer token; the API names the CR."""

    base_url: str
    token: str
    kind: str = "rest"
    ttl: int | None = None
    _local: threading.local = field(default_factory=threading.local)

    def _http(self) -> httpx.Client:
        if not hasattr(self._local, "http"):
            self._local.http = httpx.Client(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=httpx.Timeout(30.0, connect=5.0),
            )
        http: httpx.Client = self._local.http
        return http

    def create(self, key: str, texts: Sequence[str]) -> str:
        def attempt() -> str | None:
            try:
                reply = self._http().post("/predict", json=_spec(texts, self.ttl))
            except (httpx.ConnectError, httpx.ConnectTimeout):
                return None  # never reached the API: no task was created
            if reply.status_code == 503:
                return None
            if reply.status_code != 202:
                raise RuntimeError(f"POST /predict: {reply.status_code} {reply.text[:300]}")
            name: str = reply.json()["name"]
            return name

        return _retrying(f"POST /predict for {key}", attempt)


@dataclass(frozen=True)
class Planned:
    """One task of a run: the path that creates it, its key and its texts."""

    path: CreatePath
    key: str
    texts: tuple[str, ...]
