"""In-memory implementations of the seams in `core.seams`, for tests and local experiments.

`MemoryDatabase` stands in for Postgres, `MemoryRabbit` with `StubBroker` and `StubPublisher`
for RabbitMQ. They honour the same semantics as the real ones; `tests/contract` proves it by
running one suite against both.
"""

from aidetect.core.memory.broker import MemoryRabbit, StubBroker, StubChannel, StubPublisher
from aidetect.core.memory.tasks import MemoryDatabase

__all__ = ["MemoryDatabase", "MemoryRabbit", "StubBroker", "StubChannel", "StubPublisher"]
