"""The result cache: raw scores by (text sha256, detector, model version, granularity)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg2.extras

from aidetect.core.db.connection import ConnectionPool
from aidetect.core.db.rows import CachedScore


class ResultCache(ConnectionPool):
    """Look up and remember raw scores, so a text is not scored twice by the same model."""

    def cached_scores(
        self, *, detector: str, model_version: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedScore]:
        """Raw scores already computed for (text sha256, granularity) pairs; counts the hits."""
        if not keys:
            return {}
        with self.transaction() as cur:
            cur.execute(
                """UPDATE result_cache SET hits = hits + 1, last_hit_at = now()
                   WHERE detector = %s AND model_version = %s
                     AND (text_sha256, granularity) IN
                         (SELECT * FROM unnest(%s::text[], %s::text[]))
                   RETURNING text_sha256, granularity, score, chunks, sentences""",
                (detector, model_version, [k[0] for k in keys], [k[1] for k in keys]),
            )
            return {
                (r["text_sha256"], r["granularity"]): CachedScore(
                    score=r["score"], chunks=r["chunks"], sentences=r["sentences"]
                )
                for r in cur.fetchall()
            }

    def store_scores(
        self, *, detector: str, model_version: str, entries: Sequence[tuple[str, str, CachedScore]]
    ) -> None:
        """Remember raw scores by (text sha256, granularity); the first writer wins."""
        if not entries:
            return
        with self.transaction() as cur:
            self._store_scores(cur, detector, model_version, entries)

    @staticmethod
    def _store_scores(
        cur: Any,
        detector: str,
        model_version: str,
        entries: Sequence[tuple[str, str, CachedScore]],
    ) -> None:
        """`store_scores` inside the caller's transaction, in key order (so that two workers
        storing overlapping entries wait for each other instead of deadlocking)."""
        if not entries:
            return
        psycopg2.extras.execute_values(
            cur,
            """INSERT INTO result_cache (text_sha256, granularity, score, chunks, sentences,
                   detector, model_version)
               VALUES %s ON CONFLICT DO NOTHING""",
            [
                (
                    sha,
                    gran,
                    c.score,
                    c.chunks,
                    psycopg2.extras.Json(c.sentences),
                    detector,
                    model_version,
                )
                for sha, gran, c in sorted(entries, key=lambda e: (e[0], e[1]))
            ],
        )
