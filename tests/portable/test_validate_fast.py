"""The validator's fast paths report exactly what the reference paths report.

- `parse_line` (orjson, with `json` for what orjson refuses or might read differently)
  against the reference reading `_parse_strict`: same value, same error message;
- `read_lines` / `split_file` against reading the file line by line;
- the compiled record check against the type checkers it short-cuts;
- `from_record`'s fast path against the general builder;
- the raw-line prefilter of the redaction scan against the scan without it;
- worker processes against one process, chunk by chunk, on exports with every kind of
  problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops.domain.codec import _enum_converter, builder, constructor
from dataops.domain.enums import ArtifactStatus
from dataops.domain.text import UNPAIRED_SURROGATE
from dataops.portable import lines as lines_module
from dataops.portable.checking import fast as fast_pass
from dataops.portable.checking import index as index_module
from dataops.portable.checking import parallel
from dataops.portable.checking import validate as validate_module
from dataops.portable.checking.checks import redaction_issues
from dataops.portable.checking.scan import split_file
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import (
    SPECS,
    canonical_line,
    from_record,
    known_fields,
    required_fields,
)
from dataops.portable.lines import _parse_strict, parse_line, read_lines
from dataops.portable.report import Report
from dataops.portable.schema import _hints, check_record, checker
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir

HOSTILE = [
    "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc",
    "https://example.com/file?X-Amz-Credential=AKIA/2025",
    "x-amz-\u017fignature",
    "https://user:secret@example.com/private",
    "https://example.com/share?token=abc123",
    "a;Password=2",
    "AKIAIOSFODNN7EXAMPLE",
    "$2b$12$abcdefghijklmnopqrstuv",
    "https://example.com/doc",
    "s3://bucket/key.pdf",
    "\ud800",
    "",
    "2025-01-02T03:04:05Z",
]
KEYS = ["model", "note", "tokenCount", "apiKey", "password", "signedUrl", "salt", "url", "x"]


def _outcome(read: Any, raw: bytes, **options: Any) -> tuple[str, str]:
    try:
        value = read(raw, **options)
    except (ValueError, UnicodeDecodeError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    # repr shows types (1 vs 1.0), key order, -0.0 and every character.
    return "value", repr(value)


# --- parse_line ---------------------------------------------------------------------------

CRAFTED = [
    b'{"a":NaN}',
    b'{"a":-Infinity}',
    b'{"a":1e400}',
    b'{"a":18446744073709551615}',
    b'{"a":18446744073709551616}',
    b'{"a":-9223372036854775809}',
    b'{"a":123456789012345678901234567890}',
    b'{"a":1234567890123456789.5}',
    b'{"a":"\\ud800"}',
    b'{"a":"\\ud83d\\ude00"}',
    b'{"a":"\xff"}',
    b'{"a":"\xc3"}',
    b'\xef\xbb\xbf{"a":1}',
    b'{"a":1,"a":2,"b":0}',
    b'{"a":-0.0,"b":-0,"c":1E5,"d":0.1000000000000000055511151231257827}',
    b'{"a":01}',
    b'{"bundle_id": ',
    b"[1, 2]",
    b"",
    b"  ",
    b'{"a":"\x00"}',
    b"[" * 900 + b"]" * 900,
]


@pytest.mark.parametrize("raw", CRAFTED)
@pytest.mark.parametrize("newline", [b"\n", b""])
def test_parse_line_is_the_reference_reading(raw: bytes, newline: bytes) -> None:
    expected = _outcome(_parse_strict, raw + newline)
    assert _outcome(parse_line, raw, newline=newline) == expected


def test_too_deep_a_line_is_reported_not_fatal(tampered: ExportDir) -> None:
    tampered.write_lines("bundles", [*tampered.lines("bundles"), "[" * 5000 + "]" * 5000])
    problems = validate_export(tampered.root).problems
    assert [(p.entity, p.message.split(":")[0]) for p in problems] == [
        ("bundles", "is not valid JSON")
    ]


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=1500, deadline=None)
@given(json_values, st.booleans(), st.integers(0, 40), st.binary(max_size=2))
def test_parse_line_agrees_on_any_line(
    value: Any, ascii_only: bool, cut: int, noise: bytes
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    if cut:  # a damaged line: truncated, with stray bytes
        raw = raw[: len(raw) * cut // 40] + noise
    expected = _outcome(_parse_strict, raw + b"\n")
    assert _outcome(parse_line, raw, newline=b"\n") == expected
    digits = raw.translate(lines_module._DIGITS)
    if lines_module._LONG_NUMBER not in digits:  # what read_lines tells parse_line
        assert _outcome(parse_line, raw, long_numbers=False, newline=b"\n") == expected


# --- reading lines and chunks ---------------------------------------------------------------

contents = st.lists(
    st.one_of(
        st.sampled_from([b"", b" ", b"\r", b'{"a":1}', b"1234567890123456789012", b"x" * 70]),
        st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
    ),
    max_size=30,
).flatmap(lambda parts: st.sampled_from([b"\n".join(parts), b"\n".join(parts) + b"\n"]))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=contents, block=st.integers(1, 64))
def test_read_lines_is_reading_line_by_line(
    monkeypatch: pytest.MonkeyPatch, content: bytes, block: int
) -> None:
    monkeypatch.setattr(lines_module, "_BLOCK", block)
    digest = hashlib.sha256()
    got = list(read_lines(io.BytesIO(content), digest))
    expected = list(enumerate(io.BytesIO(content), start=1))
    assert [(n, raw + newline) for n, raw, newline, _ in got] == expected
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
    for _, raw, _, long_numbers in got:
        if b"0" * 19 in raw.translate(lines_module._DIGITS):
            assert long_numbers


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=contents, target=st.integers(1, 80), block=st.integers(1, 64))
def test_chunks_cover_the_file_line_by_line(
    tmp_path: Path, content: bytes, target: int, block: int
) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(content)
    digest = hashlib.sha256()
    chunks = list(split_file("tasks", path, digest, target, block))
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
    got = []
    for chunk in chunks:
        with path.open("rb") as handle:
            handle.seek(chunk.start)
            limit = None if chunk.end is None else chunk.end - chunk.start
            got += [
                (n, raw + newline)
                for n, raw, newline, _ in read_lines(handle, None, limit, chunk.first_line)
            ]
    assert got == list(enumerate(io.BytesIO(content), start=1))
    assert all(c.end is None or content[c.end - 1 : c.end] == b"\n" for c in chunks)


# --- record checks --------------------------------------------------------------------------


def _reference_check(spec_name: str, record: dict[str, Any]) -> list[tuple[str, str]]:
    """check_record as it was before its plan: every value through its type checker."""
    spec = SPECS[spec_name]
    hints = _hints(spec.model)  # type: ignore[arg-type]
    issues = [(n, "is required") for n in required_fields(spec) if record.get(n) is None]
    for key, value in record.items():
        if key not in known_fields(spec):
            issues.append((key, f"is not a field of {spec.name}"))
        elif value is not None:
            issues += checker(hints["id" if key == spec.id_field else key])(value, key)
    identifier = record.get(spec.id_field)
    if isinstance(identifier, str) and not identifier.strip():
        issues.append((spec.id_field, "must not be blank"))
    return issues


odd_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from([s.value for s in ArtifactStatus] + ["done", "todo", "report", "s3"]),
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False),
    st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none()), max_size=2),
    st.dictionaries(st.sampled_from([*KEYS, "artifactId", "type"]), st.text(max_size=3)),
)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_record_check_is_the_type_checkers(golden: Golden, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([n for n in SPECS if SPECS[n].model is not None]))
    records = ExportDir(golden.directory).records(name)
    record = dict(data.draw(st.sampled_from(records)))
    for _ in range(data.draw(st.integers(1, 4))):
        key = data.draw(st.sampled_from([*sorted(known_fields(SPECS[name])), "extra"]))
        record[key] = data.draw(odd_values)
    assert check_record(SPECS[name], record) == _reference_check(name, record)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_from_record_fast_path_is_the_builder(golden: Golden, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([n for n in SPECS if SPECS[n].model is not None]))
    spec = SPECS[name]
    record = dict(data.draw(st.sampled_from(ExportDir(golden.directory).records(name))))
    optional = [k for k in record if k not in required_fields(spec)]
    for key in data.draw(st.lists(st.sampled_from(optional or ["x"]), max_size=2)):
        record[key] = None  # a null reads as the field's default, in both paths
    general = builder(spec.model, ("id", spec.id_field), absent_nulls=True)  # type: ignore[arg-type]
    assert from_record(spec, record) == general(record)


@pytest.mark.parametrize("name", [n for n in SPECS if SPECS[n].model is not None])
def test_constructor_is_the_dataclass_init(golden: Golden, name: str) -> None:
    spec = SPECS[name]
    model: Any = spec.model
    construct = constructor(model)
    for record in ExportDir(golden.directory).records(name):
        kwargs = vars(from_record(spec, record))
        made = construct(dict(kwargs))
        assert type(made) is model
        assert vars(made) == vars(model(**kwargs))
        assert list(vars(made)) == [f.name for f in dataclasses.fields(model)]
    missing = dataclasses.MISSING
    required = {
        f.name
        for f in dataclasses.fields(model)
        if f.default is missing and f.default_factory is missing
    }
    sparse = {k: v for k, v in kwargs.items() if k in required}
    first, second = construct(dict(sparse)), construct(dict(sparse))
    for f in dataclasses.fields(model):
        if f.default_factory is not missing:  # a fresh value each time
            assert getattr(first, f.name) is not getattr(second, f.name)
    with pytest.raises(TypeError):
        construct({})


def test_enum_values_convert_as_the_enum_does() -> None:
    convert = _enum_converter(ArtifactStatus)
    assert convert("approved") is ArtifactStatus.APPROVED
    for bad in ("published", ["approved"], 1):
        with pytest.raises(ValueError, match="is not a valid ArtifactStatus"):
            convert(bad)


# --- the redaction prefilter ----------------------------------------------------------------

free = st.recursive(
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6), st.integers(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=10,
)


_ESCAPES = {"\ue000": "\\u003d", "\ue001": "\\u0040", "\ue002": "\\u002d"}


def _marked(value: Any) -> Any:
    """`value` with "=", "@" and "-" in strings and keys replaced by private-use marks."""
    if isinstance(value, str):
        return value.replace("=", "\ue000").replace("@", "\ue001").replace("-", "\ue002")
    if isinstance(value, dict):
        return {_marked(k): _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


@settings(
    max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_raw_line_prefilter_misses_nothing(golden: Golden, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["users", "notifications", "audit_events", "artifacts"]))
    record = dict(data.draw(st.sampled_from(ExportDir(golden.directory).records(name))))
    for _ in range(data.draw(st.integers(1, 3))):
        record[data.draw(st.sampled_from([*sorted(record), *KEYS]))] = data.draw(free)
    escaping = data.draw(st.sampled_from(["canonical", "ascii", "escaped"]))
    if escaping == "canonical":
        raw = canonical_line(record).encode("utf-8", "surrogatepass")
    elif escaping == "ascii":
        raw = json.dumps(record, ensure_ascii=True).encode()
    else:  # "=", "@" and "-" in strings as \u escapes: what an escape hides from a search
        text = json.dumps(_marked(record), ensure_ascii=True)
        for mark, escape in _ESCAPES.items():
            text = text.replace(json.dumps(mark)[1:-1], escape)
        raw = text.encode()
    parsed = parse_line(raw)
    spec = SPECS[name]
    for rules_ran in (False, True):
        with_raw = redaction_issues(spec, parsed, rules_ran=rules_ran, raw=raw)
        assert with_raw == redaction_issues(spec, parsed, rules_ran=rules_ran)


# --- worker processes -----------------------------------------------------------------------


def _full(report: Report) -> dict[str, Any]:
    data = report.as_json()
    data.pop("path")
    data["invalid_lines"] = {k: sorted(v) for k, v in sorted(report.invalid_lines.items())}
    return data


def _tamper(export: ExportDir, golden: Golden, seed: int) -> None:
    """Several problems at once, across files and chunks."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        export.edit("tasks", golden.ids.url_task, completion_proof=None, link=None)
    for entity in ("artifacts", "audit_events", "notifications", "users", "bundles"):
        records = export.records(entity)
        record = records[rng.randrange(len(records))]
        key = rng.choice([*sorted(record), *KEYS])
        record[key] = rng.choice([*HOSTILE, {"apiKey": "x"}, [1], None, 7])
        export.write_records(entity, records)
    tasks = export.lines("tasks")
    tasks.insert(rng.randrange(len(tasks)), "")
    tasks.insert(rng.randrange(len(tasks)), tasks[rng.randrange(len(tasks))])  # duplicate
    tasks.append('{"task_id":"t","a":NaN}')
    tasks.append('{"task_id":"t","version":123456789012345678901234567890}')
    export.write_lines("tasks", tasks, reseal=rng.random() < 0.7)


@pytest.mark.parametrize("seed", range(12))
def test_workers_report_what_one_process_reports(
    tampered: ExportDir, golden: Golden, seed: int
) -> None:
    _tamper(tampered, golden, seed)
    alone = validate_export(tampered.root, workers=1)
    assert not alone.valid
    for chunk_bytes in (64, 700):
        together = validate_export(tampered.root, workers=2, chunk_bytes=chunk_bytes)
        assert _full(together) == _full(alone)


@pytest.mark.parametrize(("known_max", "small_file"), [(1, 1 << 21), (10**6, 0), (10**6, 1 << 21)])
def test_edges_resolved_in_memory_report_as_sql_does(
    tampered: ExportDir,
    golden: Golden,
    monkeypatch: pytest.MonkeyPatch,
    known_max: int,
    small_file: int,
) -> None:
    """Edges to small entities checked before are resolved from their IDs in memory;
    with no such IDs (none kept, or too many) every edge goes through the index."""
    for entity, field in (("tasks", "assignee_id"), ("files", "created_by")):
        records = tampered.records(entity)
        records[-1][field] = "usr_gone"
        tampered.write_records(entity, records)
    _tamper(tampered, golden, 3)
    expected = _full(validate_export(tampered.root, workers=1))
    assert any("usr_gone" in p["message"] for p in expected["problems"])
    monkeypatch.setattr(index_module, "KNOWN_IDS_MAX", known_max)
    monkeypatch.setattr(validate_module, "_SMALL_FILE", small_file)
    assert _full(validate_export(tampered.root, workers=1)) == expected
    assert _full(validate_export(tampered.root, workers=2, chunk_bytes=500)) == expected


def test_workers_on_a_valid_archive(golden: Golden) -> None:
    alone = validate_export(golden.archive, workers=1)
    assert alone.valid
    assert _full(validate_export(golden.archive, workers=2, chunk_bytes=100)) == _full(alone)


@pytest.mark.parametrize("fast", [True, False])
def test_a_failing_worker_stops_the_validation(
    golden: Golden, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(parallel, "scan_chunk", broken)
    monkeypatch.setattr(fast_pass, "prove_chunk", broken)
    with pytest.raises(parallel.WorkerFailed, match="disk on fire"):
        validate_export(golden.directory, workers=2, chunk_bytes=100, fast=fast)


# --- what used to crash the validator -------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "field", "value"),
    [
        ("files", "task_id", "\ud800"),
        ("artifacts", "metadata", {"\udc00": 1}),
        ("artifacts", "title", "a\udfffb"),
        ("tasks", "tags", ["ok", "\ud83d"]),
    ],
)
def test_lone_surrogates_are_reported_not_fatal(
    tampered: ExportDir, entity: str, field: str, value: Any
) -> None:
    """What the API refuses (a lone surrogate escape is not text) is one problem on its
    line, whatever field holds it; a valid pair escape is text."""
    records = tampered.records(entity)
    records[0][field] = value
    tampered.write_records(entity, records)
    problems = validate_export(tampered.root).problems
    assert [(p.entity, p.line, p.message) for p in problems] == [
        (entity, 1, f"is not valid JSON text: {UNPAIRED_SURROGATE}")
    ]


def test_surrogate_pairs_are_text(tampered: ExportDir) -> None:
    lines = [canonical_line(r) for r in tampered.records("artifacts")]
    lines[0] = lines[0].replace('"title":"', '"title":"\\ud83d\\ude00 \\\\udc00 ', 1)
    tampered.write_lines("artifacts", lines)
    assert validate_export(tampered.root).valid


def test_null_artifact_status_reads_as_the_default(tampered: ExportDir, golden: Golden) -> None:
    records = tampered.records("artifacts")
    draft = next(r for r in records if r.get("status", "draft") == "draft")
    draft["status"] = None
    lines = [canonical_line(r) for r in records]
    lines[records.index(draft)] = json.dumps(draft, sort_keys=True, separators=(",", ":"))
    tampered.write_lines("artifacts", lines)
    assert validate_export(tampered.root).valid
