"""Lists filtered further than an index can: the records an index returns, a predicate
dropping some, paged so that a dropped record never shifts a page. My work's lists and
the task lanes (blocked) read through it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from dataops.store.port import Filters, Page, PageRequest, Repository

T = TypeVar("T")

KeepMany = Callable[[Sequence[T]], Sequence[bool]]


def keep_all(records: Sequence[T]) -> Sequence[bool]:
    return [True] * len(records)


def kept(
    repo: Repository[T],
    filters: Filters,
    page: PageRequest,
    *,
    keep: KeepMany[T] = keep_all,
    until: Callable[[T], bool] = lambda _: False,
    max_reads: int | None = None,
) -> Page[T]:
    """A page of the records matching `filters` that `keep` accepts, in the store's order;
    the list ends at the first record `until` accepts. Reads store pages of `page.limit`
    and one more (to see whether the list goes on) until the page is full; `keep` judges
    each store page at once (a bulk check). The next cursor continues after the last
    record taken, so a dropped record never shifts a page, and it is None when what was
    read shows the list has ended.

    `max_reads` bounds the work of one call: after that many store pages the page is
    returned as it is (maybe short, maybe empty) with a cursor after the last record
    examined, and the caller asks on."""
    items: list[T] = []
    cursor = page.cursor
    reads = 0
    while True:
        batch = repo.find(filters, PageRequest(page.limit + 1, cursor))
        reads += 1
        records = list(batch.items)
        ended = False
        for index, record in enumerate(records):
            if until(record):
                records, ended = records[:index], True
                break
        verdicts = keep(records) if records else []
        for index, record in enumerate(records):
            if not verdicts[index]:
                continue
            items.append(record)
            if len(items) == page.limit:
                rest = records[index + 1 :]
                more = [r for r, ok in zip(rest, verdicts[index + 1 :], strict=True) if ok]
                if more:
                    return Page(items, repo.cursor_after(record))
                if ended or batch.next_cursor is None:
                    return Page(items, None)
                return Page(items, batch.next_cursor)
        if ended or batch.next_cursor is None:
            return Page(items, None)
        cursor = batch.next_cursor
        if max_reads is not None and reads >= max_reads:
            return Page(items, cursor)
