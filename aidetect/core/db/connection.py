"""The connection pool and transactions, and schema migrations (yoyo): the base of the DB seam.

No psycopg2 error leaves this module: a lost or refused connection becomes `DatabaseUnavailable`
(retry), and a statement Postgres refuses (a constraint, bad data, bad SQL) `DatabaseRefused`
(retrying the same statement cannot help; the connection stays usable).

A pooled connection is checked before it is handed out, without a round trip: an idle connection
has nothing to read unless the server closed it (a restart, an idle timeout), so a readable one
is discarded and replaced. A Postgres restart thus costs no request an error once the server is
back.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

import psycopg2
import psycopg2.extras
import psycopg2.pool

from aidetect.core.errors import DatabaseRefused, DatabaseUnavailable

psycopg2.extras.register_uuid()
Cursor = psycopg2.extras.RealDictCursor

# The connection is gone or unusable: another one may work. (Serialization failures, deadlocks
# and statement timeouts are OperationalErrors too, so they are retried the same way.)
LOST: tuple[type[Exception], ...] = (psycopg2.OperationalError, psycopg2.InterfaceError)


def database_error(e: Exception, what: str) -> DatabaseUnavailable | DatabaseRefused:
    """A psycopg2 error as core's: lost connections and an exhausted pool are transient, any
    other refusal of Postgres permanent."""
    if isinstance(e, (*LOST, psycopg2.pool.PoolError)):
        return DatabaseUnavailable(f"{what}: {e}")
    return DatabaseRefused(f"{what}: {e}", pgcode=getattr(e, "pgcode", None))


def upgrade_schema(url: str) -> list[str]:
    """Apply the pending yoyo migrations; return their ids. Safe to run concurrently."""
    from yoyo import get_backend, read_migrations

    try:
        backend = get_backend(url)
    except psycopg2.Error as e:
        raise DatabaseUnavailable(f"cannot connect to the database: {e}") from e
    migrations = read_migrations(str(files("aidetect.core") / "migrations"))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    except psycopg2.Error as e:
        raise database_error(e, "cannot migrate the database schema") from e
    return [m.id for m in pending]


def is_usable(conn: Any) -> bool:
    """False if the connection is closed, or the server has closed it (its socket is readable)."""
    if conn.closed:
        return False
    try:
        readable, _, _ = select.select([conn], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _rolled_back(conn: Any) -> bool:
    """Roll back the failed transaction; False if the connection broke meanwhile."""
    if conn.closed:
        return False
    try:
        conn.rollback()
    except psycopg2.Error:
        return False
    return True


class ConnectionPool:
    """A bounded pool of connections, handed out one transaction at a time."""

    def __init__(self, url: str, *, pool_max: int = 8, connect_timeout: int = 5) -> None:
        # The pool raises when it is empty; the semaphore makes callers wait for a connection.
        self._available = threading.BoundedSemaphore(pool_max)
        self._pool_max = pool_max
        try:
            self._pool = psycopg2.pool.ThreadedConnectionPool(
                1, pool_max, url, connect_timeout=connect_timeout
            )
            # psycopg2 closes every connection handed back beyond `minconn`, so with 1 each
            # concurrent transaction paid a new backend (a profile of the operator: 8% of its
            # time in connect). Open lazily, but keep up to pool_max.
            self._pool.minconn = pool_max
        except psycopg2.Error as e:
            raise DatabaseUnavailable(f"cannot connect to the database: {e}") from e

    def close(self) -> None:
        self._pool.closeall()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one transaction: committed on success, rolled back on error."""
        if not self._available.acquire(timeout=30):
            raise DatabaseUnavailable("no database connection free for 30s")
        try:
            conn = self._usable_connection()
        except psycopg2.Error as e:
            self._available.release()
            raise DatabaseUnavailable(f"no database connection: {e}") from e
        broken = False
        try:
            with conn.cursor(cursor_factory=Cursor) as cur:
                yield cur
            conn.commit()
        except LOST as e:
            broken = True
            raise DatabaseUnavailable(f"database connection failed: {e}") from e
        except psycopg2.Error as e:
            broken = not _rolled_back(conn)
            raise database_error(e, "the database refused the statement") from e
        except BaseException:
            broken = not _rolled_back(conn)
            raise
        finally:
            self._pool.putconn(conn, close=broken or bool(conn.closed))
            self._available.release()

    def _usable_connection(self) -> Any:
        """A pooled connection that the server has not closed, or a new one."""
        for _ in range(self._pool_max):
            conn = self._pool.getconn()
            if is_usable(conn):
                return conn
            self._pool.putconn(conn, close=True)
        return self._pool.getconn()  # every idle one was dead: this one is new

    def ping(self) -> None:
        with self.transaction() as cur:
            cur.execute("SELECT 1")
