"""How many artifacts each bundle of a list has (the bundles list's count): those attached
to the bundle and those attached to any of its tasks, each once. Read from the refs the
bundle and its tasks hold (`artifactRefs`, kept in step with every attach, move and
registration), so one indexed task query per bundle, no artifact reads."""

from __future__ import annotations

from dataops.domain.models import Bundle
from dataops.services.common import refresh_refs
from dataops.services.context import Workspace
from dataops.store.port import MAX_PAGE_SIZE, Filters, Page, PageRequest, UnitOfWork


def list_bundles_counted(
    ws: Workspace, filters: dict[str, str | None], page: PageRequest
) -> tuple[Page[Bundle], dict[str, int]]:
    """A page of bundles (as `workflow.list_bundles`) and each one's artifact count."""
    with ws.store.unit_of_work() as uow:
        result = uow.bundles.find(Filters(filters), page)
        refresh_refs(uow, result.items)
        return result, {bundle.id: artifact_count(uow, bundle) for bundle in result.items}


def artifact_count(uow: UnitOfWork, bundle: Bundle) -> int:
    ids = {ref.artifact_id for ref in bundle.artifact_refs}
    cursor: str | None = None
    while True:
        tasks = uow.tasks.find(
            Filters({"bundle_id": bundle.id}), PageRequest(limit=MAX_PAGE_SIZE, cursor=cursor)
        )
        for task in tasks.items:
            ids.update(ref.artifact_id for ref in task.artifact_refs)
        if tasks.next_cursor is None:
            return len(ids)
        cursor = tasks.next_cursor
