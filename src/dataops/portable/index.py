"""A scratch index on disk for the validator: IDs, relationship edges and the evidence
the proof rule reads, so validating a million records needs no million-entry dicts.

It is a throw-away SQLite file in a temporary directory (stdlib `sqlite3`, no
durability: journal off, small page cache). It is not a metadata store; the exported
records never go through the store port here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dataops.domain.enums import ArtifactStatus, ArtifactType
from dataops.domain.models import Artifact, Bundle
from dataops.portable.format import SPECS, SYSTEM_ACTOR, from_record

_BATCH = 5_000
_SCHEMA = """
CREATE TABLE ids (entity TEXT NOT NULL, id TEXT NOT NULL, line INTEGER NOT NULL);
CREATE TABLE refs (entity TEXT NOT NULL, line INTEGER NOT NULL, field TEXT NOT NULL,
    target TEXT NOT NULL, target_id TEXT NOT NULL, allow_system INTEGER NOT NULL);
CREATE TABLE files (id TEXT NOT NULL, task_id TEXT NOT NULL);
CREATE TABLE artifacts (id TEXT NOT NULL, task_id TEXT, bundle_id TEXT,
    status TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE bundles (id TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE pending_tasks (line INTEGER NOT NULL, data TEXT NOT NULL);
"""
_INDEXES = """
CREATE INDEX ids_key ON ids (entity, id, line);
CREATE INDEX files_task ON files (task_id, id);
CREATE INDEX artifacts_id ON artifacts (id);
CREATE INDEX artifacts_task ON artifacts (task_id, status, type, id);
CREATE INDEX artifacts_bundle ON artifacts (bundle_id, status, type, id);
CREATE INDEX bundles_id ON bundles (id);
"""


class ScratchIndex:
    def __init__(self, directory: Path) -> None:
        self._conn = sqlite3.connect(directory / "index.sqlite", isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = OFF")
        self._conn.execute("PRAGMA synchronous = OFF")
        self._conn.execute("PRAGMA cache_size = -16000")
        self._conn.execute("PRAGMA temp_store = FILE")
        self._conn.executescript(_SCHEMA)
        self._pending: dict[str, list[tuple[Any, ...]]] = {}

    def close(self) -> None:
        self._conn.close()

    def _add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self._pending.setdefault(table, [])
        rows.append(row)
        if len(rows) >= _BATCH:
            self._write(table)

    def _write(self, table: str) -> None:
        rows = self._pending.get(table)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            self._conn.execute("BEGIN")
            self._conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608
            self._conn.execute("COMMIT")
            rows.clear()

    def add_id(self, entity: str, record_id: str, line: int) -> None:
        self._add("ids", (entity, record_id, line))

    def add_ref(
        self, entity: str, line: int, field: str, target: str, target_id: str, *, actor: bool
    ) -> None:
        self._add("refs", (entity, line, field, target, target_id, int(actor)))

    def add_file(self, record_id: str, task_id: str) -> None:
        self._add("files", (record_id, task_id))

    def add_artifact(self, record: dict[str, Any]) -> None:
        row = (
            record["artifact_id"],
            record.get("task_id"),
            record.get("bundle_id"),
            record.get("status", ArtifactStatus.DRAFT.value),
            record["type"],
            json.dumps(record),
        )
        self._add("artifacts", row)

    def add_bundle(self, record: dict[str, Any]) -> None:
        self._add("bundles", (record["bundle_id"], json.dumps(record)))

    def add_pending_task(self, line: int, record: dict[str, Any]) -> None:
        """A done task without a recorded proof: checked with the live rule at the end."""
        self._add("pending_tasks", (line, json.dumps(record)))

    def seal(self) -> None:
        """Flush every batch and build the indexes (after the last record)."""
        for table in list(self._pending):
            self._write(table)
        self._conn.executescript(_INDEXES)

    def duplicates(self) -> Iterator[tuple[str, str, int, int]]:
        """(entity, id, line, first line) for every repeated ID after its first use."""
        sql = """
            SELECT i.entity, i.id, i.line, f.first FROM ids i
            JOIN (SELECT entity, id, MIN(line) AS first FROM ids GROUP BY entity, id
                  HAVING COUNT(*) > 1) f ON f.entity = i.entity AND f.id = i.id
            WHERE i.line > f.first ORDER BY i.entity, i.line
        """
        yield from self._conn.execute(sql)

    def dangling(self, exported: Sequence[str]) -> Iterator[tuple[str, int, str, str, str]]:
        """(entity, line, field, target, id) of every edge whose target entity is
        exported but holds no such ID (the system actor is allowed where `actor`)."""
        marks = ",".join("?" * len(exported))
        sql = f"""
            SELECT r.entity, r.line, r.field, r.target, r.target_id FROM refs r
            WHERE r.target IN ({marks})
              AND NOT (r.allow_system = 1 AND r.target_id = ?)
              AND NOT EXISTS (SELECT 1 FROM ids i WHERE i.entity = r.target AND i.id = r.target_id)
            ORDER BY r.entity, r.line, r.field
        """  # noqa: S608 (placeholders only)
        yield from self._conn.execute(sql, [*exported, SYSTEM_ACTOR])

    def edge_counts(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT entity, field, target, COUNT(*) FROM refs GROUP BY entity, field, target"
        )
        counts: dict[str, int] = {}
        for entity, field, target, count in rows:
            name = field.split("[")[0] if "[" in field else field
            key = f"{entity}.{name} -> {target}"
            counts[key] = counts.get(key, 0) + count
        return dict(sorted(counts.items()))

    def pending_tasks(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, data in self._conn.execute("SELECT line, data FROM pending_tasks ORDER BY line"):
            yield line, json.loads(data)

    def bundle(self, bundle_id: str) -> Bundle | None:
        row = self._conn.execute(
            "SELECT data FROM bundles WHERE id = ? LIMIT 1", (bundle_id,)
        ).fetchone()
        bundle: Bundle | None = (
            None if row is None else from_record(SPECS["bundles"], json.loads(row[0]))
        )
        return bundle


class ExportEvidence:
    """The proof rule's `EvidenceSource` over exported records (same lookups, same order
    as the store: earliest by id)."""

    def __init__(self, index: ScratchIndex) -> None:
        self._conn = index._conn

    def first_file_id(self, task_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT id FROM files WHERE task_id = ? ORDER BY id LIMIT 1", (task_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def first_approved_artifact(
        self, *, task_id: str | None, bundle_id: str | None, artifact_type: ArtifactType | None
    ) -> Artifact | None:
        column, value = ("task_id", task_id) if task_id is not None else ("bundle_id", bundle_id)
        sql = f"SELECT data FROM artifacts WHERE {column} = ? AND status = ?"  # noqa: S608
        params: list[Any] = [value, ArtifactStatus.APPROVED.value]
        if artifact_type is not None:
            sql += " AND type = ?"
            params.append(artifact_type.value)
        row = self._conn.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
        return None if row is None else _artifact(row[0])

    def artifacts_by_id(self, ids: Sequence[str]) -> list[Artifact]:
        found: dict[str, Artifact] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, data FROM artifacts WHERE id IN ({marks})",  # noqa: S608
                chunk,
            )
            for record_id, data in rows:
                found.setdefault(record_id, _artifact(data))
        return [found[i] for i in ids if i in found]


def _artifact(data: str) -> Artifact:
    artifact: Artifact = from_record(SPECS["artifacts"], json.loads(data))
    return artifact
