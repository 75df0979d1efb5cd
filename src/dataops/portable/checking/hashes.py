"""The fast pass's cross-record checks over hashes: IDs, unique keys and edge targets
as 64-bit hashes (`hash`, keyed per process) in numpy arrays, entity by entity in
dependency order (`ORDER`): a complete entity's IDs are one sorted array, repeats
are looked for in it, and every edge to it is looked up."""

from __future__ import annotations

from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from dataops.portable.format import EXPORTED, SYSTEM_ACTOR
from dataops.portable.report import Progress

if TYPE_CHECKING:
    import numpy as np

ORDER = EXPORTED
"""Entities in the order their files are read, the export's own (and its archive's):
each after the entities it names, but for a task's artifact refs and an artifact's
supersession (checked at the end)."""


def _hashes() -> array[int]:
    return array("q")


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
    unproven_tasks: list[bytes] = field(default_factory=list)
    """Done tasks without a recorded proof (their lines): the proof rule decides, once
    every record is read (`live_proof`)."""

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


class Merge:
    """The cross-record checks over the chunks' facts, in dependency order."""

    def __init__(self, exported: list[str], progress: Progress, unproven: BinaryIO | None) -> None:
        self.progress = progress
        self.unproven = unproven
        """Where the done tasks without a recorded proof go, a line each (None: such a
        task is not proven)."""
        self.unproven_count = 0
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
        if facts.unproven_tasks:
            if self.unproven is None:
                self.proven = False
                return
            self.unproven.write(b"".join(line + b"\n" for line in facts.unproven_tasks))
            self.unproven_count += len(facts.unproven_tasks)

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
