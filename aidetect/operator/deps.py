"""The operator's long-lived clients, opened once at startup, shared by handlers and loops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from aidetect.core import k8s
from aidetect.core.config import Settings
from aidetect.core.db import Database, upgrade_schema
from aidetect.core.errors import DatabaseUnavailable
from aidetect.core.profiles import ProfileSet
from aidetect.core.queue import SharedPublisher
from aidetect.core.retrying import during_outages
from aidetect.core.seams import OperatorTasks, TaskPublisher

if TYPE_CHECKING:
    from aidetect.operator.corpus_jobs import CorpusJobs


@dataclass
class OperatorDeps:
    settings: Settings
    db: OperatorTasks
    kube: k8s.KubeClient
    profiles: ProfileSet
    publisher: TaskPublisher
    # Set at startup to DelayedSync.schedule; None (tests, tools) syncs a new task at once.
    show_status_later: Callable[[UUID], None] | None = None
    # Set by the events consumer to ProgressThrottle.holds: whether a running task's progress
    # is held back on purpose, so that the resync does not patch it meanwhile.
    progress_held: Callable[[UUID], bool] = lambda _task: False
    # ... and to ProgressThrottle.patched: told of every status patch (task id, whether ended).
    status_patched: Callable[[UUID, bool], None] = lambda _task, _ended: None
    # Splits corpora and writes their outputs (Postgres only: None in the in-memory world).
    corpus: CorpusJobs | None = None

    @property
    def scope(self) -> list[str] | None:
        """The namespaces this operator handles (its shard's), or None for the whole cluster."""
        return list(self.settings.operator.namespaces) or None

    @classmethod
    def open(cls, settings: Settings) -> OperatorDeps:
        """Migrate the schema; connect to Postgres, RabbitMQ (declaring the topology), the API."""
        upgrade_schema(settings.db.url)
        profiles = settings.profiles()
        from aidetect.operator.corpus_jobs import CorpusJobs

        publisher = SharedPublisher(settings.amqp, profiles=profiles.profiles)
        db = Database(
            settings.db.url,
            pool_max=settings.db.pool_max,
            connect_timeout=settings.db.connect_timeout_seconds,
        )
        deps = cls(
            settings=settings,
            db=db,
            kube=k8s.api_client(settings.kube.kubeconfig),
            profiles=profiles,
            publisher=publisher,
        )
        deps.corpus = CorpusJobs(deps, db)
        return deps

    @classmethod
    def open_when_ready(cls, settings: Settings) -> OperatorDeps:
        """`open`, retried with backoff while Postgres is away, up to the outage limit."""
        policy = during_outages(
            settings.amqp, what="opening the database", retry_on=DatabaseUnavailable
        )
        return policy(cls.open, settings)

    def close(self) -> None:
        if self.corpus is not None:
            self.corpus.close()
        self.publisher.close()
        self.db.close()
        self.kube.close()
