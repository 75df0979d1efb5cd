"""A scratch index on disk for the validator: IDs, relationship edges and the evidence
the proof rule reads, so validating a million records needs no million-entry dicts.

It is a throw-away SQLite file in a temporary directory (stdlib `sqlite3`, no
durability: journal off; a 4 MB page cache, so memory stays the same at any size). It
is not a metadata store; the exported records never go through the store port here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dataops.domain.enums import ArtifactStatus, ArtifactType
from dataops.domain.models import Artifact, Bundle
from dataops.portable.format import SPECS, SYSTEM_ACTOR, from_record
from dataops.portable.lines import parse_line

_BATCH = 5_000
# IDs are TEXT. A JSON string may hold a lone surrogate, which SQLite's text cannot: such
# a string is stored as its bytes (a BLOB, `_storable`); no BLOB equals a TEXT, so equal
# IDs still compare equal and different ones differ.
_SCHEMA = """
CREATE TABLE ids (entity TEXT NOT NULL, id NOT NULL, line INTEGER NOT NULL);
CREATE TABLE ref_kinds (code INTEGER PRIMARY KEY, entity TEXT NOT NULL, field TEXT NOT NULL,
    target TEXT NOT NULL, allow_system INTEGER NOT NULL,
    UNIQUE (entity, field, target, allow_system));
CREATE TABLE refs (code INTEGER NOT NULL, line INTEGER NOT NULL, target_id NOT NULL);
CREATE TABLE files (id NOT NULL, task_id NOT NULL);
CREATE TABLE artifacts (id NOT NULL, line INTEGER NOT NULL, task_id, bundle_id,
    status TEXT NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE bundles (id NOT NULL, line INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE pending_tasks (line INTEGER NOT NULL, data BLOB NOT NULL);
"""
_INDEXES = """
CREATE INDEX ids_key ON ids (entity, id, line);
CREATE INDEX files_task ON files (task_id, id);
CREATE INDEX artifacts_id ON artifacts (id, line);
CREATE INDEX artifacts_task ON artifacts (task_id, status, type, id, line);
CREATE INDEX artifacts_bundle ON artifacts (bundle_id, status, type, id, line);
CREATE INDEX bundles_id ON bundles (id, line);
"""
_TABLES = ("ids", "refs", "files", "artifacts", "bundles", "pending_tasks")
RefKind = tuple[str, str, str, bool]
"""(entity, field path, target entity, whether the system actor is allowed)."""


def _storable(value: Any) -> Any:
    """`value`, or a string SQLite cannot hold as text as its UTF-8 bytes."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogatepass")


KNOWN_IDS_MAX = 20_000
"""IDs of an entity kept in memory (`collect_ids`) at most: a small entity's."""


class ScratchIndex:
    """IDs, edges and evidence of one validation, or of a worker's share of it.

    An edge to an entity whose every ID is known in memory (a small entity, checked
    before: `collect_ids`, `known`) and that resolves is only counted, not stored: it
    cannot dangle. `known` passes such ID sets on to the indexes of worker processes."""

    def __init__(
        self,
        directory: Path,
        name: str = "index.sqlite",
        known: dict[str, frozenset[str]] | None = None,
    ) -> None:
        self.known: dict[str, frozenset[str]] = dict(known or {})
        self._collecting: dict[str, set[str] | None] = {}
        self._conn = sqlite3.connect(directory / name, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = OFF")
        self._conn.execute("PRAGMA synchronous = OFF")
        self._conn.execute("PRAGMA cache_size = -4000")
        self._conn.execute("PRAGMA temp_store = FILE")
        self._conn.executescript(_SCHEMA)
        self._pending: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _TABLES}
        self._ids = self._pending["ids"]
        self._refs = self._pending["refs"]
        self._kinds: dict[RefKind, int] = {}

    def close(self) -> None:
        self._conn.close()

    def _add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self._pending[table]
        rows.append(row)
        if len(rows) >= _BATCH:
            self._write(table)

    def _write(self, table: str) -> None:
        rows = self._pending[table]
        if rows:
            sql = f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})"  # noqa: S608
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(sql, rows)
            except UnicodeEncodeError:  # a lone surrogate: the batch again, with bytes
                self._conn.execute("ROLLBACK")
                self._conn.execute("BEGIN")
                self._conn.executemany(sql, [tuple(map(_storable, row)) for row in rows])
            self._conn.execute("COMMIT")
            rows.clear()

    def collect_ids(self, entity: str) -> None:
        """Keep the IDs of `entity` in memory from now on (up to `KNOWN_IDS_MAX`)."""
        self._collecting[entity] = set()

    def ids_complete(self, entity: str) -> None:
        """Every ID of `entity` has been added: edges to it may be resolved in memory."""
        found = self._collecting.pop(entity, None)
        if found is not None:
            self.known[entity] = frozenset(found)

    def add_id(self, entity: str, record_id: str, line: int) -> None:
        self._ids.append((entity, record_id, line))
        if len(self._ids) >= _BATCH:
            self._write("ids")
        if entity in self._collecting:
            found = self._collecting[entity]
            if found is not None:
                found.add(record_id)
                if len(found) > KNOWN_IDS_MAX:
                    self._collecting[entity] = None  # too many: SQL resolves its edges

    def add_refs(self, entity: str, line: int, edges: Iterable[tuple[str, str, str, bool]]) -> None:
        """(field, target entity, target id, whether the system actor is allowed) edges."""
        refs = self._refs
        kinds = self._kinds
        known = self.known
        for field, target, target_id, actor in edges:
            if target in known and target_id in known[target]:
                continue  # resolves: it cannot dangle
            kind = (entity, field, target, actor)
            code = kinds.get(kind)
            if code is None:
                code = kinds[kind] = len(kinds)
                self._conn.execute("INSERT INTO ref_kinds VALUES (?, ?, ?, ?, ?)", (code, *kind))
            refs.append((code, line, target_id))
        if len(refs) >= _BATCH:
            self._write("refs")

    def add_file(self, record_id: str, task_id: str) -> None:
        self._add("files", (record_id, task_id))

    def add_artifact(self, line: int, artifact: Artifact, data: bytes) -> None:
        """A valid artifact record (`data`: its JSON) as the proof rule looks it up."""
        row = (
            artifact.id,
            line,
            artifact.task_id,
            artifact.bundle_id,
            artifact.status.value,
            artifact.type.value,
            data,
        )
        self._add("artifacts", row)

    def add_bundle(self, line: int, bundle_id: str, data: bytes) -> None:
        self._add("bundles", (bundle_id, line, data))

    def add_pending_task(self, line: int, data: bytes) -> None:
        """A done task without a recorded proof (`data`: its JSON), checked with the live
        rule at the end."""
        self._add("pending_tasks", (line, data))

    def flush(self) -> None:
        """Write every pending row."""
        for table in _TABLES:
            self._write(table)

    def absorb(self, part: Path) -> None:
        """Copy in every row of another (flushed, closed) scratch index file."""
        self.flush()
        conn = self._conn
        conn.execute("ATTACH DATABASE ? AS part", (str(part),))
        try:
            conn.execute("BEGIN")
            for kind in conn.execute(
                "SELECT entity, field, target, allow_system FROM part.ref_kinds"
            ).fetchall():
                key: RefKind = (kind[0], kind[1], kind[2], bool(kind[3]))
                if key not in self._kinds:
                    code = self._kinds[key] = len(self._kinds)
                    conn.execute("INSERT INTO ref_kinds VALUES (?, ?, ?, ?, ?)", (code, *key))
            conn.execute(
                """INSERT INTO main.refs SELECT k.code, r.line, r.target_id FROM part.refs r
                JOIN part.ref_kinds p ON p.code = r.code
                JOIN main.ref_kinds k ON k.entity = p.entity AND k.field = p.field
                    AND k.target = p.target AND k.allow_system = p.allow_system"""
            )
            for table in _TABLES:
                if table != "refs":
                    conn.execute(f"INSERT INTO main.{table} SELECT * FROM part.{table}")  # noqa: S608
            conn.execute("COMMIT")
        finally:
            conn.execute("DETACH DATABASE part")

    def seal(self) -> None:
        """Flush every batch and build the indexes (after the last record)."""
        self.flush()
        self._conn.executescript(_INDEXES)

    def duplicates(self) -> Iterator[tuple[str, str, int, int]]:
        """(entity, id, line, first line) for every repeated ID after its first use."""
        sql = """
            SELECT i.entity, i.id, i.line, f.first FROM ids i
            JOIN (SELECT entity, id, MIN(line) AS first FROM ids GROUP BY entity, id
                  HAVING COUNT(*) > 1) f ON f.entity = i.entity AND f.id = i.id
            WHERE i.line > f.first ORDER BY i.entity, i.line
        """
        for entity, record_id, line, first in self._conn.execute(sql):
            yield entity, _text(record_id), line, first

    def dangling(self, exported: Sequence[str]) -> Iterator[tuple[str, int, str, str, str]]:
        """(entity, line, field, target, id) of every edge whose target entity is
        exported but holds no such ID (the system actor is allowed where `actor`)."""
        marks = ",".join("?" * len(exported))
        sql = f"""
            SELECT k.entity, r.line, k.field, k.target, r.target_id
            FROM refs r JOIN ref_kinds k ON k.code = r.code
            WHERE k.target IN ({marks})
              AND NOT (k.allow_system = 1 AND r.target_id = ?)
              AND NOT EXISTS (SELECT 1 FROM ids i WHERE i.entity = k.target AND i.id = r.target_id)
            ORDER BY k.entity, r.line, k.field
        """  # noqa: S608 (placeholders only)
        for entity, line, field, target, target_id in self._conn.execute(
            sql, [*exported, SYSTEM_ACTOR]
        ):
            yield entity, line, field, target, _text(target_id)

    def pending_tasks(self) -> Iterator[tuple[int, bytes]]:
        """(line, JSON) of the done tasks without a recorded proof, in line order."""
        yield from self._conn.execute("SELECT line, data FROM pending_tasks ORDER BY line")

    def bundle(self, bundle_id: str) -> Bundle | None:
        """The first (by line) valid bundle record with this ID."""
        row = self._conn.execute(
            "SELECT data FROM bundles WHERE id = ? ORDER BY line LIMIT 1", (_storable(bundle_id),)
        ).fetchone()
        bundle: Bundle | None = (
            None if row is None else from_record(SPECS["bundles"], parse_line(row[0]))
        )
        return bundle


class ExportEvidence:
    """The proof rule's `EvidenceSource` over exported records (same lookups, same order
    as the store: earliest by id)."""

    def __init__(self, index: ScratchIndex) -> None:
        self._conn = index._conn

    def first_file_id(self, task_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT id FROM files WHERE task_id = ? ORDER BY id LIMIT 1", (_storable(task_id),)
        ).fetchone()
        return None if row is None else _text(row[0])

    def approved_artifacts(
        self,
        *,
        task_id: str | None,
        bundle_id: str | None,
        artifact_type: ArtifactType | None,
        limit: int,
    ) -> list[Artifact]:
        column, value = ("task_id", task_id) if task_id is not None else ("bundle_id", bundle_id)
        sql = f"SELECT data FROM artifacts WHERE {column} = ? AND status = ?"  # noqa: S608
        params: list[Any] = [_storable(value), ArtifactStatus.APPROVED.value]
        if artifact_type is not None:
            sql += " AND type = ?"
            params.append(artifact_type.value)
        rows = self._conn.execute(sql + " ORDER BY id, line LIMIT ?", [*params, limit])
        return [_artifact(row[0]) for row in rows]

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        found: dict[str, Artifact] = {}
        for start in range(0, len(ids), 500):
            chunk = [_storable(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, data FROM artifacts WHERE id IN ({marks}) ORDER BY line",  # noqa: S608
                chunk,
            )
            for record_id, data in rows:
                found.setdefault(_text(record_id), _artifact(data))
        return [found[i] for i in ids if i in found]


def _artifact(data: bytes) -> Artifact:
    artifact: Artifact = from_record(SPECS["artifacts"], parse_line(data))
    return artifact
