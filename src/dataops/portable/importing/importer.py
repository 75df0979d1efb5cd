"""Import a portable export into a metadata store.

`plan_import` validates the export (the relationship graph is part of the report),
then compares every valid record with the target store and counts, per entity, what an
import would insert, update or skip, and what is invalid. It writes nothing.

`apply_import` refuses a non-empty target unless `allow_existing`, an invalid export,
and conflicts (a user email held by another user ID, an audit event that differs from
the stored one: the trail is append-only, an entity this version cannot store). It
then writes in dependency order (users, templates, bundles, tasks, files, artifacts,
notifications, audit events), a batch per write unit of work, keeping every ID:

- a record the target does not have is inserted as exported (its `version` too);
- an identical record (ignoring `version`) is skipped, so re-running changes nothing;
- a different record replaces the stored one, conditional on the stored version.

Records absent from the export are never deleted. Users arrive without credentials
(exports carry no password hashes): set them with `dataops users passwd EMAIL`.

On a store that commits a unit of any size (SQLite), an entity the target holds none
of is written by the bulk path (`bulk`): encoded by worker processes, the same rows as
record by record (`fast=False`), through the store's `bulk_insert`, inside its
`bulk_writes`: each entity in one unit of work, its indexes built once after its rows
(SQLite with a rollback journal: nothing else has the file open), or in units of the
most records the store takes (WAL: another connection has it open).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from dataops.domain.errors import Conflict
from dataops.domain.search import SEARCHED_ENTITIES
from dataops.portable.checking.validate import opened
from dataops.portable.format import EXPORTED, SPECS, EntitySpec, from_record
from dataops.portable.importing.bulk import Encoded, encoded_batches
from dataops.portable.lines import parse_line, read_lines
from dataops.portable.report import Problem, Progress, Report
from dataops.portable.writing.export import present
from dataops.store.port import (
    EncodedRecords,
    Filters,
    MetadataStore,
    PageRequest,
    Repository,
    UnitOfWork,
)

BATCH_SIZE = 500
# DynamoDB commits a unit as one TransactWriteItems of at most 100 items, and a record
# may carry a uniqueness claim (users by email): 40 records stay within it.
DYNAMO_BATCH_SIZE = 40


def _batch_size(store: MetadataStore, spec: EntitySpec, inserts_only: bool) -> int:
    """Records per write unit. On DynamoDB an update of a record search finds (task,
    bundle, artifact) also deletes and puts its changed search word items, up to
    2 x `MAX_RECORD_WORDS` + 1 writes in one transaction: such records are updated one per
    unit. Inserts only (an entity the target holds none of) are split by the store."""
    if store.name != "dynamodb":
        return BATCH_SIZE
    if spec.name in SEARCHED_ENTITIES and not inserts_only:
        return 1
    return DYNAMO_BATCH_SIZE


@dataclass
class EntityPlan:
    insert: int = 0
    update: int = 0
    skip: int = 0
    invalid: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "insert": self.insert,
            "update": self.update,
            "skip": self.skip,
            "invalid": self.invalid,
        }


@dataclass
class Plan:
    path: str
    report: Report
    entities: dict[str, EntityPlan] = field(default_factory=dict)
    conflicts: list[Problem] = field(default_factory=list)
    applied: bool = False

    @property
    def importable(self) -> bool:
        return self.report.valid and not self.conflicts

    @property
    def users_without_credentials(self) -> int:
        users = self.entities.get("users")
        return 0 if users is None else users.insert

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "valid": self.report.valid,
            "importable": self.importable,
            "applied": self.applied,
            "entities": {name: plan.as_json() for name, plan in self.entities.items()},
            "conflicts": [c.as_json() for c in self.conflicts],
            "relationships": dict(self.report.relationships),
        }


class ImportRefused(Conflict):
    """The import did not start; `plan` says why (problems, conflicts, target)."""

    title = "Import refused"

    def __init__(self, detail: str, plan: Plan | None = None) -> None:
        super().__init__(detail)
        self.plan = plan


def _records(
    root: Path, spec: EntitySpec, invalid: set[int], size: int = BATCH_SIZE
) -> Iterator[list[tuple[int, Any]]]:
    """Batches of (line, record) of the valid lines; an invalid line comes as (line, None)."""
    batch: list[tuple[int, Any]] = []
    with (root / spec.file_name).open("rb") as handle:
        for number, raw, newline, long_numbers in read_lines(handle):
            if raw is not None and not raw.strip():
                continue
            record = None
            if raw is not None and number not in invalid:
                record = parse_line(raw, long_numbers=long_numbers, newline=newline)
            batch.append((number, record))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _entity_batches(encoded: Iterator[Encoded], entity: str) -> Iterator[EncodedRecords]:
    """The batches of `entity` at the head of `encoded`, up to its end mark."""
    for name, batch in encoded:
        assert name == entity
        if batch is None:
            return
        yield batch


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "version"}


class _Importer:
    def __init__(
        self, root: Path, report: Report, store: MetadataStore, *, fast: bool = True
    ) -> None:
        self._root = root
        self._report = report
        self._store = store
        self._fast = fast

    def entities(self, manifest_listed: list[str]) -> list[EntitySpec]:
        return [SPECS[name] for name in EXPORTED if name in manifest_listed]

    def run(self, plan: Plan, *, write: bool, progress: TextIO | None = None) -> None:
        shown = Progress(
            progress, *(("importing", "imported") if write else ("comparing", "compared"))
        )
        total = 0
        listed = list(self._report.entity_counts)
        for name in listed:
            if SPECS[name].model is None:
                message = f"{name} cannot be imported by this version (no such entity yet)"
                plan.conflicts.append(Problem(name, message))
        specs = self.entities(listed)
        bulk = [spec for spec in specs if write and self._bulk(spec)]
        writes = self._store.bulk_writes() if bulk else contextlib.nullcontext(None)
        with writes as unit:
            encoded = encoded_batches(self._store, [(self._root / s.file_name, s) for s in bulk])
            try:
                for spec in specs:
                    if spec in bulk:
                        counts = plan.entities[spec.name] = EntityPlan()
                        self._write_bulk(spec, encoded, counts, shown, unit)
                        shown.update(spec.name, counts.insert, force=True)
                        total += counts.insert
                    else:
                        total += self._run_entity(spec, plan, shown, write=write)
            finally:
                encoded.close()  # (its workers, if it stopped early)
        shown.done(total)

    def _run_entity(self, spec: EntitySpec, plan: Plan, shown: Progress, *, write: bool) -> int:
        """Compare (and with `write`, write) the records of `spec` batch by batch; the
        count of its lines."""
        counts = plan.entities[spec.name] = EntityPlan()
        invalid = self._report.invalid_lines.get(spec.name, set())
        all_new = self._nothing_to_compare(spec)
        if not write and not invalid and all_new:
            counts.insert = self._report.entity_counts[spec.name]
            return counts.insert
        size, done = _batch_size(self._store, spec, all_new), 0
        for batch in _records(self._root, spec, invalid, size):
            counts.invalid += sum(1 for _, record in batch if record is None)
            valid = [(line, record) for line, record in batch if record is not None]
            with self._store.unit_of_work(write=write) as uow:
                self._batch(uow, spec, valid, counts, plan, write=write)
                if write:
                    uow.commit()
            done += len(batch)
            shown.update(spec.name, done)
        shown.update(spec.name, done, force=True)
        return done

    def _write_bulk(
        self,
        spec: EntitySpec,
        encoded: Iterator[Encoded],
        counts: EntityPlan,
        shown: Progress,
        unit: int | None,
    ) -> None:
        """Every record of `spec`, the next batches of `encoded` (`bulk`), through the
        store's `bulk_insert`. An entity of at most `unit` records (None: any number,
        `MetadataStore.bulk_writes`) is one unit of work, its indexes built once after
        its rows (`rebuild_indexes`): all of it or none. A larger one goes in units of
        about `unit` records, its indexes kept as rows arrive."""
        rebuild = unit is None or self._report.entity_counts.get(spec.name, 0) <= unit
        batches = _entity_batches(encoded, spec.name)
        batch = next(batches, None)
        while batch is not None:
            with self._store.unit_of_work(write=True) as uow:
                with uow.bulk_insert(spec.name, rebuild_indexes=rebuild):
                    written = 0
                    while batch is not None and (rebuild or unit is None or written < unit):
                        uow.add_encoded(batch)
                        written += len(batch.rows)
                        batch = next(batches, None)
                uow.commit()
            counts.insert += written
            shown.update(spec.name, counts.insert)

    def _bulk(self, spec: EntitySpec) -> bool:
        """Whether the records of `spec` go by the bulk path (`bulk`): inserts only (the
        target holds none), no invalid line, and a store that commits a unit of any size
        atomically (SQLite; DynamoDB's units stay at `_batch_size`). (Writing the other
        entities changes none of this: each has its own records.)"""
        return (
            self._fast
            and spec.name != "users"  # compared by email too
            and self._store.atomic_write_limit is None
            and not self._report.invalid_lines.get(spec.name)
            and self._nothing_to_compare(spec)
        )

    def _nothing_to_compare(self, spec: EntitySpec) -> bool:
        """True when every record of `spec` would be inserted: the target holds none of
        them and nothing else to compare with (users are compared by email too)."""
        if spec.name == "users":
            return False
        with self._store.unit_of_work() as uow:
            repo: Repository[Any] = getattr(uow, spec.name)
            return not repo.find(Filters(), PageRequest(limit=1)).items

    def _batch(
        self,
        uow: UnitOfWork,
        spec: EntitySpec,
        batch: list[tuple[int, dict[str, Any]]],
        counts: EntityPlan,
        plan: Plan,
        *,
        write: bool,
    ) -> None:
        repo: Repository[Any] = getattr(uow, spec.name)
        ids = [record[spec.id_field] for _, record in batch]
        stored_items = repo.get_many(ids)
        stored = {
            record[spec.id_field]: (item, record)
            for item, record in zip(stored_items, present(uow, spec, stored_items), strict=True)
        }
        for line, record in batch:
            current = stored.get(record[spec.id_field])
            if current is None:
                if spec.name == "users" and self._email_taken(uow, record, line, plan):
                    continue
                counts.insert += 1
                if write:
                    repo.add(from_record(spec, record))
            elif _comparable(current[1]) == _comparable(record):
                counts.skip += 1
            elif spec.name == "audit_events":
                message = "differs from the stored audit event (the trail is append-only)"
                plan.conflicts.append(Problem(spec.name, message, line, spec.id_field))
            else:
                counts.update += 1
                if write:
                    entity = from_record(spec, record)
                    expected = getattr(current[0], "version", 1)
                    if spec.versioned:
                        entity.version = expected + 1
                    repo.update(entity, expected)

    def _email_taken(self, uow: UnitOfWork, record: dict[str, Any], line: int, plan: Plan) -> bool:
        page = uow.users.find(Filters({"email": record["email"]}), PageRequest(limit=1))
        if not page.items:
            return False
        message = f"email {record['email']!r} belongs to another user ({page.items[0].id})"
        plan.conflicts.append(Problem("users", message, line, "email"))
        return True


def _refuse_stopped(plan: Plan) -> None:
    """A validation that stopped (too many problems) left lines unchecked: no plan."""
    report = plan.report
    if report.stopped:
        raise ImportRefused(
            f"the export is not valid (validation stopped after {report.problem_count} "
            "problems); nothing was imported (see `dataops validate-export`)",
            plan,
        )


def _refuse_non_empty(store: MetadataStore, allow_existing: bool) -> None:
    if not allow_existing and not store.is_empty():
        raise ImportRefused(
            "the target store already holds records; import into an empty store, or pass "
            "--allow-existing to merge (identical records are skipped, others updated)"
        )


def plan_import(
    path: Path,
    store: MetadataStore,
    *,
    allow_existing: bool | None = None,
    progress: TextIO | None = None,
) -> Plan:
    """Validate and count insert/update/skip/invalid per entity; writes nothing. Given
    `allow_existing` (a dry run of `apply_import`), it first refuses what the import
    would refuse up front: a non-empty target without `allow_existing`."""
    if allow_existing is not None:
        _refuse_non_empty(store, allow_existing)
    with opened(path, progress=progress) as (root, report, _index):
        plan = Plan(str(path), report)
        _refuse_stopped(plan)
        _Importer(root, report, store).run(plan, write=False, progress=progress)
        return plan


def apply_import(
    path: Path,
    store: MetadataStore,
    *,
    allow_existing: bool = False,
    progress: TextIO | None = None,
    fast: bool = True,
) -> Plan:
    """Import `path` into `store` (see the module docstring); the returned plan holds
    what was written. `progress`: a terminal to count records on. `fast=False`: the
    reference paths only (`validate_export`'s, and every record added one by one),
    which must store the same rows."""
    _refuse_non_empty(store, allow_existing)
    with opened(path, progress=progress, fast=fast) as (root, report, _index):
        plan = Plan(str(path), report)
        _refuse_stopped(plan)
        importer = _Importer(root, report, store, fast=fast)
        importer.run(plan, write=False, progress=progress)
        if not report.valid:
            raise ImportRefused(
                f"the export is not valid ({report.problem_count} problems); nothing was "
                "imported (see `dataops validate-export`)",
                plan,
            )
        if plan.conflicts:
            raise ImportRefused(
                f"the export conflicts with the target ({len(plan.conflicts)} conflicts); "
                "nothing was imported",
                plan,
            )
        applied = Plan(str(path), report, applied=True)
        importer.run(applied, write=True, progress=progress)
        if applied.conflicts:  # the target changed between the check and the writes
            raise ImportRefused("the target changed during the import; run it again", applied)
        return applied
