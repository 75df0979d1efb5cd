"""The validator's fast pass: it proves a valid export valid, or gives up.

Every line is proven free of problems by the typed pre-filter (`typed`: msgspec; and
`provers`: the rule functions that need Python) or, where that cannot say, by the rule
code of `checks` itself (small entity files, lines that may hold a secret, rare
shapes); `flags` tells
which lines may be decoded as they are. The cross-record checks need no scratch index on
disk (`hashes`): each ID, unique key and relationship target is kept as its 64-bit hash
(`hash`, keyed per process; the workers are forked, so they share the key) in numpy
arrays. Files are read in dependency order (users before the tasks that name them), so
an edge is checked once its target entity is complete: only edges to entities read later
(a task's artifact refs) wait, and a complete entity's IDs are one sorted array. An ID
or unique key seen twice, or an edge whose target hash is missing, means the export is
not proven (two different IDs sharing a hash only cost the slower path). A done task
without a recorded proof takes the proof rule at the end, with the export's evidence
(`live_proof`).

Anything not proven stops the pass at once, and the validator checks the export again
with the reference code, which then gives every message: the report of an invalid
export is the reference's, word for word. Equal hashes of different target IDs (about
one chance in 10^7 for a million records) could let a dangling edge pass unseen; that is
the one place the pass relies on a hash rather than on the values.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any, BinaryIO

from dataops.domain.text import has_unpaired_surrogate
from dataops.portable.checking import flags
from dataops.portable.checking.checks import (
    NESTED_RELATIONS,
    RELATIONS,
    edges,
    needs_live_proof,
    record_issues,
    redaction_issues,
)
from dataops.portable.checking.hashes import Facts, Merge
from dataops.portable.checking.live_proof import proofs_hold
from dataops.portable.checking.parallel import run_parallel
from dataops.portable.checking.provers import Prover
from dataops.portable.checking.scan import Chunk, _parsed, split_file, unique_keys
from dataops.portable.checking.typed import TYPED
from dataops.portable.format import SPECS, SYSTEM_ACTOR, EntitySpec
from dataops.portable.lines import Digest, has_long_number, read_lines, too_many_values
from dataops.portable.report import Progress

FAST_CHUNK = 4 << 20
"""The fast pass's chunks at most (it stops at the first line it cannot prove)."""
_BATCH = 32
"""Decoded records whose facts are taken at once."""


class _Plan:
    """Where a decoded record of one entity holds its ID and edges, with each edge's
    relationship key and whether it is checked (its target is exported)."""

    def __init__(self, spec: EntitySpec, exported: frozenset[str]) -> None:
        name = spec.name
        self.id_field = spec.id_field
        self.direct = [
            (field_name, f"{name}.{field_name} -> {target}", target in exported, target, actor)
            for field_name, target, actor in RELATIONS.get(name, ())
        ]
        self.nested = [
            (field_name, key, f"{name}.{field_name} -> {target}", target in exported, target)
            for field_name, key, target in NESTED_RELATIONS.get(name, ())
        ]
        self.proof = [
            (key, f"{name}.completion_proof -> {target}", target in exported, target)
            for key, target in (("artifactId", "artifacts"), ("fileId", "files"))
        ]


def _typed_facts(plan: _Plan, records: list[Any], facts: Facts) -> None:
    """IDs, unique keys and edges of records decoded by the pre-filter, a batch at a
    time (a field read from every record in C: `map`, `attrgetter`)."""
    facts.ids.extend(map(hash, map(attrgetter(plan.id_field), records)))
    counts = facts.counts
    for field_name, key, checked, target, actor in plan.direct:
        values = [value for value in map(attrgetter(field_name), records) if value is not None]
        if values:
            counts[key] = counts.get(key, 0) + len(values)
            if checked:
                if actor:
                    values = [value for value in values if value != SYSTEM_ACTOR]
                facts.edges[target].extend(map(hash, values))
    for field_name, item_key, key, checked, target in plan.nested:
        named = [
            getattr(item, item_key)
            for items in map(attrgetter(field_name), records)
            for item in items
        ]
        if named:
            counts[key] = counts.get(key, 0) + len(named)
            if checked:
                facts.edges[target].extend(map(hash, named))
    name = facts.entity
    if name == "tasks":
        for record in records:
            if record.completion_proof:
                for verdict in record.completion_proof:
                    if verdict.satisfiedBy:
                        _proof_facts(plan, verdict.satisfiedBy, facts)
    elif name == "bundles":
        for record in records:
            if record.recurring_config_id is not None and record.occurrence_date is not None:
                occurrence = f"{record.recurring_config_id}#{record.occurrence_date}"
                facts.key("bundles.occurrence_date", occurrence)
    elif name == "notifications":
        for record in records:
            if record.dedupe_key is not None:
                facts.key("notifications.dedupe_key", record.dedupe_key)


def _proof_facts(plan: _Plan, by: dict[str, Any], facts: Facts) -> None:
    for item_key, key, checked, target in plan.proof:
        value = by.get(item_key)
        if isinstance(value, str):
            facts.counts[key] = facts.counts.get(key, 0) + 1
            if checked:
                facts.edges[target].append(hash(value))


def _checked_facts(
    spec: EntitySpec, line: tuple[int, bytes, bytes, bool], clean: bool | None, facts: Facts
) -> bool:
    """Prove one line with the rule code of `checks` (as `scan` checks it), adding its
    facts; False when it has any problem."""
    number, raw, newline, long_numbers = line
    name = spec.name
    problems: list[Any] = []
    record = _parsed(name, number, raw, newline, long_numbers, problems.append)
    if record is None or has_unpaired_surrogate(raw, record):
        return False
    try:
        issues, entity = record_issues(spec, record, clean=clean is True)
        issues += redaction_issues(
            spec,
            record,
            rules_ran=entity is not None,
            raw=raw if clean is None else None,
            clean=clean is True,
        )
    except RecursionError:
        return False
    if issues:
        return False
    if needs_live_proof(spec, record):
        facts.unproven_tasks.append(raw)  # (the proof rule decides, at the end)
    record_id = record.get(spec.id_field)
    if isinstance(record_id, str) and record_id:
        facts.ids.append(hash(record_id))
    for key, value in unique_keys(name, record, entity):
        facts.key(key, value)
    exported = _EXPORTED
    for where, target, value, actor in edges(spec, record):
        facts.edge(where.split("[")[0], target, value, actor, target in exported)
    return True


_EXPORTED: frozenset[str] = frozenset()
"""The entities of the export being checked (set before the workers fork)."""


def prove_chunk(chunk: Chunk, exported: frozenset[str] | None = None) -> Facts:
    """Prove the lines of `chunk`; stops at the first it cannot prove."""
    collecting = gc.isenabled()
    gc.disable()  # (decoded records make no cycles: the collector would only walk them)
    try:
        return _prove_chunk(chunk, exported)
    finally:
        if collecting:
            gc.enable()


def _prove_chunk(chunk: Chunk, exported: frozenset[str] | None) -> Facts:
    global _EXPORTED
    if exported is not None:
        _EXPORTED = exported
    spec = SPECS[chunk.entity]
    facts = Facts(spec.name)
    prover = Prover(spec.name) if spec.name in TYPED else None
    plan = _Plan(spec, _EXPORTED)
    decoded: list[Any] = []
    limit = None if chunk.end is None else chunk.end - chunk.start
    with chunk.path.open("rb") as handle:
        handle.seek(chunk.start)
        lines = read_lines(handle, limit=limit, first_line=chunk.first_line)
        flagged = flags.flagged(lines, keys=spec.name in flags.LARGE_STATES)
        for line, clean, plain, keys in flagged:
            raw = line[1]
            if not raw or raw.isspace() or too_many_values(raw):
                facts.proven = False
                return facts
            facts.records += 1
            record = None
            if prover is not None and plain and not (line[3] and has_long_number(raw)):
                record = prover(raw, clean, keys)
            if record is not None:
                decoded.append(record)
                if len(decoded) >= _BATCH:
                    _typed_facts(plan, decoded, facts)
                    decoded.clear()
            elif not _checked_facts(spec, line, clean, facts):  # type: ignore[arg-type]
                facts.proven = False
                return facts
    _typed_facts(plan, decoded, facts)
    return facts


@dataclass
class Proven:
    """A proven export: records and digest per entity file, and the relationship graph."""

    records: dict[str, int]
    digests: dict[str, Any]
    relationships: dict[str, int]


class NotReady(Exception):
    """An entity file the pass waited for never arrived whole (`prove_export`'s `ready`)."""


def prove_export(
    root: Path,
    entities: list[EntitySpec],
    workers: int,
    target: int,
    progress: Progress,
    ready: Callable[[str], bool] | None = None,
    scratch: Path | None = None,
) -> Proven | None:
    """Prove the entity files of `entities` (the export's, in any order) free of problems
    with `workers` processes (1: here), in chunks of about `target` bytes; None when
    anything is not proven. `ready(file name)`, when given, is called (once the workers
    run) before a file is read: it waits until the file is whole, False if it never
    will be (then None). `scratch`: a directory for the done tasks without a recorded
    proof (without it, such a task is not proven)."""
    if scratch is None:
        return _prove_export(root, entities, workers, target, progress, ready, None)
    with (scratch / "unproven-tasks.jsonl").open("w+b") as unproven:
        return _prove_export(root, entities, workers, target, progress, ready, unproven)


def _prove_export(
    root: Path,
    entities: list[EntitySpec],
    workers: int,
    target: int,
    progress: Progress,
    ready: Callable[[str], bool] | None,
    unproven: BinaryIO | None,
) -> Proven | None:
    global _EXPORTED
    exported = [spec.name for spec in entities]
    merge = Merge(exported, progress, unproven)
    digests: dict[str, Any] = {name: hashlib.sha256() for name in exported}
    _EXPORTED = frozenset(exported)
    order = list(merge.pending)

    def chunks() -> Iterator[Chunk]:
        for name in order:
            path = root / SPECS[name].file_name
            if ready is not None and not ready(path.name):
                raise NotReady(path.name)
            digest: Digest = digests[name]
            size = target if workers > 1 else 1 << 62
            yield from split_file(name, path, digest, size, numbered=False)

    try:
        if workers <= 1:
            proven = _merged(map(prove_chunk, chunks()), merge)
        else:
            results = run_parallel(chunks(), workers, _Prove())
            try:
                proven = _merged((facts for _, facts in results), merge)
            finally:
                results.close()  # (stops the workers when the pass stopped early)
    except NotReady:
        return None
    if not proven:
        return None
    if merge.unproven_count:
        assert unproven is not None
        unproven.seek(0)
        if not proofs_hold(root, exported, unproven, Path(unproven.name).parent):
            return None
    return Proven(merge.records, digests, dict(sorted(merge.counts.items())))


class _Prove:
    """The fast pass's job in a worker process (`parallel.run_parallel`)."""

    def start(self, number: int) -> None:
        pass

    def __call__(self, chunk: Chunk) -> Facts:
        return prove_chunk(chunk)

    def finish(self) -> None:
        pass


def _merged(results: Iterable[Facts], merge: Merge) -> bool:
    for facts in results:
        if not facts.proven:
            return False
        merge.add(facts)
        if not merge.proven:
            return False
    merge.reach(None)
    return merge.proven
