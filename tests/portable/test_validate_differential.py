"""The validator's fast path (`fast=True`, the default: ISA-L's gzip, the chunk-level
pre-filters) reports exactly what its reference path (`fast=False`) reports: every
problem, in the same order and words, the counts, the relationship graph and the
invalid lines; on the golden exports, on damaged archives, and on thousands of
tampered and generated exports."""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops.domain import enums
from dataops.domain.secret_scan import secret_value_problem
from dataops.portable.checking.index import ScratchIndex
from dataops.portable.checking.scan import Chunk, scan_chunk
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import SPECS, canonical_line
from dataops.portable.report import Report
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir, copy_export
from tests.portable.test_validate_fast import _ESCAPES, KEYS, _marked, _tamper, free


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


# --- the secret pre-filter: lines proven free of candidates skip the secret scans -------------


def test_strings_an_entity_adds_are_never_flagged() -> None:
    """What `secret_scan.text_known_clean` relies on: an entity read from a line holds the
    line's strings, plus enum values and field defaults, none of which is flagged."""
    for name in dir(enums):
        cls = getattr(enums, name)
        if isinstance(cls, type) and issubclass(cls, enum.Enum) and cls is not enum.Enum:
            for member in cls:
                if isinstance(member.value, str):
                    assert secret_value_problem(member.value) is None, member
    for spec in SPECS.values():
        if spec.model is None:
            continue
        for model in _models(spec.model):
            for field in dataclasses.fields(model):
                default = field.default
                if field.default_factory is not dataclasses.MISSING:
                    default = field.default_factory()
                for text in _strings(default):
                    assert secret_value_problem(text) is None, (model, field.name)


def _models(cls: type[Any]) -> Iterator[type[Any]]:
    """`cls` and every dataclass its fields hold (at any depth)."""
    seen: set[type[Any]] = set()
    stack = [cls]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        yield model
        for hint in typing.get_type_hints(model).values():
            for arg in (hint, *typing.get_args(hint)):
                for inner in (arg, *typing.get_args(arg)):
                    if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                        stack.append(inner)


def _strings(value: Any) -> list[str]:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _chunk_report(path: Path, name: str, *, fast: bool, tmp: Path) -> dict[str, Any]:
    tmp.mkdir()
    index = ScratchIndex(tmp)
    try:
        result = scan_chunk(Chunk(name, path), index, fast=fast)
        index.seal()
        return {
            "records": result.records,
            "problems": result.problems,
            "edges": result.edges,
            "duplicates": list(index.duplicates()),
            "pending": list(index.pending_tasks()),
        }
    finally:
        index.close()


_ENTITIES = ["tasks", "artifacts", "files", "bundles", "notifications", "audit_events", "users"]


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_secret_prefilter_reports_what_every_line_scanned_reports(
    golden: Golden, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """A file of golden lines, some tampered with hostile values (secrets, signed URLs,
    hashes, secret-like keys; written canonically, as ASCII, or with the marks as
    `\\u` escapes), so groups of lines mix clean lines and candidates: the fast scan
    reports exactly what the reference scan reports."""
    name = data.draw(st.sampled_from(_ENTITIES))
    records = ExportDir(golden.directory).records(name)
    count = data.draw(st.integers(1, 80))
    lines = []
    for _ in range(count):
        record = dict(data.draw(st.sampled_from(records)))
        if data.draw(st.integers(0, 4)) == 0:
            for _ in range(data.draw(st.integers(1, 2))):
                record[data.draw(st.sampled_from([*sorted(record), *KEYS]))] = data.draw(free)
        escaping = data.draw(st.sampled_from(["canonical", "canonical", "ascii", "escaped"]))
        if escaping == "canonical":
            lines.append(canonical_line(record).encode("utf-8", "surrogatepass"))
        elif escaping == "ascii":
            lines.append(json.dumps(record, ensure_ascii=True).encode())
        else:
            text = json.dumps(_marked(record), ensure_ascii=True)
            for mark, escape in _ESCAPES.items():
                text = text.replace(json.dumps(mark)[1:-1], escape)
            lines.append(text.encode())
    tmp = tmp_path_factory.mktemp("lines")
    path = tmp / f"{name}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    fast = _chunk_report(path, name, fast=True, tmp=tmp / "fast")
    assert fast == _chunk_report(path, name, fast=False, tmp=tmp / "old")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_generated_exports(
    golden: Golden, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Whole exports with hostile values in random records of random files (the
    manifest resealed or not): identical reports, one process or two."""
    export = copy_export(golden.directory, tmp_path_factory.mktemp("export") / "copy")
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(_ENTITIES))
        records = export.records(name)
        record = records[data.draw(st.integers(0, len(records) - 1))]
        record[data.draw(st.sampled_from([*sorted(record), *KEYS]))] = data.draw(free)
        export.write_records(name, records, reseal=data.draw(st.booleans()))
    _same(export.root)
    _same(export.root, workers=2, chunk_bytes=data.draw(st.sampled_from([200, 2000])))


@pytest.mark.parametrize("seed", range(12))
def test_tampered_exports(tampered: ExportDir, golden: Golden, seed: int) -> None:
    _tamper(tampered, golden, seed)
    assert not _same(tampered.root)["valid"]
    _same(tampered.root, workers=2, chunk_bytes=500)
