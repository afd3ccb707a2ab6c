"""The contract suites' fixtures: each seam's real implementation and its in-memory one.

Every test here runs once per implementation. The in-memory runs are unit tests; the real runs
(Postgres, RabbitMQ, started by hack/ like the e2e tests' services) are marked e2e.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from aidetect.core.db import Database, upgrade_schema
from aidetect.core.memory import MemoryDatabase, MemoryRabbit, StubBroker
from aidetect.core.queue import Broker
from aidetect.core.seams import MessageBroker
from tests.utils.services import LocalServices

STORES = [pytest.param("memory", id="memory"), pytest.param("postgres", marks=pytest.mark.e2e)]
BROKERS = [pytest.param("memory", id="memory"), pytest.param("rabbitmq", marks=pytest.mark.e2e)]


@pytest.fixture(scope="session")
def postgres(services: LocalServices) -> Iterator[Database]:
    url = services.database_url()
    upgrade_schema(url)
    database = Database(url, pool_max=4)
    yield database
    database.close()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Database | MemoryDatabase:
    """The task store under test: Postgres (shared by the session) or a fresh MemoryDatabase."""
    if request.param == "postgres":
        db: Database = request.getfixturevalue("postgres")
        return db
    return MemoryDatabase()


@pytest.fixture
def namespace() -> str:
    """A namespace of the test's own, so that queries on a shared Postgres see only its tasks."""
    return f"c-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=BROKERS)
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[[], MessageBroker]]:
    """Opens connections to the broker under test (RabbitMQ, or one MemoryRabbit per test)."""
    opened: list[MessageBroker] = []
    if request.param == "rabbitmq":
        url = request.getfixturevalue("services").amqp_url()

        def make() -> MessageBroker:
            return Broker(url, delivery_limit=3)
    else:
        rabbit = MemoryRabbit(delivery_limit=3)

        def make() -> MessageBroker:
            return StubBroker(rabbit)

    def opening() -> MessageBroker:
        broker = make()
        opened.append(broker)
        return broker

    yield opening
    for broker in opened:
        broker.close()
