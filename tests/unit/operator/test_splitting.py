"""Splitting a corpus into items: what each record becomes, and a split that dies between two
batches resumes from the cursor it wrote, writing every record once and in source order."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest

from aidetect.core.corpus import CorpusSource, SplitCursor, SplitItem, SplitOutcome
from aidetect.core.models import MAX_TEXT_CHARS
from aidetect.core.objects import Line, _split_lines
from aidetect.operator.splitting import parse_record, split


def source(**extra: object) -> CorpusSource:
    s3 = {"endpoint": "http://s3.local", "bucket": "corpora", "key": "essays.jsonl"}
    return CorpusSource.model_validate(
        {"s3": s3, "credentialsSecretRef": {"name": "s"}, "idField": "id", **extra}
    )


def parse(raw: bytes | None, src: CorpusSource | None = None) -> SplitItem | None:
    return parse_record(Line(raw, 0), source=src or source(), key="k", line_no=7, index=3)


def test_a_record_becomes_an_item_with_its_own_id() -> None:
    assert parse(b'{"id": "e-1", "text": "Hello there."}') == SplitItem(3, "e-1", "Hello there.")
    assert parse(b'{"id": 12, "text": "Hi."}') == SplitItem(3, "12", "Hi.")


def test_without_an_id_the_item_is_named_by_its_place_in_the_source() -> None:
    assert parse(b'{"text": "Hello."}') == SplitItem(3, "k:7", "Hello.")
    lines = source(format="lines", idField=None)
    assert parse(b"  One text per line.  ", lines) == SplitItem(3, "k:7", "One text per line.")


def test_a_blank_line_is_no_record() -> None:
    assert parse(b"") is None
    assert parse(b" \t\r") is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"id": "x", "text": "cut', "is not valid JSON"),
        (b'["a list"]', "is not a JSON object"),
        (b'{"id": "x", "body": "no text"}', "has no string field 'text'"),
        (b'{"id": "x", "text": 42}', "has no string field 'text'"),
        (b'{"id": "x", "text": "\\u200b "}', "empty or blank"),
        (json.dumps({"text": "x" * (MAX_TEXT_CHARS + 1)}).encode(), f"over {MAX_TEXT_CHARS}"),
        (b'{"text": "caf\xe9"}', "is not UTF-8"),
        (None, "bytes"),
    ],
)
def test_a_record_that_cannot_be_scored_is_an_item_failed_with_the_reason(
    raw: bytes | None, why: str
) -> None:
    item = parse(raw)
    assert item is not None and item.problem is not None and item.text == ""
    assert why in item.problem and "k:7" in item.problem
    assert item.index == 3


# --- resuming -----------------------------------------------------------------------------


@dataclass
class Store:
    """An object store in memory: keys in order, lines from an offset, in small chunks."""

    objects: dict[str, bytes]
    reads: list[tuple[str, int]] = field(default_factory=list)

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        yield from (k for k in sorted(self.objects) if k.startswith(prefix) and k > start_after)

    def lines(self, key: str, offset: int = 0) -> Iterator[Line]:
        self.reads.append((key, offset))
        body = self.objects[key][offset:]
        yield from _split_lines((body[i : i + 5] for i in range(0, len(body), 5)), offset)


class Died(Exception):
    """The operator was killed between two batches."""


@dataclass
class Db:
    """What `split` writes: items and cursors, and a kill after `die_after` batches."""

    die_after: int | None = None
    items: dict[int, SplitItem] = field(default_factory=dict)
    cursor: SplitCursor | None = None
    batches: int = 0

    def record_split(
        self, task_id: UUID, items: Sequence[SplitItem], cursor: SplitCursor, where: str
    ) -> SplitOutcome:
        if self.die_after is not None and self.batches == self.die_after:
            raise Died
        for item in items:
            assert item.index not in self.items, f"record {item.index} written twice"
            self.items[item.index] = item
        self.cursor = cursor
        self.batches += 1
        return SplitOutcome(len(self.items), 0, True)


def corpus(name: str, n: int) -> bytes:
    lines = [json.dumps({"id": f"{name}-{i}", "text": f"text {i}"}) for i in range(n)]
    lines.insert(4, "")  # a blank line: no record
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("die_after", [1, 2, 5])
def test_a_split_killed_between_batches_resumes_at_its_cursor_and_writes_each_record_once(
    die_after: int,
) -> None:
    store = Store({"day/a.jsonl": corpus("a", 9), "day/b.jsonl": corpus("b", 7), "x": b"{}"})
    src = source(s3={"endpoint": "http://s3.local", "bucket": "corpora", "prefix": "day/"})
    db = Db(die_after=die_after)
    task = uuid4()
    with pytest.raises(Died):
        split(db, store, task, src, None, batch=3)  # type: ignore[arg-type]
    at_death = db.cursor
    assert at_death is not None and at_death.index == 3 * die_after
    reads_before = len(store.reads)
    db.die_after = None
    assert split(db, store, task, src, at_death, batch=3)  # type: ignore[arg-type]
    # The resumed split read on from the cursor's byte offset, not from the start
    assert store.reads[reads_before] == (at_death.key, at_death.offset)
    assert at_death.offset > 0
    # And every record is an item once, in source order; the other prefix is not read
    ids = [db.items[i].source_id for i in range(len(db.items))]
    assert ids == [f"a-{i}" for i in range(9)] + [f"b-{i}" for i in range(7)]
    assert db.cursor is not None and db.cursor.index == 16
    assert all(key.startswith("day/") for key, _ in store.reads)


def test_a_split_stops_when_the_task_left_pending() -> None:
    class Cancelled(Db):
        def record_split(self, *args: object, **kwargs: object) -> SplitOutcome:
            super().record_split(*args, **kwargs)  # type: ignore[arg-type]
            return SplitOutcome(len(self.items), 0, False)

    store = Store({"essays.jsonl": corpus("e", 10)})
    db = Cancelled()
    assert not split(db, store, uuid4(), source(), None, batch=4)  # type: ignore[arg-type]
    assert db.batches == 1 and len(db.items) == 4
