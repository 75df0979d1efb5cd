"""Search over tasks, bundles and artifacts (CONTRACT §9): a page of index hits read back
as records, so the title, snippet and status are the records' current ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataops.domain.errors import ValidationFailed
from dataops.domain.search import ENTITY_OF_KIND, KINDS, query_words, url_host
from dataops.services.context import Workspace
from dataops.store.port import Page, PageRequest

SNIPPET_CHARS = 160


@dataclass
class SearchResult:
    kind: str
    id: str
    title: str
    snippet: str
    status: str


def search(ws: Workspace, q: str, kind: str | None, page: PageRequest) -> Page[SearchResult]:
    """The records holding every word of `q` (of one kind, or all), by kind then newest
    first. 422 for a query with no words to look up, or too many."""
    words = query_words(q)
    if kind is not None and kind not in KINDS:
        raise ValidationFailed.one("kind", f"must be one of {', '.join(KINDS)}")
    kinds = [kind] if kind else list(KINDS)
    with ws.store.unit_of_work() as uow:
        hits = uow.search(words, kinds, page)
        records: dict[tuple[str, str], Any] = {}
        for each in KINDS:
            ids = [hit.id for hit in hits.items if hit.kind == each]
            if ids:
                repository = getattr(uow, ENTITY_OF_KIND[each])
                records.update(((each, r.id), r) for r in repository.get_many(ids))
    results = [
        _result(hit.kind, records[(hit.kind, hit.id)])
        for hit in hits.items
        if (hit.kind, hit.id) in records  # a hit whose record is gone (index lag)
    ]
    return Page(results, hits.next_cursor)


def _result(kind: str, record: Any) -> SearchResult:
    if kind == "task":
        title = record.description
        snippet = f"Due {record.date}" + (f" · {record.comment}" if record.comment else "")
    elif kind == "bundle":
        title = record.title
        snippet = record.description or (
            f"Anchor date {record.anchor_date}" if record.anchor_date else ""
        )
    else:
        title = record.title
        snippet = record.description or url_host(record.storage_uri) or record.type.value
    return SearchResult(kind, record.id, title, _cut(snippet), record.status.value)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"
