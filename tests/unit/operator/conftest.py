"""The operator's unit-test world: its real code over the in-memory seams.

`World` holds a `MemoryDatabase`, a `MemoryRabbit` (behind `StubPublisher` and `StubBroker`)
and a `FakeApiServer` under a real kubernetes client, wired into `OperatorDeps` as
`OperatorDeps.open` wires the real ones. Nothing here starts a service.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from aidetect.core import k8s
from aidetect.core.config import AmqpSettings, OperatorSettings, Settings
from aidetect.core.memory import MemoryDatabase, MemoryRabbit, StubBroker, StubPublisher
from aidetect.core.models import TaskMessage
from aidetect.core.profiles import ProfileSet
from aidetect.core.queue import task_queue
from aidetect.operator.deps import OperatorDeps
from aidetect.operator.watching import Admitted, on_event
from tests.utils.fake_apiserver import FakeApiServer

PROFILES = ProfileSet.model_validate(
    {
        "default": "roberta",
        "profiles": {
            "roberta": {"kind": "hf-classifier", "model": "/models/roberta"},
            "binoculars": {"kind": "binoculars", "model": "/m/a", "referenceModel": "/m/b"},
        },
    }
)
NS = "team-a"


@dataclass
class World:
    db: MemoryDatabase
    rabbit: MemoryRabbit
    apiserver: FakeApiServer
    deps: OperatorDeps
    admitted: Admitted

    def apply(
        self, spec: dict[str, Any], *, name: str = "t1", finalizers: bool = False
    ) -> dict[str, Any]:
        """A CR as `kubectl apply` creates it (no finalizer unless asked)."""
        return self.apiserver.add_task(
            NS, name, spec, finalizers=[k8s.FINALIZER] if finalizers else None
        )

    def event(self, kind: str | None, body: dict[str, Any]) -> None:
        """kopf's watch event for the CR as it is now (or as given, once it is gone)."""
        meta = body["metadata"]
        now = self.apiserver.task(meta["namespace"], meta["name"])
        on_event(self.deps, self.admitted, kind, now if now is not None else body)

    def messages(self, profile: str = "roberta", *, high: bool = False) -> list[TaskMessage]:
        return [
            TaskMessage.model_validate_json(b)
            for b in self.rabbit.ready(task_queue(profile, high=high))
        ]

    def status(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        obj = self.apiserver.task(meta["namespace"], meta["name"])
        assert obj is not None, "the CR is gone"
        return dict(obj.get("status") or {})

    @staticmethod
    def uid(body: dict[str, Any]) -> UUID:
        return UUID(body["metadata"]["uid"])


def make_world(**operator: Any) -> World:
    settings = Settings(
        amqp=AmqpSettings(url="amqp://guest:guest@127.0.0.1:5672/%2F", reconnect_max_seconds=0.01),
        operator=OperatorSettings(status_delay_seconds=0, **operator),
    )
    db, rabbit, apiserver = MemoryDatabase(), MemoryRabbit(), FakeApiServer()
    StubBroker(rabbit).declare_topology(PROFILES.profiles)
    deps = OperatorDeps(
        settings=settings,
        db=db,
        kube=apiserver.api_client(),
        profiles=PROFILES,
        publisher=StubPublisher(rabbit),
    )
    return World(db, rabbit, apiserver, deps, Admitted())


@pytest.fixture
def world() -> Iterator[World]:
    yield make_world()
