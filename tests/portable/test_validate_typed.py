"""The validator's fast pass never proves what the reference checks refuse.

Line by line: the typed pre-filter (`typed.Prover`) says "clean" only for lines the rule
code of `checks` (shape, field rules, timestamps, storage policy, redaction) finds no
problem in; checked on thousands of lines made from the golden export's records with
one or more fields replaced by tricky values. Export by export: the fast pass proves the
golden export, and declines (leaving the report to the reference checks) on an export
with a duplicate ID, a dangling edge or a line it cannot prove; the reports of the two
paths are compared in test_validate_differential.py.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataops.domain.rules import MAX_TAG, MAX_TEXT, MAX_TITLE
from dataops.domain.secret_scan import is_secret_key
from dataops.domain.text import has_unpaired_surrogate
from dataops.portable.checking.checks import needs_live_proof, record_issues, redaction_issues
from dataops.portable.checking.fast import prove_chunk, prove_export
from dataops.portable.checking.flags import _KEY_WORDS
from dataops.portable.checking.provers import Prover
from dataops.portable.checking.scan import Chunk, _may_hold_secret
from dataops.portable.checking.typed import TYPED
from dataops.portable.checking.validate import validate_export
from dataops.portable.format import SPECS
from dataops.portable.lines import parse_line
from dataops.portable.report import Progress
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir

STRINGS = [
    "",
    " ",
    "\t\n",
    "x",
    "x" * MAX_TAG,
    "x" * (MAX_TAG + 1),
    "x" * MAX_TITLE,
    "x" * (MAX_TITLE + 1),
    "x" * (MAX_TEXT + 1),
    "\u00a0",
    "\u2028",
    "é",
    "task-due",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYab",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "Bearer abc.def.ghi",
    "password=hunter2",
    "2026-12-07",
    "2024-02-29",
    "2023-02-29",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "2026-12-07T05:47:36.798Z",
    "2026-12-07T05:47:36Z",
    "2026-12-07T05:47:36.798+01:00",
    "2026-12-07T05:47:36.798z",
    "2026-12-07 05:47:36.798Z",
    "2026-12-07T05:47:36.798Z\n",
    "2026-12-07T24:00:00Z",
    "2026-12-07T05:47:36.7Z",
    "2026-12-07t05:47:36Z",
    "2026-12-07T05:47:36.1234567Z",
    "2026-12-07T05:47:36.798-23:59",
    "2026-12-07T05:47Z",
    "2026-12-07T05:47:60Z",
    "2026-12-07T05:47:36,798Z",
    "20261207T054736Z",
    "2026-W49-1",
    "2026-341",
    "+2026-12-07",
    "2026-12-7",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59.999999-12:00",
    "https://example.com/a/b",
    "https://EXAMPLE.com/a",
    "https://example.com/a?X-Amz-Signature=abc",
    "https://user:pw@example.com/a",
    "https://example.com/a%2Fb",
    "https://github.com/org/repo",
    "https://docs.google.com/document/d/1",
    "http://example.com",
    "https:///a",
    "ftp://example.com/a",
    "s3://bucket/key.wav",
    "s3://bucket",
    "s3://bucket/",
    "local-dev://a/b.txt",
    "local-dev://a/../b",
    "local-dev:///a",
    "local-dev://a\\b",
    "sha256:" + "0" * 64,
    "sha256:" + "A" * 64,
    "sha256:abc",
    "text/plain; charset=utf-8",
    "text/plain\r\n",
    "usr_00000000000000000000000000",
    "system",
]
ENUM_VALUES = [
    "todo",
    "waiting",
    "done",
    "archived",
    "approved",
    "rejected",
    "draft",
    "needs-review",
    "s3",
    "external-url",
    "local-dev",
    "github",
    "google-drive",
    "unknown",
    "transcript",
    "report",
    "artifact",
    "file",
    "url",
    "task-due",
    "task",
    "artifact",
    "document",
    "active",
    "public",
    "manual-link",
]
SCALARS: Any = st.one_of(
    st.sampled_from(STRINGS),
    st.sampled_from(ENUM_VALUES),
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.sampled_from([2**63, 10**30, 1.0, 1.5, -0.0]),
    st.text(max_size=12),
)
VALUES: Any = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "token", "apiKey", "artifactId", "fileId", "metadata", "x"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _records(golden: Golden, entity: str) -> list[dict[str, Any]]:
    path = golden.directory / SPECS[entity].file_name
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _reference_clean(entity: str, raw: bytes, *, deferred: bool = False) -> bool:
    """The rule code of `checks` finds nothing in the line (every line scanned);
    `deferred`: the line is a done task without a recorded proof."""
    spec = SPECS[entity]
    try:
        record = parse_line(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    if not isinstance(record, dict) or has_unpaired_surrogate(raw, record):
        return False
    issues, built = record_issues(spec, record)
    issues += redaction_issues(spec, record, rules_ran=built is not None, raw=raw)
    return not issues and needs_live_proof(spec, record) == deferred


def _line(record: dict[str, Any], ascii_only: bool) -> bytes:
    return json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"
    )


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_line_proven_clean_is_clean_for_the_rule_code(
    golden: Golden, data: st.DataObject
) -> None:
    entity = data.draw(st.sampled_from(sorted(TYPED)))
    records = _records(golden, entity)
    record = dict(data.draw(st.sampled_from(records)))
    nested = [k for k, v in record.items() if isinstance(v, (list, dict)) and v]
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["text", "text", "text", "set", "drop", "nested"]))
        texts = sorted(name for name, value in record.items() if isinstance(value, str))
        if action == "text" and texts:  # the same JSON type: the rules decide
            record[data.draw(st.sampled_from(texts))] = data.draw(st.sampled_from(STRINGS))
        elif action == "drop" and record:
            record.pop(data.draw(st.sampled_from(sorted(record))))
        elif action == "nested" and any(name in record for name in nested):
            present = [name for name in nested if name in record]
            _mutate_nested(record, data.draw(st.sampled_from(present)), data)
        else:
            names = sorted({*record, "unknown_field", *_known(entity)})
            record[data.draw(st.sampled_from(names))] = data.draw(VALUES)
    raw = _line(record, data.draw(st.booleans()))
    typed = Prover(entity)(raw, not _may_hold_secret(raw)) is not None
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lines.jsonl"
        path.write_bytes(raw + b"\n")
        facts = prove_chunk(Chunk(entity, path))
        proven = facts.proven
    event(f"decoded and proven by the pre-filter: {typed}; proven by the fast pass: {proven}")
    if proven:  # (a done task without a recorded proof is left to the proof rule)
        assert _reference_clean(entity, raw, deferred=bool(facts.unproven_tasks)), raw


def _known(entity: str) -> list[str]:
    from dataops.portable.format import known_fields

    return sorted(known_fields(SPECS[entity]))


def _mutate_nested(record: dict[str, Any], name: str, data: st.DataObject) -> None:
    """Replace one value inside a nested list or object (a ref, a verdict, metadata)."""
    value = json.loads(json.dumps(record[name]))
    target = value
    if isinstance(target, list):
        if not target:
            return
        target = target[data.draw(st.integers(0, len(target) - 1))]
    if isinstance(target, dict) and target:
        keys = [*sorted(target), "extra", "satisfiedBy", "apiKey"]
        target[data.draw(st.sampled_from(keys))] = data.draw(VALUES)
    record[name] = value


def test_golden_lines_are_proven_by_the_pre_filter(golden: Golden) -> None:
    """The pre-filter proves most golden lines itself (else it would prove nothing)."""
    proven = total = 0
    for entity in TYPED:
        prover = Prover(entity)
        for raw in (golden.directory / SPECS[entity].file_name).read_bytes().splitlines():
            total += 1
            proven += prover(raw, not _may_hold_secret(raw)) is not None
    assert total
    assert proven * 2 > total


def _prove(directory: Path, workers: int = 1) -> Any:
    specs = [spec for spec in SPECS.values() if (directory / spec.file_name).is_file()]
    return prove_export(directory, specs, workers, 300, Progress(None))


@pytest.mark.parametrize("workers", [1, 2])
def test_the_golden_export_is_proven(golden: Golden, workers: int) -> None:
    proven = _prove(golden.directory, workers)
    assert proven is not None
    report = validate_export(golden.directory, fast=False)
    assert proven.records == report.entity_counts
    assert proven.relationships == report.relationships


def _edit(export: ExportDir, entity: str, change: Any) -> None:
    """Change the records of `entity`; the manifest's count and checksum follow."""
    records = export.records(entity)
    change(records)
    export.write_records(entity, records)


@pytest.mark.parametrize(
    "damage",
    ["duplicate-task", "dangling-bundle", "dangling-artifact-ref", "duplicate-user", "bad-date"],
)
def test_the_fast_pass_declines_what_it_cannot_prove(tampered: ExportDir, damage: str) -> None:
    def run(entity: str, change: Any) -> None:
        _edit(tampered, entity, change)

    if damage == "duplicate-task":
        run("tasks", lambda lines: lines.append(dict(lines[0])))
    elif damage == "dangling-bundle":
        run("tasks", lambda lines: lines[0].update(bundle_id="bdl_missing"))
    elif damage == "dangling-artifact-ref":
        run("tasks", lambda lines: lines[-1].update(artifact_refs=[{"artifactId": "art_x"}]))
    elif damage == "duplicate-user":
        run("users", lambda lines: lines.append({**lines[0], "user_id": "usr_other"}))
    else:
        run("bundles", lambda lines: lines[0].update(created_at="2026-02-30T00:00:00Z"))
    assert _prove(tampered.root) is None
    fast = validate_export(tampered.root).as_json()
    assert not fast["valid"]
    assert fast == validate_export(tampered.root, fast=False).as_json()


def test_an_empty_target_entity_leaves_its_edges_dangling(tampered: ExportDir) -> None:
    (tampered.root / SPECS["bundles"].file_name).write_bytes(b"")
    assert _prove(tampered.root) is None


KEY_PARTS = [
    "api",
    "key",
    "Api",
    "KEY",
    "token",
    "Token",
    "count",
    "secret",
    "Secret",
    "pass",
    "word",
    "pwd",
    "session",
    "id",
    "Id",
    "signed",
    "url",
    "URL",
    "private",
    "access",
    "client",
    "cookie",
    "auth",
    "authorization",
    "credential",
    "signature",
    "phrase",
    "_",
    "-",
    ".",
    " ",
    "é",
    "\u017f",
    "1",
    "x",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(KEY_PARTS), min_size=1, max_size=5) | st.text(max_size=12))
def test_every_secret_like_key_holds_a_secret_key_word(parts: Any) -> None:
    """`flags.SECRET_KEY_WORDS` is a superset of `is_secret_key`: where it finds nothing
    in a key's JSON text, the key is not secret-like."""
    key = parts if isinstance(parts, str) else "".join(parts)
    if is_secret_key(key):
        assert _KEY_WORDS.search(orjson.dumps(key)) is not None, key


def _done_tasks(export: ExportDir) -> list[dict[str, Any]]:
    path = export.root / SPECS["tasks"].file_name
    return [
        task
        for task in (json.loads(line) for line in path.read_bytes().splitlines())
        if task.get("status") == "done"
    ]


def test_done_tasks_without_a_recorded_proof_take_the_proof_rule(tampered: ExportDir) -> None:
    """Each done task's recorded proof dropped: the pass runs the proof rule with the
    export's evidence, proving the export exactly when the reference finds it valid."""
    done = {task["task_id"] for task in _done_tasks(tampered)}
    assert done

    def drop(lines: list[dict[str, Any]]) -> None:
        for line in lines:
            if line["task_id"] in done:
                line["completion_proof"] = []

    _edit(tampered, "tasks", drop)
    reference = validate_export(tampered.root, fast=False)
    with tempfile.TemporaryDirectory() as scratch:
        specs = [spec for spec in SPECS.values() if (tampered.root / spec.file_name).is_file()]
        proven = prove_export(tampered.root, specs, 1, 300, Progress(None), scratch=Path(scratch))
    assert (proven is not None) == reference.valid
    assert validate_export(tampered.root).as_json() == reference.as_json()


def test_a_done_task_whose_proof_is_missing_is_the_reference_report(tampered: ExportDir) -> None:
    def unmet(lines: list[dict[str, Any]]) -> None:
        for line in lines:
            if line.get("status") == "done":
                line["completion_proof"] = []
                line["requires_file"] = True
                line["task_id"] = line["task_id"]  # (a file it never had)
                break

    _edit(tampered, "tasks", unmet)
    _edit(tampered, "files", lambda records: records.clear())
    fast = validate_export(tampered.root).as_json()
    assert fast == validate_export(tampered.root, fast=False).as_json()
    assert not fast["valid"]


# A number as a line may spell it, and a string's characters as a line may escape them.
_FLOAT_SPELLINGS = ["1e9", "1E15", "0.5", "1e-7", "-2.2250738585072014e-308", "1e16", "12"]
_RAW_VALUES: Any = st.recursive(
    st.one_of(
        st.sampled_from(_FLOAT_SPELLINGS),
        st.sampled_from(["true", "null", "-0"]),
        st.text(max_size=8).map(lambda text: json.dumps(text, ensure_ascii=True)),
        st.text(max_size=8).map(lambda text: json.dumps(text, ensure_ascii=False)),
        st.sampled_from(['"\\/"', '"\\u00e9"', '"\\ud83d\\ude00"', '"\\u0001"']),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6).map(lambda items: "[ " + " , ".join(items) + " ]"),
        st.lists(st.tuples(st.text(max_size=4), inner), max_size=6).map(
            lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(_RAW_VALUES)
def test_metadata_written_again_grows_only_by_its_floats(raw_text: str) -> None:
    """`_may_exceed`'s bound: a value decoded from a line is, as compact JSON, at most the
    line's length plus `_FLOAT_GROWTH` bytes for each `.`, `e` or `E` in the line."""
    from dataops.domain.policy import json_size
    from dataops.portable.checking.provers import _FLOAT_GROWTH

    raw = raw_text.encode("utf-8", "surrogatepass")
    try:
        value = parse_line(raw)
    except (ValueError, UnicodeDecodeError):
        return
    floats = raw.count(b".") + raw.count(b"e") + raw.count(b"E")
    assert json_size(value) <= len(raw) + _FLOAT_GROWTH * floats


@pytest.mark.parametrize(
    "state",
    [
        '{"\\u006detadata":{"note":"' + "ab, " * 1300 + '"}}',  # the key spelled by escapes
        '{"metadata":{"note":"' + "ab, " * 1300 + '"}}',
        '{"m\\u0065tadata":' + '{"a":' * 40 + "{}" + "}" * 40 + "}",  # too deep
        '["not", "an", "object"]',
        '"text"',
    ],
)
def test_an_audit_state_the_rules_refuse_is_never_proven(golden: Golden, state: str) -> None:
    """Audit states stay undecoded unless a rule needs their values: a `metadata` key,
    however written, and a state that is not an object still reach the rule code."""
    line = _records(golden, "audit_events")[0]
    text = json.dumps({k: v for k, v in line.items() if k != "after"}, separators=(",", ":"))
    raw = (text[:-1] + ',"after":' + state + "}").encode()
    assert not _reference_clean("audit_events", raw)
    assert Prover("audit_events")(raw, not _may_hold_secret(raw), True) is None
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lines.jsonl"
        path.write_bytes(raw + b"\n")
        assert not prove_chunk(Chunk("audit_events", path)).proven
