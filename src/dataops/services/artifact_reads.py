"""Artifact reads: the artifact page (`artifact_view`: task, bundle, history, supersede
chain), lists with their narrowing filters, and the "Evidence expiring" lane."""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from datetime import date, timedelta

from dataops.domain.clock import today
from dataops.domain.enums import ArtifactStatus, EntityType
from dataops.domain.errors import ValidationFailed
from dataops.domain.messages import AuditEvent
from dataops.domain.models import Artifact, Bundle, Task
from dataops.services.common import refresh_refs, require
from dataops.services.context import Workspace
from dataops.services.proofs import live
from dataops.store.port import Filters, Page, PageRequest, Repository, UnitOfWork

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
