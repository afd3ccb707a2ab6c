"""Split a corpus into a task's items: stream its objects line by line, parse each record, and
write the items in batches, each with the cursor that follows it.

Memory stays flat whatever the corpus' size: one batch of records is held at a time, and lines
come from a streamed (ranged) GET. A resumed split starts at the cursor the last batch wrote:
the object it was in, the byte offset and the index of the next record.

A record that cannot be scored is still an item, written failed with the reason (not valid
JSON, no text field, a blank text, a text over the limit, not UTF-8, a line over
MAX_LINE_BYTES), so that the output has a line for every record and `progress.failed` counts
them; `failurePolicy.maxFailedItems` decides whether they fail the job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from uuid import UUID

from aidetect.core.corpus import CorpusSource, SplitCursor, SplitItem
from aidetect.core.logs import task_log
from aidetect.core.models import MAX_TEXT_CHARS
from aidetect.core.objects import MAX_LINE_BYTES, Line, ObjectStore
from aidetect.core.seams import CorpusTasks
from aidetect.core.texts import is_blank, text_problem

log = logging.getLogger("aidetect.operator.splitting")


def parse_record(
    line: Line, *, source: CorpusSource, key: str, line_no: int, index: int
) -> SplitItem | None:
    """The item a line of the source makes, failed where it cannot be scored; None if blank."""
    where = f"{key}:{line_no}"
    if line.data is None:
        return SplitItem(index, where, problem=f"line {where} is over {MAX_LINE_BYTES} bytes")
    try:
        raw = line.data.decode("utf-8")
    except UnicodeDecodeError:
        return SplitItem(index, where, problem=f"line {where} is not UTF-8")
    if is_blank(raw):
        return None
    if source.format == "lines":
        return _item(index, where, where, raw.strip())
    try:
        record = json.loads(raw)
    except ValueError as e:
        return SplitItem(index, where, problem=f"line {where} is not valid JSON: {e}")
    if not isinstance(record, dict):
        return SplitItem(index, where, problem=f"line {where} is not a JSON object")
    source_id = where
    if source.id_field is not None and isinstance(record.get(source.id_field), str | int):
        source_id = str(record[source.id_field])
    text = record.get(source.text_field)
    if not isinstance(text, str):
        return SplitItem(
            index, source_id, problem=f"line {where} has no string field {source.text_field!r}"
        )
    return _item(index, source_id, where, text)


def _item(index: int, source_id: str, where: str, text: str) -> SplitItem:
    if len(text) > MAX_TEXT_CHARS:
        problem = f"line {where}: the text has {len(text)} characters, over {MAX_TEXT_CHARS}"
        return SplitItem(index, source_id, problem=problem)
    if blank := text_problem(text):
        return SplitItem(index, source_id, problem=f"line {where}: the text {blank}")
    return SplitItem(index, source_id, text=text)


def objects_from(
    store: ObjectStore, source: CorpusSource, cursor: SplitCursor | None
) -> Iterator[SplitCursor]:
    """The objects left to read, each as the cursor to start it from: the one the split was
    in (at its offset), then the following keys of the prefix."""
    if source.s3.key is not None:
        yield cursor or SplitCursor(key=source.s3.key)
        return
    if cursor is not None:
        yield cursor
    for key in store.keys(source.s3.prefix or "", start_after=cursor.key if cursor else ""):
        yield SplitCursor(key=key)


def split(
    db: CorpusTasks,
    store: ObjectStore,
    task_id: UUID,
    source: CorpusSource,
    cursor: SplitCursor | None,
    *,
    batch: int,
) -> bool:
    """Read the source from `cursor` on into the task's items; False if the task left Pending
    meanwhile (cancelled, failed, past its deadline), True once the source is all read."""
    where = source.s3.url()
    tlog = task_log(log, task_id)
    index = cursor.index if cursor else 0
    for start in objects_from(store, source, cursor):
        key, line_no = start.key, start.line
        tlog.info("splitting %s from byte %d (record %d)", source.s3.url(key), start.offset, index)
        pending: list[SplitItem] = []
        end = start.offset
        for line in store.lines(key, start.offset):
            line_no += 1
            end = line.end
            item = parse_record(line, source=source, key=key, line_no=line_no, index=index)
            if item is None:
                continue
            pending.append(item)
            index += 1
            if len(pending) >= batch:
                here = SplitCursor(key=key, offset=end, index=index, line=line_no)
                if not db.record_split(task_id, pending, here, where).go_on:
                    return False
                pending = []
        here = SplitCursor(key=key, offset=end, index=index, line=line_no)
        if pending and not db.record_split(task_id, pending, here, where).go_on:
            return False
    return True
