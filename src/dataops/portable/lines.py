"""Reading JSONL export files: strict JSON, fast.

`parse_line` reads a line exactly as the reference reading (`json`, UTF-8, no
NaN/Infinity, integers of any size) does, with the same error messages; orjson reads the
common line, and anything orjson refuses or might read differently goes to `json`:
invalid lines (for the message), lone surrogates, and integers beyond 64 bits (orjson
reads them as floats), which a cheap test for 19 digits in a row sends there first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

import orjson

_BLOCK = 1 << 20
MAX_LINE_BYTES = 16 << 20
"""The longest line read (16 MiB): a record, even a template of 500 task definitions
with long descriptions, is a few MiB at most. A longer line is skipped unread."""
MAX_LINE_VALUES = 1_000_000
"""The most JSON values and keys a line may hold to be parsed. Parsed, each is a Python
object of 30 to 100 bytes: a 16 MiB line of a million values takes about 100 MB, one of
5.6 million empty objects (`[{},{},…]`) would take 540 MB. A real record holds far fewer
(a template of 500 task definitions: about 10,000)."""
_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S]?[^"\\]*)*"?')
"""A JSON string, or the rest of the text from an unterminated one: the pattern always
matches, so it never backtracks (linear in the line)."""
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
"""orjson reads an integer beyond 64 bits as a float: lines with 19 digits in a row are
read by `json`, which keeps every integer exact."""


def _openers(raw: bytes) -> int:
    """Commas, colons and opening brackets: one per value or key after the first."""
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{")


def too_many_values(raw: bytes) -> bool:
    """Whether the line `raw` holds more than `MAX_LINE_VALUES` values and keys (counted
    outside strings, where commas and brackets are only text)."""
    if len(raw) <= MAX_LINE_VALUES or _openers(raw) <= MAX_LINE_VALUES:
        return False  # the common line: no copy made
    return _openers(_STRING.sub(b'""', raw)) > MAX_LINE_VALUES


def has_long_number(raw: bytes) -> bool:
    """Whether `raw` holds a run of 19 digits (an integer orjson may not read exactly)."""
    return _LONG_NUMBER in raw.translate(_DIGITS)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _parse_strict(raw: bytes) -> Any:
    """The reference reading: UTF-8, then `json` without NaN/Infinity."""
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)


def parse_line(raw: bytes, *, long_numbers: bool = True, newline: bytes = b"") -> Any:
    """One JSONL line (strict: no NaN/Infinity) as `_parse_strict` reads `raw + newline`,
    with the same errors; orjson reads the common line (`long_numbers=False`: the caller
    knows the line has no run of 19 digits)."""
    if not long_numbers or not has_long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the reference reading gives the message (or reads what orjson refuses)
    return _parse_strict(raw + newline)


Line = tuple[int, bytes | None, bytes, bool]
"""(number, line without its newline (None: longer than the reader's limit, not read),
the newline (b"" at the end of a file without one), whether the line may hold a run of
19 digits)."""


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def read_lines(
    handle: BinaryIO,
    digest: Digest | None = None,
    limit: int | None = None,
    first_line: int = 1,
    max_line: int = MAX_LINE_BYTES,
) -> Iterator[Line]:
    """Every line of `handle` from where it stands (up to `limit` bytes), numbered from
    `first_line`, read in large blocks (each fed to `digest` as read). A line longer
    than `max_line` bytes comes as None; it is read through, never held: memory stays
    within `max_line` and a block, whatever the file holds."""
    number = first_line - 1
    parts: list[bytes] = []  # the line the last block ended in, as read so far
    size = 0  # its length (beyond max_line, `parts` is dropped)
    left = -1 if limit is None else limit
    while left and (block := handle.read(_BLOCK if left < 0 else min(_BLOCK, left))):
        if left > 0:
            left -= len(block)
        if digest is not None:
            digest.update(block)
        cut = block.find(b"\n")
        if size:  # the line of the last block goes on
            if cut < 0:
                size += len(block)
                if size > max_line:
                    parts.clear()
                else:
                    parts.append(block)
                continue
            number += 1
            size += cut
            if size > max_line:
                yield number, None, b"\n", False
            else:
                parts.append(block[:cut])
                yield number, b"".join(parts), b"\n", True
            parts.clear()
            size = 0
            block = block[cut + 1 :]
        elif cut < 0:
            size = len(block)
            if size > max_line:
                continue
            parts.append(block)
            continue
        long_numbers = _LONG_NUMBER in block.translate(_DIGITS)
        lines = block.split(b"\n")
        rest = lines.pop()
        del block  # one block's lines at a time: memory stays flat
        for line in lines:
            number += 1
            if len(line) > max_line:
                yield number, None, b"\n", False
            else:
                yield number, line, b"\n", long_numbers
        del lines
        if rest:
            size = len(rest)
            if size <= max_line:
                parts.append(rest)
    if size:
        yield number + 1, (b"".join(parts) if size <= max_line else None), b"", True
