"""Artifact use cases: register, update, review decisions, attach, read."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from dataops.domain.clock import new_id, now_ts, today
from dataops.domain.codec import camel, from_dict
from dataops.domain.enums import OWNED_PROVIDERS, ArtifactStatus, EntityType
from dataops.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    IllegalTransition,
    ValidationFailed,
    VersionConflict,
)
from dataops.domain.models import Actor, Approval, Artifact, AuditEvent, Bundle, Task
from dataops.domain.permissions import (
    barred_as_creator,
    check_create_status,
    check_review,
    check_status_field,
)
from dataops.domain.policy import infer_provider
from dataops.domain.rules import artifact_errors
from dataops.domain.status import CREATE_STATUSES, ReviewAction, action_for_status, check_move
from dataops.services import events, idempotency, owned, settings
from dataops.services.common import (
    audit,
    check_version,
    guard_local_storage,
    raise_if,
    refresh_refs,
    require,
    save,
    with_ref,
    without_ref,
)
from dataops.services.context import Workspace
from dataops.services.files import storage_uri_of
from dataops.services.notifications import notify_review_change, notify_reviewers
from dataops.services.proofs import live, refresh_citing, refresh_tasks
from dataops.store.port import Filters, Page, PageRequest, Repository, UnitOfWork

_RELATION_FIELDS = ("task_id", "bundle_id")
H = TypeVar("H", Task, Bundle)
_OBJECT_FIELDS = frozenset({"storage_uri", "storage_provider", "checksum", "size_bytes", "file_id"})
_UPDATABLE = frozenset(
    {
        "type",
        "title",
        "description",
        "storage_uri",
        "storage_provider",
        "filename",
        "content_type",
        "checksum",
        "size_bytes",
        "data_class",
        "assistant_job_id",
        "file_id",
        "source_type",
        "tags",
        "metadata",
        "valid_until",
    }
)
_CONTENT_FIELDS = ("storage_uri", "checksum", "file_id", "size_bytes")
"""What an approval certifies besides the record: a change to any of them sends an
approved artifact back to review (CONTRACT §7)."""


def register_artifact(
    ws: Workspace, actor: Actor, data: dict[str, Any], idempotency_key: str | None = None
) -> Artifact:
    """Create an artifact record (metadata only) and link it to its task and bundle.

    With an idempotency key, a retry with the same body returns the first result and the
    same key with another body is a Conflict; the key is claimed in the creating
    transaction. A backend that lets two claims race rejects the second insert, and the
    retry below then finds the first result."""
    if idempotency_key is None:
        return _register(ws, actor, data, None)
    claim = (
        idempotency.record_id(actor, "register-artifact", idempotency_key),
        idempotency.request_hash(data),
    )
    try:
        return _register(ws, actor, data, claim)
    except Conflict:
        return _register(ws, actor, data, claim)


def _register(
    ws: Workspace, actor: Actor, data: dict[str, Any], claim: tuple[str, str] | None
) -> Artifact:
    stamp = now_ts()
    uri = data["storage_uri"]
    artifact = Artifact(
        id=new_id("art"),
        type=data["type"],
        title=data["title"],
        storage_uri=uri,
        storage_provider=data.get("storage_provider") or infer_provider(uri),
        created_at=stamp,
        updated_at=stamp,
        created_by=actor.id,
    )
    for name, value in data.items():
        if name in _UPDATABLE or name in ("status", *_RELATION_FIELDS):
            setattr(artifact, name, value if value is not None else getattr(artifact, name))
    check_create_status(actor.role, artifact.status)
    raise_if(_errors_but_fillable(artifact))
    guard_local_storage(ws, artifact.storage_provider)
    if artifact.storage_provider in OWNED_PROVIDERS:
        artifact.checksum, artifact.size_bytes = _object_facts(
            ws, artifact, data.get("checksum"), data.get("size_bytes")
        )
    if artifact.status not in CREATE_STATUSES:
        allowed = ", ".join(s.value for s in CREATE_STATUSES)
        raise IllegalTransition(
            f"an artifact cannot be created as {artifact.status.value!r} (allowed: {allowed})"
        )
    if artifact.status == ArtifactStatus.APPROVED:  # an approval by its creator
        artifact.reviewed_by, artifact.reviewed_at = actor.id, stamp
        artifact.approvals = [Approval(actor.id, stamp)]
        artifact.self_reviewed = True
    with ws.store.unit_of_work(write=True) as uow:
        if artifact.status == ArtifactStatus.APPROVED:
            _check_policy(uow, actor, artifact, ReviewAction.APPROVE)
        if claim is not None:
            first = idempotency.replayed(uow, *claim)
            if first is not None:
                replay: Artifact = from_dict(Artifact, first)
                return replay
            idempotency.remember(uow, *claim, artifact.id, artifact)
        _check_relations(uow, artifact, data.keys())
        uow.artifacts.add(artifact)
        _relink(uow, artifact, None, None)
        later = refresh_citing(uow, actor, None, artifact)
        audit(
            uow,
            actor,
            EntityType.ARTIFACT,
            artifact.id,
            "create",
            after=artifact,
            summary=f"registered {artifact.type.value} artifact as {artifact.status.value}",
        )
        reviewers = notify_review_change(uow, actor.id, None, artifact)
        events.artifact_changed(uow, None, artifact)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, artifact, reviewers)
    return artifact


def get_artifact(ws: Workspace, artifact_id: str) -> Artifact:
    with ws.store.unit_of_work() as uow:
        return require(uow.artifacts, artifact_id, "artifact")


ARTIFACT_VIEW_AUDIT_LIMIT = 500
"""How many history events an artifact view holds; a longer history says so by its
cursor."""


@dataclass
class Chain:
    """An artifact's supersede chain around it (`include=chain`): at most `CHAIN_LIMIT`
    links each way, oldest first, the artifact among them. `earlier` / `later` name the
    next link beyond the bound (None where the chain ends within it): the page of the
    last link shown reads on from there. `missing` names links that could not be read."""

    items: list[Artifact]
    earlier: str | None = None
    later: str | None = None
    missing: list[str] = dataclasses.field(default_factory=list)


CHAIN_LIMIT = 10
"""How many links of the supersede chain the artifact page reads each way (one strongly
consistent get each, so at most twice this many reads per request)."""


@dataclass
class ArtifactView:
    """What the artifact page shows, read in one request (`GET /api/artifacts/{id}
    ?include=task,bundle,audit,chain`): the artifact and, when asked for, its task and
    bundle (None when it has none or it is gone), the first page of its history and its
    supersede chain."""

    artifact: Artifact
    task: Task | None = None
    bundle: Bundle | None = None
    audit: Page[AuditEvent] | None = None
    chain: Chain | None = None


def artifact_view(ws: Workspace, artifact_id: str, wanted: set[str]) -> ArtifactView:
    with ws.store.unit_of_work() as uow:
        view = ArtifactView(require(uow.artifacts, artifact_id, "artifact"))
        artifact = view.artifact
        # As their own routes show them: refs refreshed, a task's expired proof shown.
        if "task" in wanted and artifact.task_id:
            task = uow.tasks.get(artifact.task_id)
            if task is not None:
                refresh_refs(uow, [task])
                view.task = live(task)
        if "bundle" in wanted and artifact.bundle_id:
            view.bundle = uow.bundles.get(artifact.bundle_id)
            if view.bundle is not None:
                refresh_refs(uow, [view.bundle])
        if "audit" in wanted:
            history = {"entity_type": EntityType.ARTIFACT.value, "entity_id": artifact.id}
            view.audit = uow.audit_events.find(
                Filters(history), PageRequest(limit=ARTIFACT_VIEW_AUDIT_LIMIT)
            )
        if "chain" in wanted:
            view.chain = _chain(uow.artifacts, artifact)
        return view


def _chain(artifacts: Repository[Artifact], artifact: Artifact) -> Chain:
    """Follow `supersedes` back and `supersededBy` on, `CHAIN_LIMIT` links each way; a
    link already seen (a cycle) ends that way."""
    seen = {artifact.id}
    found: dict[str, list[Artifact]] = {"supersedes": [], "superseded_by": []}
    beyond: dict[str, str | None] = {}
    missing: list[str] = []
    for way, links in found.items():
        link: str | None = getattr(artifact, way)
        while link is not None and link not in seen and len(links) < CHAIN_LIMIT:
            seen.add(link)
            record = artifacts.get(link)
            if record is None:
                missing.append(link)
                link = None
                break
            links.append(record)
            link = getattr(record, way)
        beyond[way] = link if link is not None and link not in seen else None
    return Chain(
        items=[*reversed(found["supersedes"]), artifact, *found["superseded_by"]],
        earlier=beyond["supersedes"],
        later=beyond["superseded_by"],
        missing=missing,
    )


@dataclass(frozen=True)
class Narrowing:
    """Filters of an artifact list that no index of both stores answers (the "All
    artifacts" page, the review queue): checked on the records the indexed query reads,
    at most `NARROWING_BOUND` of them per page."""

    data_class: str | None = None
    storage_provider: str | None = None
    created_by: str | None = None
    created_from: str | None = None
    """First day (YYYY-MM-DD, UTC) of `createdAt`, inclusive."""
    created_to: str | None = None
    """Last day (YYYY-MM-DD, UTC) of `createdAt`, inclusive."""

    def active(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))

    def matches(self, artifact: Artifact) -> bool:
        day = artifact.created_at[:10]
        return (
            (self.data_class is None or artifact.data_class.value == self.data_class)
            and (
                self.storage_provider is None
                or artifact.storage_provider.value == self.storage_provider
            )
            and (self.created_by is None or artifact.created_by == self.created_by)
            and (self.created_from is None or day >= self.created_from)
            and (self.created_to is None or day <= self.created_to)
        )


NARROWING_BOUND = 1000
"""The most artifacts one narrowed page reads: a page may come back short (even empty)
with a `nextCursor` when the matches are sparse; the next page goes on from there."""


def list_artifacts(
    ws: Workspace,
    filters: dict[str, str | None],
    page: PageRequest,
    expiring_within_days: int | None = None,
    narrowing: Narrowing | None = None,
) -> Page[Artifact]:
    """A page of artifacts matching `filters`; with `expiring_within_days`, the evidence
    that is about to expire instead (`expiring_artifacts`, paged by its own cursor), which
    takes no other filter. `narrowing` filters further (`Narrowing`); its creator goes to the
    store's (creator, status) index when a status is asked for too."""
    narrowing = narrowing or Narrowing()
    if expiring_within_days is not None:
        others = any(v is not None for v in filters.values()) or narrowing.active()
        if others:
            raise ValidationFailed.one(
                "expiringWithinDays", "cannot be combined with other filters"
            )
        return expiring_artifacts(ws, expiring_within_days, page)
    if (
        narrowing.created_from
        and narrowing.created_to
        and (narrowing.created_from > narrowing.created_to)
    ):
        raise ValidationFailed.one("createdTo", "must not be before createdFrom")
    if narrowing.created_by is not None and filters.get("status") is not None:
        filters = {**filters, "created_by": narrowing.created_by}
        narrowing = dataclasses.replace(narrowing, created_by=None)
    with ws.store.unit_of_work() as uow:
        if not narrowing.active():
            return uow.artifacts.find(Filters(filters), page)
        return _narrowed(uow, Filters(filters), page, narrowing)


@dataclass(frozen=True)
class ContextTitles:
    """What a list shows of each artifact's context: its task's description and its
    bundle's title, by ID (`GET /api/artifacts?include=context`)."""

    tasks: dict[str, str]
    bundles: dict[str, str]


def context_titles(ws: Workspace, artifacts: list[Artifact]) -> ContextTitles:
    """The tasks and bundles a page of artifacts names, read in one batch each (a record
    that is gone is left out)."""
    task_ids = list(dict.fromkeys(a.task_id for a in artifacts if a.task_id))
    bundle_ids = list(dict.fromkeys(a.bundle_id for a in artifacts if a.bundle_id))
    with ws.store.unit_of_work() as uow:
        tasks = uow.tasks.get_many(task_ids) if task_ids else []
        bundles = uow.bundles.get_many(bundle_ids) if bundle_ids else []
    return ContextTitles(
        tasks={t.id: t.description for t in tasks}, bundles={b.id: b.title for b in bundles}
    )


def _narrowed(
    uow: UnitOfWork, filters: Filters, page: PageRequest, narrowing: Narrowing
) -> Page[Artifact]:
    """Read the indexed list on from `page.cursor`, keep what `narrowing` matches: until
    the page is full, the list ends, or `NARROWING_BOUND` records were read (then the
    cursor continues after the last one read)."""
    found: list[Artifact] = []
    cursor, read = page.cursor, 0
    while read < NARROWING_BOUND:
        want = min(max(page.limit * 2, 50), NARROWING_BOUND - read)
        batch = uow.artifacts.find(filters, PageRequest(limit=want, cursor=cursor))
        for artifact in batch.items:
            read += 1
            if narrowing.matches(artifact):
                found.append(artifact)
                if len(found) == page.limit:
                    more = batch.next_cursor is not None or artifact is not batch.items[-1]
                    cursor_out = uow.artifacts.cursor_after(artifact) if more else None
                    return Page(found, cursor_out)
        if batch.next_cursor is None:
            return Page(found, None)
        cursor = batch.next_cursor
    return Page(found, cursor)


def expiring_artifacts(
    ws: Workspace, within_days: int, page: PageRequest, on: str | None = None
) -> Page[Artifact]:
    """A page of the approved artifacts whose `validUntil` is from `on` (default today) to
    `on` + `within_days`, by `validUntil` then id (the "Evidence expiring" lane).

    One indexed equality query per day on (`valid_until`, `status`) — neither store has
    a range index on it — from the day and store cursor `page.cursor` carries
    (`_expiring_cursor`) to the first day that fills the page and one record more (so
    the last page has no cursor). A cursor whose day has passed since it was made starts
    at `on`: every record it had passed has expired, so nothing repeats."""
    first = date.fromisoformat(on or today())
    last = first + timedelta(days=within_days)
    day, cursor = _expiring_position(page.cursor) if page.cursor else (first, None)
    if day < first:
        day, cursor = first, None
    found: list[Artifact] = []
    with ws.store.unit_of_work() as uow:
        while day <= last and len(found) <= page.limit:
            want = PageRequest(limit=page.limit + 1 - len(found), cursor=cursor)
            batch = uow.artifacts.find(_approved_until(day), want)
            found += batch.items
            cursor = batch.next_cursor
            if cursor is None:
                day += timedelta(days=1)
        if len(found) <= page.limit:
            return Page(found)
        shown = found[: page.limit]
        after = uow.artifacts.cursor_after(shown[-1])
        return Page(shown, _expiring_cursor(shown[-1].valid_until or "", after))


def expiring_count(uow: UnitOfWork, within_days: int, on: str | None = None) -> int:
    """How many artifacts `expiring_artifacts` lists in all: an index count per day."""
    first = date.fromisoformat(on or today())
    days = (first + timedelta(days=offset) for offset in range(within_days + 1))
    return sum(uow.artifacts.count(_approved_until(day)) for day in days)


def _approved_until(day: date) -> Filters:
    return Filters({"valid_until": day.isoformat(), "status": ArtifactStatus.APPROVED.value})


def _expiring_cursor(day: str, store_cursor: str) -> str:
    """The lane's cursor: the day it stopped in and the store's cursor within that day
    (base64url JSON, unpadded, like the stores' own)."""
    raw = json.dumps([day, store_cursor], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _expiring_position(cursor: str) -> tuple[date, str | None]:
    """The day and store cursor `_expiring_cursor` made; `ValidationFailed` on the
    `cursor` field for anything else (a cursor of another list included)."""
    invalid = ValidationFailed.one("cursor", "is not a valid cursor of this list")
    try:
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not (
        isinstance(values, list)
        and len(values) == 2
        and all(isinstance(v, str) and v for v in values)
    ):
        raise invalid
    try:
        day = date.fromisoformat(values[0])
    except ValueError as exc:
        raise invalid from exc
    if day.isoformat() != values[0]:
        raise invalid
    return day, values[1]


def update_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Artifact:
    """PATCH: metadata fields, relationships (a move, as attach) and status (a review move).
    A change to where a DataOps-owned object is, or to what it holds, is checked against
    the object before the write transaction starts (`_object_facts`)."""
    if changes.get("status") is not None:
        check_status_field(actor.role, changes["status"])
    facts: _Facts | None = None
    if _OBJECT_FIELDS & changes.keys():
        with ws.store.unit_of_work() as uow:
            before = require(uow.artifacts, artifact_id, "artifact")
        check_version(before, expected_version)
        facts = _checked_facts(ws, before, changes)
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        updated, uri_changed = _changed(current, changes)
        if _OBJECT_FIELDS & changes.keys():
            owned = updated.storage_provider in OWNED_PROVIDERS
            if (facts is not None and facts.location != _location(updated)) or (
                facts is None and owned
            ):
                raise VersionConflict(f"artifact {current.id!r} changed while this request ran")
            if facts is not None:
                updated.checksum, updated.size_bytes = facts.checksum, facts.size_bytes
        raise_if(artifact_errors(updated, uri_changed=uri_changed))
        if uri_changed:
            guard_local_storage(ws, updated.storage_provider)
        relation_changes = {k: changes[k] for k in _RELATION_FIELDS if k in changes}
        for name, value in relation_changes.items():
            setattr(updated, name, value)
        _check_relations(uow, updated, changes.keys())
        reset = _content_changed(current, updated)
        status = changes.get("status")
        if reset and (status is None or status == current.status):
            _reset_review(updated, reset)
        elif status is not None and status != current.status:
            _apply_review(
                uow,
                actor,
                updated,
                action_for_status(status),
                reason=changes.get("review_reason"),
                superseded_by=changes.get("superseded_by"),
                reason_field="reviewReason",
            )
        if updated == current:
            return current
        later = _save_relinked(uow, actor, current, updated)
        if reset and updated.status != current.status:
            audit(
                uow,
                actor,
                EntityType.ARTIFACT,
                updated.id,
                "review-reset",
                before=current,
                after=updated,
                summary=updated.review_reason,
            )
        elif status is not None and status != current.status:
            audit(
                uow,
                actor,
                EntityType.ARTIFACT,
                updated.id,
                action_for_status(status).value,
                before=current,
                after=updated,
                summary=f"status set to {status.value}",
            )
        else:
            audit(
                uow, actor, EntityType.ARTIFACT, updated.id, "update", before=current, after=updated
            )
        reviewers = notify_review_change(uow, actor.id, current.status, updated)
        events.artifact_changed(uow, current.status, updated)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, updated, reviewers)
    return updated


def _changed(current: Artifact, changes: dict[str, Any]) -> tuple[Artifact, bool]:
    """`current` with the PATCH's field changes applied, and whether its URI changed."""
    updated = copy.deepcopy(current)
    for name in _UPDATABLE & changes.keys():
        setattr(updated, name, changes[name])
    for name in ("tags",):
        if name in changes and changes[name] is None:
            setattr(updated, name, [])
    uri_changed = "storage_uri" in changes or "storage_provider" in changes
    if uri_changed and changes.get("storage_provider") is None:  # null: infer it
        updated.storage_provider = infer_provider(updated.storage_uri)
    for required in ("type", "title", "storage_uri", "data_class", "source_type"):
        if required in changes and changes[required] is None:
            raise ValidationFailed.one(camel(required), "cannot be cleared")
    return updated, uri_changed


def _checked_facts(ws: Workspace, current: Artifact, changes: dict[str, Any]) -> _Facts | None:
    """The object facts a PATCH of an owned artifact's object fields must agree with
    (checked outside any write transaction), or None when DataOps does not own it."""
    updated, uri_changed = _changed(current, changes)
    raise_if(_errors_but_fillable(updated, uri_changed=uri_changed))
    if uri_changed:
        guard_local_storage(ws, updated.storage_provider)
    if updated.storage_provider not in OWNED_PROVIDERS:
        return None
    # Only what this request sends is a claim: the values held are the old object's.
    checksum, size = _object_facts(ws, updated, changes.get("checksum"), changes.get("size_bytes"))
    return _Facts(_location(updated), checksum, size)


@dataclass(frozen=True)
class _Facts:
    location: tuple[str, str | None, str | None]
    checksum: str
    size_bytes: int


def _location(artifact: Artifact) -> tuple[str, str | None, str | None]:
    provider = artifact.storage_provider.value if artifact.storage_provider else None
    return artifact.storage_uri, provider, artifact.file_id


def _errors_but_fillable(artifact: Artifact, *, uri_changed: bool = True) -> list[FieldError]:
    errors = artifact_errors(artifact, uri_changed=uri_changed)
    return owned.fillable(errors, artifact.checksum, artifact.storage_provider)


def _object_facts(
    ws: Workspace, artifact: Artifact, checksum: str | None, size_bytes: int | None
) -> owned.Facts:
    """`owned.take_object_facts` for an artifact: the file record its `fileId` names is
    the truth when it has the same URI, else the object in the blob store."""
    known = None
    if artifact.file_id:
        with ws.store.unit_of_work() as uow:
            record = uow.files.get(artifact.file_id)
        if (
            record is not None
            and storage_uri_of(record) == artifact.storage_uri
            and record.checksum is not None
            and record.size_bytes is not None
        ):
            known = (record.checksum, record.size_bytes)
    return owned.take_object_facts(ws, artifact.storage_uri, checksum, size_bytes, known)


def review_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    action: ReviewAction,
    *,
    reason: str | None = None,
    superseded_by: str | None = None,
    expected_version: int | None = None,
) -> Artifact:
    """submit / approve / reject / archive / supersede, as one atomic, audited step."""
    check_review(actor.role, action)
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        if action == ReviewAction.ARCHIVE and current.status == ArtifactStatus.ARCHIVED:
            return current
        updated = copy.deepcopy(current)
        _apply_review(uow, actor, updated, action, reason=reason, superseded_by=superseded_by)
        save(uow.artifacts, updated)
        later = refresh_citing(uow, actor, current, updated)
        audit(
            uow,
            actor,
            EntityType.ARTIFACT,
            updated.id,
            action.value,
            before=current,
            after=updated,
            summary=reason,
        )
        reviewers = notify_review_change(uow, actor.id, current.status, updated)
        events.artifact_changed(uow, current.status, updated)
        uow.commit()
    refresh_tasks(ws, actor, later)
    notify_reviewers(ws, updated, reviewers)
    return updated


def attach_artifact(
    ws: Workspace,
    actor: Actor,
    artifact_id: str,
    *,
    task_id: str | None,
    bundle_id: str | None,
    expected_version: int | None = None,
) -> Artifact:
    """Set taskId and/or bundleId and move the refs, in one transaction."""
    if not task_id and not bundle_id:
        raise ValidationFailed(
            [
                FieldError("taskId", "a task or a bundle to attach to is required"),
                FieldError("bundleId", "a task or a bundle to attach to is required"),
            ]
        )
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.artifacts, artifact_id, "artifact")
        check_version(current, expected_version)
        updated = copy.deepcopy(current)
        if task_id:
            updated.task_id = task_id
        if bundle_id:
            updated.bundle_id = bundle_id
        _check_relations(uow, updated, ["task_id", "bundle_id"])
        if updated == current:
            _relink(uow, updated, current.task_id, current.bundle_id)
            uow.commit()
            return current
        later = _save_relinked(uow, actor, current, updated)
        audit(
            uow,
            actor,
            EntityType.ARTIFACT,
            updated.id,
            "attach",
            before=current,
            after=updated,
            summary=_where(updated),
        )
        uow.commit()
    refresh_tasks(ws, actor, later)
    return updated


def _apply_review(
    uow: UnitOfWork,
    actor: Actor,
    artifact: Artifact,
    action: ReviewAction,
    *,
    reason: str | None,
    superseded_by: str | None,
    reason_field: str = "reason",
) -> None:
    """Change `artifact` in place along one review move; the caller saves and audits.
    `reason_field` names the body field that carries the reason (route or PATCH)."""
    if action == ReviewAction.REJECT and (reason is None or not reason.strip()):
        raise ValidationFailed.one(reason_field, "a reason is required to reject an artifact")
    if action == ReviewAction.SUPERSEDE:
        if not superseded_by:
            raise ValidationFailed.one("supersededBy", "is required to supersede an artifact")
        if superseded_by == artifact.id:
            raise ValidationFailed.one("supersededBy", "an artifact cannot supersede itself")
    _check_policy(uow, actor, artifact, action)
    stamp = now_ts()
    if action == ReviewAction.APPROVE and artifact.status == ArtifactStatus.APPROVED:
        # A further approval (CONTRACT §7: `approvals: N` needs N distinct people).
        if actor.id in artifact.approvers():
            raise IllegalTransition(f"you have already approved artifact {artifact.id!r}")
        artifact.approvals = [*_recorded(artifact), Approval(actor.id, stamp)]
    else:
        artifact.status = check_move(artifact.status, action)
        artifact.approvals = [Approval(actor.id, stamp)] if action == ReviewAction.APPROVE else []
    artifact.self_reviewed = artifact.created_by in artifact.approvers()
    if action in (ReviewAction.APPROVE, ReviewAction.REJECT):
        artifact.reviewed_by = actor.id
        artifact.reviewed_at = stamp
        artifact.review_reason = reason.strip() if reason else None
    if action == ReviewAction.SUPERSEDE and superseded_by:
        successor = require(uow.artifacts, superseded_by, "artifact", "supersededBy")
        if successor.status in (
            ArtifactStatus.ARCHIVED,
            ArtifactStatus.SUPERSEDED,
            ArtifactStatus.REJECTED,
        ):
            raise Conflict(f"the successor {successor.id!r} is {successor.status.value}")
        if successor.supersedes not in (None, artifact.id):
            raise Conflict(
                f"the successor {successor.id!r} already supersedes {successor.supersedes!r}"
            )
        artifact.superseded_by = successor.id
        if successor.supersedes != artifact.id:
            before = copy.deepcopy(successor)
            successor.supersedes = artifact.id
            save(uow.artifacts, successor)
            audit(
                uow,
                actor,
                EntityType.ARTIFACT,
                successor.id,
                "update",
                before=before,
                after=successor,
                summary=f"supersedes {artifact.id}",
            )


def _check_policy(uow: UnitOfWork, actor: Actor, artifact: Artifact, action: ReviewAction) -> None:
    """Under the `independent` review policy nobody approves or rejects what they
    created (403)."""
    if action not in (ReviewAction.APPROVE, ReviewAction.REJECT):
        return
    if artifact.created_by != actor.id:
        return  # only a creator can be barred: no settings read
    if barred_as_creator(settings.current(uow).review_policy, actor.id, artifact.created_by):
        raise Forbidden(
            f"the review policy is independent: you cannot {action.value} an artifact you "
            "created; ask another reviewer"
        )


def _recorded(artifact: Artifact) -> list[Approval]:
    """The approvals an approved artifact holds (its reviewer's, when it was approved
    before approvals were recorded)."""
    if artifact.approvals or artifact.reviewed_by is None:
        return list(artifact.approvals)
    return [Approval(artifact.reviewed_by, artifact.reviewed_at or now_ts())]


def _content_changed(before: Artifact, after: Artifact) -> list[str]:
    """The content fields of an approved artifact that a change alters."""
    if before.status != ArtifactStatus.APPROVED:
        return []
    return [
        camel(name) for name in _CONTENT_FIELDS if getattr(before, name) != getattr(after, name)
    ]


def _reset_review(artifact: Artifact, fields: list[str]) -> None:
    """Approval is bound to content: back to needs-review, approvals cleared (the
    decisions stay in the audit trail)."""
    artifact.status = ArtifactStatus.NEEDS_REVIEW
    artifact.approvals = []
    artifact.self_reviewed = False
    artifact.review_reason = (
        f"approval withdrawn: the content changed ({', '.join(fields)}); review it again"
    )


def _check_relations(uow: UnitOfWork, artifact: Artifact, fields: Any) -> None:
    """404 for a relationship ID in the body that does not exist."""
    fields = set(fields)
    if artifact.task_id and "task_id" in fields:
        require(uow.tasks, artifact.task_id, "task", "taskId")
    if artifact.bundle_id and "bundle_id" in fields:
        require(uow.bundles, artifact.bundle_id, "bundle", "bundleId")
    if artifact.file_id and "file_id" in fields:
        require(uow.files, artifact.file_id, "file", "fileId")


def _save_relinked(
    uow: UnitOfWork, actor: Actor, current: Artifact, updated: Artifact
) -> list[str]:
    """Save `updated` (was `current`), move its refs from where it was to where it is, and
    bring up to date the tasks whose proof can read it, here and where it was before; the
    IDs of those left for after the commit (`refresh_citing`)."""
    save(uow.artifacts, updated)
    _relink(uow, updated, current.task_id, current.bundle_id)
    return refresh_citing(
        uow,
        actor,
        current,
        updated,
        also_tasks=[current.task_id],
        also_bundles=[current.bundle_id],
    )


def _relink(
    uow: UnitOfWork, artifact: Artifact, old_task_id: str | None, old_bundle_id: str | None
) -> None:
    """Keep task and bundle refs in step with the artifact's taskId/bundleId: the old
    holder loses its ref, the new holder gains one."""
    _move_ref(uow.tasks, old_task_id, artifact.task_id, artifact, "task", "taskId")
    _move_ref(uow.bundles, old_bundle_id, artifact.bundle_id, artifact, "bundle", "bundleId")


def _move_ref(
    repo: Repository[H],
    old_id: str | None,
    new_id: str | None,
    artifact: Artifact,
    entity: str,
    field: str,
) -> None:
    def holds(holder: H) -> bool:
        return any(r.artifact_id == artifact.id for r in holder.artifact_refs)

    if old_id and old_id != new_id:
        old = repo.get(old_id)
        if old is not None and holds(old):
            old.artifact_refs = without_ref(old.artifact_refs, artifact.id)
            save(repo, old)
    if new_id:
        holder = require(repo, new_id, entity, field)
        if not holds(holder):
            holder.artifact_refs = with_ref(holder.artifact_refs, artifact.ref())
            save(repo, holder)


def _where(artifact: Artifact) -> str:
    parts = []
    if artifact.task_id:
        parts.append(f"task {artifact.task_id}")
    if artifact.bundle_id:
        parts.append(f"bundle {artifact.bundle_id}")
    return "attached to " + " and ".join(parts)
