"""The API's database, connected on first use and again after a failed attempt.

So the API starts, and /healthz answers, while Postgres is down. Its own module, because both
the route dependencies (`deps`) and the readiness probes (`readiness`) need it.
"""

from __future__ import annotations

import threading

from aidetect.core.config import DatabaseSettings
from aidetect.core.db import Database


class LazyDatabase:
    """A `Database` made on first use; a failed connect is retried on the next use."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._db: Database | None = None

    def get(self) -> Database:
        """The database; raises DatabaseUnavailable (a 503) when it cannot connect."""
        with self._lock:
            if self._db is None:
                self._db = Database(
                    self._settings.url,
                    pool_max=self._settings.pool_max,
                    connect_timeout=self._settings.connect_timeout_seconds,
                )
            return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
