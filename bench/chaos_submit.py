"""The chaos suite's clients: DetectionTasks as `kubectl apply` creates them, and `POST /predict`.

Every task carries a key, `[chaos RUN-INDEX]`, at the start of its first text, so each one can
be found on the CR and in the database whatever id it got, and a duplicate shows as two tasks
with one key instead of hiding behind a fresh generated name.

Clients retry what cannot have created a task: a refused connection (the API is down) and 503.
A reply lost after the request was sent is ambiguous (the API may have created the CR before it
died), and `POST /predict` has no idempotency key, so the REST client does not simply send it
again: once the API answers again it looks for a CR with its key, and resends only if there is
none. The kubectl-style client needs none of this: the name it sets makes a repeat a 409.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from aidetect.core import crd

KEY_PATTERN = re.compile(r"^\[chaos ([0-9a-f]+-\d+)\]")
RETRY_SECONDS = 0.5
GIVE_UP_SECONDS = 180.0
SENTENCES = (
    "The committee met on Tuesday to review the budget and the heating costs of the library.",
    "After a long discussion, members agreed to postpone the vote until the spring survey is in.",
    "The river rose overnight, and the ferry to the island did not run until noon.",
    "Several volunteers repainted the community hall before the autumn fair opened.",
)


@dataclass(frozen=True)
class Planned:
    """One task to submit: by which path, and its texts (a batch every fifth task)."""

    index: int
    kind: str  # "kubectl" or "rest"
    key: str
    texts: tuple[str, ...]
    name: str | None  # the kubectl-style CR's name; REST tasks get a generated one


def plan(run: str, tasks: int) -> list[Planned]:
    """Half kubectl-style CRs, half REST, alternating; unique texts so no result is cached."""
    out = []
    for i in range(tasks):
        key = f"{run}-{i}"
        count = 3 if i % 5 == 4 else 1
        texts = tuple(
            f"[chaos {key}] item {j}: {SENTENCES[(i + j) % len(SENTENCES)]}" for j in range(count)
        )
        kind = "kubectl" if i % 2 == 0 else "rest"
        out.append(Planned(i, kind, key, texts, f"chaos-{key}" if kind == "kubectl" else None))
    return out


def key_of(texts: list[str]) -> str | None:
    match = KEY_PATTERN.match(texts[0]) if texts else None
    return match.group(1) if match else None


def spec_texts(spec: dict[str, Any]) -> list[str]:
    text = spec.get("text")
    return [text] if isinstance(text, str) else list(spec.get("texts") or [])


@dataclass
class Submission:
    """What became of one planned task on the client's side."""

    planned: Planned
    at: float = 0.0  # seconds from the start, when it was first sent
    uid: str | None = None
    attempts: int = 0
    refused: int = 0  # connection refused or 503: retried
    ambiguous: int = 0  # sent, reply lost: resolved by looking for the key
    adopted: bool = False  # an ambiguous send had in fact created the task
    error: str = ""


@dataclass
class SubmitStats:
    submissions: list[Submission] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, s: Submission) -> None:
        with self.lock:
            self.submissions.append(s)


def _kubectl_manifest(p: Planned, run: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"text": p.texts[0]} if len(p.texts) == 1 else {"texts": list(p.texts)}
    body: dict[str, Any] = {
        "apiVersion": crd.API_VERSION,
        "kind": crd.KIND,
        "metadata": {"name": p.name, "labels": {"aidetect.io/chaos-run": run}},
        "spec": spec,
    }
    # What client-side `kubectl apply` sends on create: the object plus its last-applied copy.
    last = json.dumps(body, separators=(",", ":"))
    body["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": last}
    return body


def submit_kubectl(api: client.ApiClient, namespace: str, p: Planned, run: str) -> Submission:
    """Create the CR by name; a 409 means an earlier attempt did, so read its uid."""
    custom = client.CustomObjectsApi(api)
    sub = Submission(p)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        sub.attempts += 1
        try:
            created = custom.create_namespaced_custom_object(
                crd.GROUP,
                crd.VERSION,
                namespace,
                crd.PLURAL,
                _kubectl_manifest(p, run),
                field_manager="kubectl-client-side-apply",
                _request_timeout=(5, 30),
            )
            sub.uid = created["metadata"]["uid"]
            return sub
        except ApiException as e:
            if e.status == 409:
                obj = custom.get_namespaced_custom_object(
                    crd.GROUP, crd.VERSION, namespace, crd.PLURAL, p.name
                )
                sub.uid = obj["metadata"]["uid"]
                return sub
            if e.status is not None and e.status < 500 and e.status != 429:
                sub.error = f"create answered {e.status} {e.reason}"
                return sub
        except (Urllib3Error, OSError):
            pass
        sub.refused += 1
        time.sleep(RETRY_SECONDS)
    sub.error = f"gave up after {GIVE_UP_SECONDS:.0f}s"
    return sub


@dataclass
class RestClient:
    """`POST /predict` with the stack's bearer token, and the lookup that settles lost replies."""

    base_url: str
    token: str
    find_uid: Callable[[str], str | None]  # key -> the uid of a CR that carries it
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    def _api_answers(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def _settle(self, sub: Submission) -> bool:
        """After a lost reply: wait for the API to answer again, then look for the key."""
        time.sleep(1.0)
        while not self._api_answers():
            time.sleep(RETRY_SECONDS)
        uid = self.find_uid(sub.planned.key)
        if uid:
            sub.uid, sub.adopted = uid, True
        return uid is not None

    def submit(self, p: Planned) -> Submission:
        body: dict[str, Any] = (
            {"text": p.texts[0]} if len(p.texts) == 1 else {"texts": list(p.texts)}
        )
        sub = Submission(p)
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            sub.attempts += 1
            try:
                reply = self.http.post("/predict", json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                sub.refused += 1  # never reached the API
            except httpx.TransportError:
                sub.ambiguous += 1
                if self._settle(sub):
                    return sub
            else:
                if reply.status_code == 202:
                    sub.uid = reply.json()["taskId"]
                    return sub
                if reply.status_code != 503:
                    sub.error = f"POST /predict answered {reply.status_code}: {reply.text[:300]}"
                    return sub
                sub.refused += 1
            time.sleep(RETRY_SECONDS)
        sub.error = f"gave up after {GIVE_UP_SECONDS:.0f}s"
        return sub
