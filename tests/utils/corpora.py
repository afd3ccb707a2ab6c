"""Corpora for corpus-job tests: JSONL with known ids and known bad lines, and their outputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.utils.objects import S3Client

WORDS = (
    "river ferry winter harbour lantern orchard meadow village engine letter station garden "
    "kettle market bridge summer teacher journey window morning"
).split()

# Records that cannot be items: the line, its id in the output (None: unreadable, so the id is
# key:line) and a piece of the reason the output must give.
BAD_LINES: tuple[tuple[str, str | None, str], ...] = (
    ('{"id": "bad-json", "text": "an unfinished line', None, "not valid JSON"),
    ('{"id": "bad-no-text", "title": "no text field"}', "bad-no-text", "no string field 'text'"),
    ('{"id": "bad-too-long", "text": "' + "x" * 100_001 + '"}', "bad-too-long", "over 100000"),
    ('{"id": "bad-blank", "text": "   "}', "bad-blank", "empty or blank"),
)


@dataclass(frozen=True)
class Corpus:
    body: bytes
    good_ids: list[str]
    bad: list[tuple[str | None, str]]  # (id, a piece of the reason), in source order

    @property
    def records(self) -> int:
        return len(self.good_ids) + len(self.bad)


def make_corpus(n: int, *, bad: bool = True, prefix: str = "doc") -> Corpus:
    """n good JSONL records with ids prefix-0..n-1 (texts of varied length), the bad lines
    spread among them, and a blank line (no record)."""
    lines: list[str] = []
    ids: list[str] = []
    for i in range(n):
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(8 + i % 24))
        ids.append(f"{prefix}-{i}")
        lines.append(json.dumps({"id": ids[-1], "text": f"Record {i}: the {words}."}))
    chosen = BAD_LINES if bad else ()
    for k, (line, _, _) in enumerate(chosen):
        lines.insert((k + 1) * len(lines) // (len(chosen) + 1), line)
    lines.insert(len(lines) // 3, "")
    bad_ones = [(source_id, why) for _, source_id, why in chosen]
    return Corpus(("\n".join(lines) + "\n").encode(), ids, bad_ones)


def read_jsonl(client: S3Client, bucket: str, key: str) -> tuple[bytes, list[dict[str, Any]]]:
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body, [json.loads(line) for line in body.decode().splitlines()]


def corpus_spec(
    endpoint: str,
    bucket: str,
    key: str,
    secret: str,
    *,
    output_key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A corpus job's spec: JSONL with ids, the results next to it."""
    spec: dict[str, Any] = {
        "source": {
            "s3": {"endpoint": endpoint, "bucket": bucket, "key": key},
            "credentialsSecretRef": {"name": secret},
            "idField": "id",
        },
        "output": {"s3": {"bucket": bucket, "key": output_key or f"{key}.results.jsonl"}},
    }
    return {**spec, **extra}
