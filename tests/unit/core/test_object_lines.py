"""Lines of an object from a stream of chunks, with the offset after each: what a split
records as its cursor, so that a ranged GET from that offset gives exactly the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aidetect.core.objects import MAX_LINE_BYTES, Line, _split_lines


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


BODY = b'{"a": 1}\n\n{"b": "zwei"}\r\nno newline at the end'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 20])
def test_lines_and_their_end_offsets_whatever_the_chunk_size(size: int) -> None:
    lines = list(_split_lines(chunks(BODY, size), 0))
    assert [line.data for line in lines] == [
        b'{"a": 1}',
        b"",
        b'{"b": "zwei"}\r',
        b"no newline at the end",
    ]
    assert [line.end for line in lines] == [9, 10, 25, len(BODY)]
    for line in lines:  # each end is where the next line starts
        assert line.end == len(BODY) or BODY[line.end - 1 : line.end] == b"\n"


@pytest.mark.parametrize("cut", [9, 10, 25])
def test_reading_from_an_end_offset_gives_exactly_the_rest(cut: int) -> None:
    whole = list(_split_lines(chunks(BODY, 4), 0))
    rest = list(_split_lines(chunks(BODY[cut:], 4), cut))
    assert rest == [line for line in whole if line.end > cut]


def test_a_line_over_the_limit_is_skipped_to_its_end_and_reported() -> None:
    body = b"short\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\nafter\n" + b"y" * (MAX_LINE_BYTES + 1)
    lines = list(_split_lines(chunks(body, 1 << 16), 0))
    assert lines == [
        Line(b"short", 6),
        Line(None, 6 + MAX_LINE_BYTES + 11),
        Line(b"after", 6 + MAX_LINE_BYTES + 17),
        Line(None, len(body)),
    ]


def test_an_empty_object_has_no_lines() -> None:
    assert list(_split_lines(iter([]), 0)) == []
