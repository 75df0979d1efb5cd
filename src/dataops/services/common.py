"""Small helpers shared by the use cases: lookups, versions, audit, ref presentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts
from dataops.domain.codec import to_dict
from dataops.domain.enums import EntityType, StorageProvider
from dataops.domain.errors import NotFound, StorageUnavailable, ValidationFailed, VersionConflict
from dataops.domain.messages import AuditEvent
from dataops.domain.models import ArtifactRef, Bundle, Task, refresh_artifact_refs
from dataops.services.context import Workspace
from dataops.store.port import Repository, UnitOfWork

T = TypeVar("T")

EXPIRED_PER_WRITE = 20
"""Expired records of its kind that a write adding a session (login), an idempotency
record (a create with an Idempotency-Key) or a login throttle (a failed login) deletes as
it goes (`purge_expired`): more than it adds, so they cannot pile up, at a bounded cost
to the request."""


class Versioned(Protocol):
    id: str
    version: int
    updated_at: str


V = TypeVar("V", bound=Versioned)


def require(repo: Repository[T], record_id: str, entity: str, field: str | None = None) -> T:
    """The record, or NotFound (naming the body field when the ID came from one)."""
    record = repo.get(record_id)
    if record is None:
        raise NotFound(entity, record_id, field)
    return record


def check_version(record: Versioned, expected: int | None) -> None:
    if expected is not None and expected != record.version:
        raise VersionConflict(
            f"{type(record).__name__.lower()} {record.id!r} is at version {record.version}, "
            f"not {expected}"
        )


def save(repo: Repository[V], record: V) -> None:
    """Write `record` (a changed copy) conditionally on the version it was read at."""
    read_version = record.version
    record.version = read_version + 1
    record.updated_at = now_ts()
    repo.update(record, read_version)


def raise_if(errors: Sequence[Any]) -> None:
    if errors:
        raise ValidationFailed(list(errors))


def audit(
    uow: UnitOfWork,
    actor: Actor,
    entity_type: EntityType,
    entity_id: str,
    action: str,
    *,
    before: Any = None,
    after: Any = None,
    summary: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        id=new_id("evt"),
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        created_at=now_ts(),
        actor_id=actor.id,
        before=None if before is None else to_dict(before),
        after=None if after is None else to_dict(after),
        summary=summary,
    )
    uow.audit_events.add(event)
    return event


def save_audited(
    uow: UnitOfWork,
    actor: Actor,
    repo: Repository[V],
    entity_type: EntityType,
    action: str,
    before: V,
    after: V,
    summary: str | None = None,
) -> None:
    """Save `after` (a changed copy of `before`) and audit the change as `action`."""
    save(repo, after)
    audit(uow, actor, entity_type, after.id, action, before=before, after=after, summary=summary)


def create_audited(
    ws: Workspace,
    actor: Actor,
    entity_type: EntityType,
    record: V,
    check: Callable[[UnitOfWork, V], None],
    repo: Callable[[UnitOfWork], Repository[V]],
) -> V:
    """Add the new `record` to `repo` and audit its creation, in one unit of work, after
    `check` (what it names must exist)."""
    with ws.store.unit_of_work(write=True) as uow:
        check(uow, record)
        repo(uow).add(record)
        audit(uow, actor, entity_type, record.id, "create", after=record)
        uow.commit()
    return record


def refresh_refs(uow: UnitOfWork, holders: Sequence[Task | Bundle]) -> None:
    """Replace each ref's snapshot with the artifact's current type, title, URI and status
    (`models.refresh_artifact_refs`, read in this unit)."""
    refresh_artifact_refs(holders, uow.artifacts.get_many)


def guard_local_storage(ws: Workspace, provider: StorageProvider | None) -> None:
    """local-dev:// locations are refused (503, nothing written) outside local/test."""
    if provider == StorageProvider.LOCAL_DEV and not ws.settings.local_storage_allowed:
        raise StorageUnavailable(
            "local-dev:// storage is allowed only when DATAOPS_ENV is local or test "
            f"(DATAOPS_ENV={ws.settings.env}); keep the binary in S3 or an external system"
        )


def with_ref(refs: list[ArtifactRef], ref: ArtifactRef) -> list[ArtifactRef]:
    return [r for r in refs if r.artifact_id != ref.artifact_id] + [ref]


def without_ref(refs: list[ArtifactRef], artifact_id: str) -> list[ArtifactRef]:
    return [r for r in refs if r.artifact_id != artifact_id]
