"""Reading JSONL export files: strict JSON, fast.

`parse_line` reads a line exactly as the reference reading (`json`, UTF-8, no
NaN/Infinity, integers of any size) does, with the same error messages; orjson reads the
common line, and anything orjson refuses or might read differently goes to `json`:
invalid lines (for the message), lone surrogates, and integers beyond 64 bits (orjson
reads them as floats), which a cheap test for 19 digits in a row sends there first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

import orjson

_BLOCK = 1 << 20
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19
"""orjson reads an integer beyond 64 bits as a float: lines with 19 digits in a row are
read by `json`, which keeps every integer exact."""


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _parse_strict(raw: bytes) -> Any:
    """The reference reading: UTF-8, then `json` without NaN/Infinity."""
    return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)


def parse_line(raw: bytes, *, long_numbers: bool = True, newline: bytes = b"") -> Any:
    """One JSONL line (strict: no NaN/Infinity) as `_parse_strict` reads `raw + newline`,
    with the same errors; orjson reads the common line (`long_numbers=False`: the caller
    knows the line has no run of 19 digits)."""
    if not long_numbers or _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the reference reading gives the message (or reads what orjson refuses)
    return _parse_strict(raw + newline)


Line = tuple[int, bytes, bytes, bool]
"""(number, line without its newline, the newline (b"" at the end of a file without
one), whether the line may hold a run of 19 digits)."""


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def read_lines(
    handle: BinaryIO, digest: Digest | None = None, limit: int | None = None, first_line: int = 1
) -> Iterator[Line]:
    """Every line of `handle` from where it stands (up to `limit` bytes), numbered from
    `first_line`, read in large blocks (each fed to `digest` as read)."""
    number = first_line - 1
    rest = b""
    left = -1 if limit is None else limit
    while left and (block := handle.read(_BLOCK if left < 0 else min(_BLOCK, left))):
        if left > 0:
            left -= len(block)
        if digest is not None:
            digest.update(block)
        if rest:
            block = rest + block
        if b"\n" not in block:
            rest = block
            continue
        long_numbers = _LONG_NUMBER in block.translate(_DIGITS)  # the rest counts too
        lines = block.split(b"\n")
        rest = lines.pop()
        del block  # one block's lines at a time: memory stays flat
        for line in lines:
            number += 1
            yield number, line, b"\n", long_numbers
        del lines
    if rest:
        yield number + 1, rest, b"", True
