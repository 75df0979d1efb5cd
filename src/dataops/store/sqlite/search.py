"""The search index on SQLite: an FTS5 table of each searched record's words
(`domain.search.record_words`, joined by spaces) whose rowid is the record's entry in
`search_refs` (kind, id). Written by the repositories in the writing transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from dataops.domain.search import KIND_OF_ENTITY, KINDS, SEARCHED_ENTITIES, record_words
from dataops.store.port import PageRequest, SearchHit


def words_text(entity: str, record: Any) -> str:
    """What the index holds for a record: its words, joined by spaces."""
    return " ".join(record_words(entity, record))


def index_new(conn: sqlite3.Connection, entity: str, records: Sequence[tuple[str, str]]) -> None:
    """`reindex` of many records just added, (id, `words_text`) each: their refs are
    numbered as one INSERT each would number them (after the largest), in two
    statements; records the index already names (none, for new records) go one by one."""
    kind = KIND_OF_ENTITY[entity]
    ids = [record_id for record_id, _ in records]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        held = conn.execute(
            f"SELECT 1 FROM search_refs WHERE kind = ? AND id IN ({','.join('?' * len(chunk))})"  # noqa: S608
            " LIMIT 1",
            [kind, *chunk],
        ).fetchone()
        if held is not None:
            for record_id, text in records:
                _reindex_text(conn, kind, record_id, text)
            return
    last = conn.execute("SELECT COALESCE(MAX(ref), 0) FROM search_refs").fetchone()[0]
    refs = range(last + 1, last + 1 + len(records))
    conn.executemany(
        "INSERT INTO search_refs (ref, kind, id) VALUES (?, ?, ?)",
        [(ref, kind, record_id) for ref, (record_id, _) in zip(refs, records, strict=True)],
    )
    conn.executemany(
        "INSERT INTO search_words (rowid, words) VALUES (?, ?)",
        [(ref, text) for ref, (_, text) in zip(refs, records, strict=True)],
    )


def reindex(conn: sqlite3.Connection, entity: str, record: Any) -> None:
    """Make the index hold the record's current words (nothing to do when they are the
    ones it holds)."""
    if entity not in SEARCHED_ENTITIES:
        return
    _reindex_text(conn, KIND_OF_ENTITY[entity], record.id, words_text(entity, record))


def _reindex_text(conn: sqlite3.Connection, kind: str, record_id: str, text: str) -> None:
    row = conn.execute(
        "SELECT ref FROM search_refs WHERE kind = ? AND id = ?", (kind, record_id)
    ).fetchone()
    if row is None:
        ref = conn.execute(
            "INSERT INTO search_refs (kind, id) VALUES (?, ?)", (kind, record_id)
        ).lastrowid
    else:
        ref = row[0]
        held = conn.execute("SELECT words FROM search_words WHERE rowid = ?", (ref,)).fetchone()
        if held is not None and held[0] == text:
            return
        conn.execute("DELETE FROM search_words WHERE rowid = ?", (ref,))
    conn.execute("INSERT INTO search_words (rowid, words) VALUES (?, ?)", (ref, text))


def search(
    conn: sqlite3.Connection,
    words: Sequence[str],
    kinds: Sequence[str],
    page: PageRequest,
    after: list[str] | None,
) -> tuple[list[SearchHit], bool]:
    """One page of hits (kind in `KINDS` order, then id descending) after `after` (a
    (kind, id) pair), and whether more follow."""
    ordered = [k for k in KINDS if k in kinds]
    if not ordered or not words:
        return [], False
    # Words are letters and digits only (domain.search.words): quoted, each one is a
    # single FTS5 term; terms side by side must all match.
    match = " ".join(f'"{word}"' for word in words)
    where = ["search_words MATCH ?", f"r.kind IN ({','.join('?' * len(ordered))})"]
    params: list[Any] = [match, *ordered]
    if after is not None:  # KINDS is in alphabetical order: kinds compare as strings
        where.append("(r.kind > ? OR (r.kind = ? AND r.id < ?))")
        params += [after[0], after[0], after[1]]
    rows = conn.execute(
        "SELECT r.kind, r.id FROM search_words "  # noqa: S608
        "JOIN search_refs r ON r.ref = search_words.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY r.kind, r.id DESC LIMIT ?",
        [*params, page.limit + 1],
    ).fetchall()
    hits = [SearchHit(kind, record_id) for kind, record_id in rows[: page.limit]]
    return hits, len(rows) > page.limit


def backfill(conn: sqlite3.Connection) -> None:
    """Index every stored task, bundle and artifact (the migration that adds the index)."""
    from dataops.store.sqlite.tables import TABLES

    for entity in sorted(SEARCHED_ENTITIES):
        table = TABLES[entity]
        for (data,) in conn.execute(f"SELECT data FROM {table.name}"):  # noqa: S608
            reindex(conn, entity, table.decode(data))
