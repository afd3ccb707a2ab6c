"""The only place that speaks SQL: Postgres, the system of record.

`Database` is the one object components use; its parts live in modules by responsibility:
`connection` (pool, transactions, migrations), `tasks` (the task lifecycle: who writes which
transition), `item_results` (result writes, once per item), `bookkeeping` (the operator's resync
queries), `cache` (the result cache), `batches` (a worker's reads and writes per micro-batch) and
`workers` (heartbeats) and `corpus` (corpus jobs: splitting, results a page at a time).
"""

from aidetect.core.corpus import SplitItem, SplitOutcome
from aidetect.core.db.batches import (
    AttemptStart,
    BatchSnapshot,
    Begun,
    CacheWrite,
    ItemsWanted,
    TaskResults,
    WorkerBatches,
)
from aidetect.core.db.bookkeeping import Bookkeeping
from aidetect.core.db.connection import upgrade_schema
from aidetect.core.db.corpus import CorpusStore
from aidetect.core.db.rows import CachedScore, ItemToScore, TaskPage, WriteOutcome, text_sha256
from aidetect.core.db.workers import WorkerStore


class Database(CorpusStore, Bookkeeping, WorkerBatches, WorkerStore):
    """A pool of connections and every task, cache and worker operation the components need."""


__all__ = [
    "AttemptStart",
    "BatchSnapshot",
    "Begun",
    "CacheWrite",
    "CachedScore",
    "CorpusStore",
    "Database",
    "ItemToScore",
    "ItemsWanted",
    "SplitItem",
    "SplitOutcome",
    "TaskPage",
    "TaskResults",
    "WriteOutcome",
    "text_sha256",
    "upgrade_schema",
]
