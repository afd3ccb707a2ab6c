"""core.db lets no psycopg2 exception out: a lost connection is transient, a refusal permanent.

psycopg2's pool is replaced by one handing out a fake connection whose statements raise what
the test asks, so `ConnectionPool.transaction` runs unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.pool
import pytest

from aidetect.core.db.connection import ConnectionPool, database_error
from aidetect.core.errors import DatabaseRefused, DatabaseUnavailable, PermanentError


class FakeConnection:
    """Enough of a psycopg2 connection for `transaction`: its statements raise `error`."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.closed = 0
        self.rolled_back = False
        self._read, self._write = os.pipe()  # never written to: the server said nothing

    def fileno(self) -> int:
        return self._read

    def cursor(self, **_: Any) -> FakeConnection:
        return self

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def execute(self, *_: object) -> None:
        if self.error is not None:
            raise self.error

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        self.rolled_back = True

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


class FakePool:
    """Stands in for `psycopg2.pool.ThreadedConnectionPool` with one connection."""

    connection = FakeConnection()

    def __init__(self, *_: object, **__: object) -> None:
        self.minconn = 1
        self.returned: list[tuple[FakeConnection, bool]] = []

    def getconn(self) -> FakeConnection:
        return self.connection

    def putconn(self, conn: FakeConnection, close: bool = False) -> None:
        self.returned.append((conn, close))


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectionPool]:
    FakePool.connection = FakeConnection()
    monkeypatch.setattr(psycopg2.pool, "ThreadedConnectionPool", FakePool)
    yield ConnectionPool("postgresql://unit@nowhere/db", pool_max=1)
    FakePool.connection.close()


def returned(pool: ConnectionPool) -> list[tuple[FakeConnection, bool]]:
    fake = pool._pool
    assert isinstance(fake, FakePool)
    return fake.returned


def test_a_constraint_violation_is_a_permanent_refusal_and_the_connection_stays(
    pool: ConnectionPool,
) -> None:
    FakePool.connection.error = psycopg2.errors.UniqueViolation("duplicate key value")

    with pytest.raises(DatabaseRefused, match="duplicate key value"), pool.transaction() as cur:
        cur.execute("INSERT ...")

    assert FakePool.connection.rolled_back
    assert returned(pool) == [(FakePool.connection, False)]


def test_a_lost_connection_is_transient_and_the_connection_is_discarded(
    pool: ConnectionPool,
) -> None:
    FakePool.connection.error = psycopg2.OperationalError("server closed the connection")

    with pytest.raises(DatabaseUnavailable, match="server closed"), pool.transaction() as cur:
        cur.execute("SELECT 1")

    assert returned(pool) == [(FakePool.connection, True)]


def test_an_error_of_our_own_rolls_back_and_stays_ours(pool: ConnectionPool) -> None:
    with pytest.raises(KeyError), pool.transaction():
        raise KeyError("a bug in the caller, not the database's")

    assert FakePool.connection.rolled_back
    assert returned(pool) == [(FakePool.connection, False)]


@pytest.mark.parametrize(
    "error",
    [
        psycopg2.OperationalError("could not connect"),
        psycopg2.InterfaceError("connection already closed"),
        psycopg2.errors.SerializationFailure("could not serialize access"),
        psycopg2.pool.PoolError("connection pool exhausted"),
    ],
)
def test_lost_connections_and_retryable_conflicts_are_transient(error: Exception) -> None:
    assert isinstance(database_error(error, "write"), DatabaseUnavailable)


@pytest.mark.parametrize(
    "error",
    [
        psycopg2.errors.UniqueViolation("duplicate key"),
        psycopg2.errors.InvalidTextRepresentation("invalid input syntax for type uuid"),
        psycopg2.errors.UndefinedColumn("column x does not exist"),
    ],
)
def test_what_postgres_refuses_is_permanent(error: Exception) -> None:
    mapped = database_error(error, "write")

    assert isinstance(mapped, DatabaseRefused) and isinstance(mapped, PermanentError)
    assert str(mapped) == f"write: {error}"
