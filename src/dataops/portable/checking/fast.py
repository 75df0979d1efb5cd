"""The validator's fast pass: it proves a valid export valid, or gives up.

Every line is proven free of problems by the typed pre-filter (`typed`: msgspec and the
rule functions that need Python) or, where that cannot say, by the rule code of `checks`
itself (small entity files, lines that may hold a secret, rare shapes). The
cross-record checks need no scratch index on disk: each ID, unique key and relationship
target is kept as its 64-bit hash (`hash`, keyed per process; the workers are forked, so
they share the key) in numpy arrays. Files are read in dependency order (users before
the tasks that name them), so an edge is checked once its target entity is complete:
only edges to entities read later (a task's artifact refs) wait, and a complete entity's
IDs are one sorted array. An ID or unique key seen twice, or an edge whose target hash
is missing, means the export is not proven (two different IDs sharing a hash only cost
the slower path).

Anything not proven stops the pass at once, and the validator checks the export again
with the reference code, which then gives every message: the report of an invalid
export is the reference's, word for word. Equal hashes of different target IDs (about
one chance in 10^7 for a million records) could let a dangling edge pass unseen; that is
the one place the pass relies on a hash rather than on the values.
"""

from __future__ import annotations

import gc
import hashlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import re2  # type: ignore[import-untyped]

from dataops.domain.secret_scan import FORTY_PATTERN, HINT_PATTERN
from dataops.domain.text import has_unpaired_surrogate
from dataops.portable.checking.checks import (
    NESTED_RELATIONS,
    RELATIONS,
    edges,
    needs_live_proof,
    record_issues,
    redaction_issues,
)
from dataops.portable.checking.parallel import run_parallel
from dataops.portable.checking.scan import Chunk, _may_hold_secret, _parsed, split_file, unique_keys
from dataops.portable.checking.typed import TYPED, Prover
from dataops.portable.format import SPECS, SYSTEM_ACTOR, EntitySpec
from dataops.portable.lines import Digest, Line, has_long_number, read_lines, too_many_values
from dataops.portable.report import Progress

if TYPE_CHECKING:
    import numpy as np

ORDER = (
    "users",
    "templates",
    "recurring_configs",
    "settings",
    "bundles",
    "tasks",
    "files",
    "artifacts",
    "notifications",
    "audit_events",
)
"""Entities in the order their files are read: each after the entities it names, but
for a task's artifact refs and an artifact's supersession (checked at the end)."""


def _hashes() -> array[int]:
    return array("q")


FAST_CHUNK = 4 << 20
"""The fast pass's chunks at most (it stops at the first line it cannot prove)."""
_BATCH = 32
"""Decoded records whose facts are taken at once."""


@dataclass
class Facts:
    """What a chunk's lines add to the cross-record checks (hashes), when all are
    proven (`proven`)."""

    entity: str
    records: int = 0
    proven: bool = True
    ids: array[int] = field(default_factory=lambda: array("q"))
    keys: dict[str, array[int]] = field(default_factory=dict)
    """Unique-key name (`users.email`) → hashes."""
    edges: defaultdict[str, array[int]] = field(default_factory=lambda: defaultdict(_hashes))
    """Target entity → hashes of the IDs named."""
    counts: dict[str, int] = field(default_factory=dict)
    """`"<entity>.<field> -> <target>"` → edges (the relationship graph)."""

    def edge(self, field_name: str, target: str, value: str, actor: bool, checked: bool) -> None:
        key = f"{self.entity}.{field_name} -> {target}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if checked and not (actor and value == SYSTEM_ACTOR):
            self.edges[target].append(hash(value))

    def key(self, name: str, value: str) -> None:
        found = self.keys.get(name)
        if found is None:
            found = self.keys[name] = array("q")
        found.append(hash(value))


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
    if issues or needs_live_proof(spec, record):
        return False
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


_ODD_TIME = rb"[0-9]-[0-9]{2}[t ][0-9]{2}:"
"""A date and time joined by a lower-case `t` or a space, which msgspec reads as a
timestamp and `parse_ts` refuses: such a line is left to the rule code."""
_SECRET_KEY_WORDS = (
    *("secret", "passw", "pwd", "passphrase", "token", "credential", "cookie"),
    *("authorization", "apikey", "signature", "privatekey", "accesskey", "signedurl"),
    "sessionid",
)
SECRET_KEY_WORDS = b"|".join(
    b"[^a-zA-Z0-9]*".join(letter.encode() for letter in word) for word in _SECRET_KEY_WORDS
)
"""What every secret-like key holds (`secret_scan.is_secret_key` looks at the ASCII
letters and digits of a key, lower-cased: each word it flags, and each pair or joined
form, holds one of these), letters apart by anything else: on a line without escapes,
no key is secret-like unless this matches (case-insensitively)."""
_DOUBT = re2.compile(b"(?i:" + HINT_PATTERN + b")|" + FORTY_PATTERN + b"|" + _ODD_TIME)
"""In one pass over a group of lines: a secret hint, a run of 40 base64 characters (the
start of `may_hold_secret`), or an odd timestamp."""
_DOUBT_OR_KEY = re2.compile(
    b"(?i:" + HINT_PATTERN + b"|" + SECRET_KEY_WORDS + b")|" + FORTY_PATTERN + b"|" + _ODD_TIME
)
"""The same, or a secret-key word: for the entities whose free-form values are large
(audit states), where the key walk costs more than the pass."""
_ODD = re2.compile(_ODD_TIME)
_KEY_WORDS = re2.compile(b"(?i)" + SECRET_KEY_WORDS)
_GROUP = 32
_LARGE_STATES = frozenset({"audit_events"})
Flags = tuple[Line, bool, bool, bool]
"""A line; free of secret candidates; of odd timestamps; of secret-key words (only
looked for with `keys`, else False)."""


def _flagged(lines: Iterator[Line], keys: bool) -> Iterator[Flags]:
    """Each line with its flags; a group of lines tested at once, each line of a group
    where a test finds anything tested alone (secret-key words: by group only)."""
    group: list[Line] = []
    for line in lines:
        group.append(line)
        if len(group) >= _GROUP:
            yield from _group_flags(group, keys)
            group = []
    yield from _group_flags(group, keys)


def _group_flags(group: list[Line], keys: bool) -> Iterator[Flags]:
    raws = [line[1] for line in group]
    known = [raw for raw in raws if raw is not None]
    joined = b"\n".join(known)
    if len(known) == len(raws) and (_DOUBT_OR_KEY if keys else _DOUBT).search(joined) is None:
        for line in group:
            yield line, True, True, keys
        return
    clean = not _may_hold_secret(joined)  # (the exact tests, on the group, then per line)
    plain = _ODD.search(joined) is None
    keys = keys and clean and _KEY_WORDS.search(joined) is None  # (no escape in a key)
    for line, raw in zip(group, raws, strict=True):
        if raw is None:
            yield line, False, False, False
        else:
            free = clean or not _may_hold_secret(raw)
            yield line, free, plain or _ODD.search(raw) is None, keys


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
        flagged = _flagged(lines, keys=spec.name in _LARGE_STATES)
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


class _Merge:
    """The cross-record checks over the chunks' facts, in dependency order."""

    def __init__(self, exported: list[str], progress: Progress) -> None:
        self.progress = progress
        self.pending = [name for name in ORDER if name in exported]
        self.pending += [name for name in exported if name not in ORDER]
        self.ids: dict[str, array[int]] = {name: array("q") for name in self.pending}
        self.keys: dict[str, array[int]] = {}
        self.complete: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
        self.waiting: dict[str, list[array[int]]] = {}
        self.records: dict[str, int] = dict.fromkeys(exported, 0)
        self.counts: dict[str, int] = {}
        self.proven = True

    def add(self, facts: Facts) -> None:
        self.reach(facts.entity)
        self.records[facts.entity] += facts.records
        self.progress.update(facts.entity, self.records[facts.entity])
        self.ids[facts.entity].extend(facts.ids)
        for name, hashes in facts.keys.items():
            self.keys.setdefault(name, array("q")).extend(hashes)
        for target, hashes in facts.edges.items():
            if target in self.complete:
                self._resolve(target, hashes)
            else:
                self.waiting.setdefault(target, []).append(hashes)
        for key, count in facts.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count

    def reach(self, entity: str | None) -> None:
        """Complete every entity read before `entity` (None: every entity)."""
        while self.pending and self.pending[0] != entity:
            self._complete(self.pending.pop(0))

    def _complete(self, entity: str) -> None:
        ids = _sorted(self.ids.pop(entity))
        if _repeats(ids):
            self.proven = False
        for name in [name for name in self.keys if name.startswith(f"{entity}.")]:
            if _repeats(_sorted(self.keys.pop(name))):
                self.proven = False
        self.complete[entity] = ids
        for hashes in self.waiting.pop(entity, []):
            self._resolve(entity, hashes)

    def _resolve(self, target: str, hashes: array[int]) -> None:
        ids = self.complete[target]
        numpy = _numpy()
        wanted = numpy.frombuffer(hashes, dtype=numpy.int64)
        if not len(wanted):
            return
        if not len(ids):
            self.proven = False
            return
        where = numpy.minimum(numpy.searchsorted(ids, wanted), len(ids) - 1)
        if not bool(numpy.all(ids[where] == wanted)):
            self.proven = False


def _sorted(hashes: array[int]) -> np.ndarray[Any, np.dtype[np.int64]]:
    numpy = _numpy()
    found: np.ndarray[Any, np.dtype[np.int64]] = numpy.frombuffer(hashes, numpy.int64).copy()
    found.sort()
    return found


def _repeats(ids: np.ndarray[Any, np.dtype[np.int64]]) -> bool:
    return len(ids) > 1 and bool((ids[1:] == ids[:-1]).any())


def _numpy() -> Any:
    """numpy, imported once the merge needs it (0.2 s: by then the workers run)."""
    import numpy

    return numpy


class NotReady(Exception):
    """An entity file the pass waited for never arrived whole (`prove_export`'s `ready`)."""


def prove_export(
    root: Path,
    entities: list[EntitySpec],
    workers: int,
    target: int,
    progress: Progress,
    ready: Callable[[str], bool] | None = None,
) -> Proven | None:
    """Prove the entity files of `entities` (the export's, in any order) free of problems
    with `workers` processes (1: here), in chunks of about `target` bytes; None when
    anything is not proven. `ready(file name)`, when given, is called (once the workers
    run) before a file is read: it waits until the file is whole, False if it never
    will be (then None)."""
    global _EXPORTED
    exported = [spec.name for spec in entities]
    merge = _Merge(exported, progress)
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
    return Proven(merge.records, digests, dict(sorted(merge.counts.items())))


class _Prove:
    """The fast pass's job in a worker process (`parallel.run_parallel`)."""

    def start(self, number: int) -> None:
        pass

    def __call__(self, chunk: Chunk) -> Facts:
        return prove_chunk(chunk)

    def finish(self) -> None:
        pass


def _merged(results: Iterable[Facts], merge: _Merge) -> bool:
    for facts in results:
        if not facts.proven:
            return False
        merge.add(facts)
        if not merge.proven:
            return False
    merge.reach(None)
    return merge.proven
