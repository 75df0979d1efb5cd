"""Checking the lines of an entity file, a range of lines (a chunk) at a time.

A chunk's findings go to a sink (the report, or a list a worker process sends back);
its IDs, edges and proof evidence go to a scratch index. Split at line boundaries, a file
gives the same findings chunk by chunk as in one piece, in the same order, so chunks can
be checked by several processes (`parallel`) and their findings reported in file order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dataops.domain import enums
from dataops.domain.secret_scan import may_hold_secret, secret_value_problem
from dataops.domain.text import UNPAIRED_SURROGATE, has_unpaired_surrogate
from dataops.portable.checking.checks import (
    edges,
    needs_live_proof,
    record_issues,
    redaction_issues,
)
from dataops.portable.checking.index import ScratchIndex
from dataops.portable.format import SPECS, EntitySpec
from dataops.portable.lines import (
    MAX_LINE_BYTES,
    MAX_LINE_VALUES,
    Digest,
    Line,
    parse_line,
    read_lines,
    too_many_values,
)
from dataops.portable.report import MAX_PROBLEMS, Problem, size_text

Edges = dict[tuple[str, str], int]
"""(field path, target entity) → number of edges."""


@dataclass(frozen=True)
class Chunk:
    """Lines of one entity file: bytes [start, end) (end None: to the end of the file),
    the first of them numbered `first_line`."""

    entity: str
    path: Path
    start: int = 0
    end: int | None = None
    first_line: int = 1


@dataclass
class ChunkResult:
    records: int = 0
    """Non-blank lines."""
    edges: Edges = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    """What the chunk found, when no other sink was given."""
    stopped: bool = False
    """The chunk found its `budget` of problems and was not checked further."""


def split_file(
    entity: str,
    path: Path,
    digest: Digest,
    target: int,
    block: int = 1 << 20,
    *,
    numbered: bool = True,
) -> Iterator[Chunk]:
    """Chunks of about `target` bytes (cut after a newline) covering the whole file, as
    the file is read once, block by block, into `digest` (`numbered` False: each chunk's
    `first_line` is left at 1, the newlines not counted)."""
    count = bytes.count if numbered else _no_count
    start, line, offset, counted = 0, 1, 0, 0  # counted: newlines in [start, read so far)
    with path.open("rb") as handle:
        while data := handle.read(block):
            digest.update(data)
            pos = 0
            while (want := start + target - offset) < len(data):
                cut = data.find(b"\n", max(want, pos))
                if cut < 0:
                    break
                counted += count(data, b"\n", pos, cut + 1)
                end = offset + cut + 1
                yield Chunk(entity, path, start, end, line)
                start, line, counted, pos = end, line + counted, 0, cut + 1
            counted += count(data, b"\n", pos)
            offset += len(data)
    if offset > start:
        yield Chunk(entity, path, start, None, line)


def _no_count(data: bytes, sub: bytes, start: int, end: int | None = None) -> int:
    return 0


_TOO_LONG = f"is longer than {size_text(MAX_LINE_BYTES)} (the limit of a line); not read"
_TOO_WIDE = f"holds more than {MAX_LINE_VALUES:,} JSON values (the limit of a line); not read"


_NEUTRAL = tuple(
    orjson.dumps(member.value)
    for kind in vars(enums).values()
    if isinstance(kind, type) and issubclass(kind, enum.Enum)
    for member in kind
    if isinstance(member.value, str)
    and may_hold_secret(orjson.dumps(member.value))
    and secret_value_problem(member.value) is None
)
"""JSON strings that are enum values holding a secret hint but never flagged ("task-due"
holds "sk-"): `_may_hold_secret` looks past them."""


def _may_hold_secret(data: bytes) -> bool:
    """`may_hold_secret` on JSON text, looking past the strings of `_NEUTRAL` (a whole
    string token: an unescaped quote in valid JSON always delimits a string)."""
    if not may_hold_secret(data):
        return False
    for token in _NEUTRAL:
        data = data.replace(token, b'""')
    return may_hold_secret(data)


_GROUP = 32
"""Lines tested for secret candidates at once (`_with_candidates`)."""


def _with_candidates(lines: Iterator[Line]) -> Iterator[tuple[Line, bool | None]]:
    """Each line with whether it is free of secret candidates (`may_hold_secret` False
    on it; None: not tested). A group of lines is tested at once, joined by newlines: every hint
    the test looks for lies within one line, so False for the group is False for each
    line. Where the group may hold one, each of its lines is tested, and when most do,
    the next group goes line by line straight away."""
    group: list[Line] = []
    whole = True
    for line in lines:
        group.append(line)
        if len(group) >= _GROUP:
            whole = yield from _group_candidates(group, whole)
            group = []
    yield from _group_candidates(group, whole)


def _group_candidates(
    group: list[Line], whole: bool
) -> Generator[tuple[Line, bool | None], None, bool]:
    """`group`'s lines, each with whether it is proven clean; whether the next group is
    tested whole."""
    raws = [line[1] for line in group]
    if None in raws:
        for line in group:
            yield line, None
        return True
    if whole and not _may_hold_secret(b"\n".join(raws)):  # type: ignore[arg-type]
        for line in group:
            yield line, True
        return True
    hits = 0
    for line in group:
        candidate = _may_hold_secret(line[1])  # type: ignore[arg-type]
        hits += candidate
        yield line, not candidate
    return hits * 2 < len(group)


def scan_chunk(
    chunk: Chunk,
    index: ScratchIndex,
    sink: Callable[[Problem], None] | None = None,
    digest: Digest | None = None,
    budget: int = MAX_PROBLEMS,
    *,
    fast: bool = True,
) -> ChunkResult:
    """Check the lines of `chunk` (its bytes go to `digest` as read, if given) until
    `budget` problems are found (then `stopped`: the rest is not checked). `fast`: the
    lines proven free of secret candidates skip the secret scans, which could find
    nothing in them (`checks.record_issues`); else every line is scanned."""
    result = ChunkResult()
    keep = sink if sink is not None else result.problems.append
    found = 0

    def add(problem: Problem) -> None:
        nonlocal found
        if found < budget:  # a line may have several
            keep(problem)
        found += 1

    spec = SPECS[chunk.entity]
    name = spec.name
    limit = None if chunk.end is None else chunk.end - chunk.start
    with chunk.path.open("rb") as handle:
        handle.seek(chunk.start)
        lines = read_lines(handle, digest, limit=limit, first_line=chunk.first_line)
        flagged = _with_candidates(lines) if fast else ((line, None) for line in lines)
        for (number, raw, newline, long_numbers), clean in flagged:
            if found >= budget:
                result.stopped = True
                break
            if raw is None:
                result.records += 1
                add(Problem(name, _TOO_LONG, number))
                continue
            if not raw.strip():
                add(Problem(name, "is blank (one JSON object a line)", number))
                continue
            result.records += 1
            record = _parsed(name, number, raw, newline, long_numbers, add)
            if record is None:
                continue
            if has_unpaired_surrogate(raw, record):  # what the API refuses (400)
                add(Problem(name, f"is not valid JSON text: {UNPAIRED_SURROGATE}", number))
                _record_id(spec, number, record, index)  # not checked further: no cascade
                continue
            try:
                _record(spec, number, record, raw, index, add, result.edges, clean)
            except RecursionError:
                add(Problem(name, "is nested too deeply to be checked", number))
    return result


def _parsed(
    name: str,
    number: int,
    raw: bytes,
    newline: bytes,
    long_numbers: bool,
    add: Callable[[Problem], None],
) -> dict[str, Any] | None:
    """Line `number`'s JSON object, or None when it is not one (said to `add`)."""
    if too_many_values(raw):
        add(Problem(name, _TOO_WIDE, number))
        return None
    try:
        record = parse_line(raw, long_numbers=long_numbers, newline=newline)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        add(Problem(name, f"is not valid JSON: {exc}", number))
        return None
    if not isinstance(record, dict):
        add(Problem(name, "must be a JSON object", number))
        return None
    return record


def _record(
    spec: EntitySpec,
    line: int,
    record: dict[str, Any],
    raw: bytes,
    index: ScratchIndex,
    add: Callable[[Problem], None],
    counts: Edges,
    clean: bool | None = None,
) -> None:
    """`clean`: the line is free of secret candidates (True), holds one (False: its
    test is not repeated), or was not tested (None)."""
    name = spec.name
    issues, entity = record_issues(spec, record, clean=clean is True)
    tested = raw if clean is None else None
    issues += redaction_issues(
        spec, record, rules_ran=entity is not None, raw=tested, clean=clean is True
    )
    for where, message in dict.fromkeys(issues):
        add(Problem(name, message, line, where))
    _record_id(spec, line, record, index)
    for unique, value in unique_keys(name, record, entity):
        index.add_id(unique, value, line)
    found = list(edges(spec, record))
    if found:
        index.add_refs(name, line, found)
        for where, target, _, _ in found:
            key = (where, target)
            counts[key] = counts.get(key, 0) + 1
    if issues and entity is None:
        return  # a malformed record gives no evidence
    if name == "files" and isinstance(record.get("task_id"), str):
        index.add_file(record["file_id"], record["task_id"])
    elif name == "artifacts":
        index.add_artifact(line, entity, raw)
    elif name == "bundles":
        index.add_bundle(line, record["bundle_id"], raw)
    elif needs_live_proof(spec, record):
        index.add_pending_task(line, raw)


def unique_keys(name: str, record: dict[str, Any], entity: Any) -> Iterator[tuple[str, str]]:
    """(key, value) of what the store keeps unique besides the record's ID."""
    if name == "users" and isinstance(record.get("email"), str):
        # The store keeps emails unique; two users with one email cannot be imported.
        yield "users.email", record["email"].strip().lower()
    if name == "bundles" and entity is not None and entity.occurrence_key is not None:
        # The store makes one bundle per (recurring config, occurrence date).
        yield "bundles.occurrence_date", entity.occurrence_key
    if name == "notifications" and isinstance(record.get("dedupe_key"), str):
        # The store keeps one notification per (type, subject, recipient, day).
        yield "notifications.dedupe_key", record["dedupe_key"]


def _record_id(spec: EntitySpec, line: int, record: dict[str, Any], index: ScratchIndex) -> None:
    record_id = record.get(spec.id_field)
    if isinstance(record_id, str) and record_id:
        index.add_id(spec.name, record_id, line)


def relationships(entity: str, counts: Edges, into: dict[str, int]) -> None:
    """Add `counts` to the relationship graph: `"<entity>.<field> -> <target>"` → edges
    (a nested path such as `artifact_refs[0].artifactId` counts as `artifact_refs`)."""
    for (where, target), count in counts.items():
        key = f"{entity}.{where.split('[')[0]} -> {target}"
        into[key] = into.get(key, 0) + count
