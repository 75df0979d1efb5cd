"""The import's bulk path (records encoded by worker processes, written in a few
statements per batch, in one unit per entity or in units of `BULK_UNIT`) stores exactly
the rows of the reference path (`fast=False`: every record added one by one): every
table, the search index included."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops.domain.codec import to_dict
from dataops.domain.enums import ArtifactStatus, ProofType
from dataops.domain.models import ProofRequirement
from dataops.portable.format import EXPORTED, SPECS, canonical_line, from_record
from dataops.portable.importing import bulk
from dataops.portable.importing.importer import apply_import
from dataops.store.sqlite import SqliteStore
from dataops.store.sqlite.tables import TABLES
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir, copy_export


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name NOT LIKE 'search_words_%' ORDER BY name"
            )
        ]
        return {
            name: conn.execute(f"SELECT rowid, * FROM {name} ORDER BY rowid").fetchall()  # noqa: S608
            for name in tables
        }
    finally:
        conn.close()


def _imported(export: Path, target: Path, *, fast: bool) -> dict[str, list[tuple[object, ...]]]:
    store = SqliteStore(target)
    try:
        plan = apply_import(export, store, fast=fast)
        assert plan.applied
    finally:
        store.close()
    return _rows(target)


@pytest.mark.parametrize(("workers", "unit"), [(1, None), (2, None), (2, 1)])
def test_bulk_import_stores_the_rows_of_the_reference_path(
    golden: Golden,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    unit: int | None,
) -> None:
    """Each entity in one unit, its indexes built after its rows (a rollback journal);
    or (`unit` 1, as in WAL mode with units of `WAL_BULK_UNIT`) the entities of 2
    records in units of 1, their indexes kept."""
    monkeypatch.setattr(bulk, "RANGE_BYTES", 700)  # many batches, several per file
    if unit is not None:
        monkeypatch.setattr(SqliteStore, "bulk_writes", lambda store: nullcontext(unit))
    monkeypatch.setattr(bulk, "available_cores", lambda: workers)
    monkeypatch.setattr(bulk, "_SMALL", 0)
    expected = _imported(golden.archive, tmp_path / "reference.db", fast=False)
    assert expected["search_refs"]
    assert expected["search_words"]
    assert expected["artifacts"]
    assert _imported(golden.archive, tmp_path / "bulk.db", fast=True) == expected


json_data = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.text(max_size=5),
        st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=3),
        st.sampled_from(list(ArtifactStatus)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_stored_json_is_to_dict_written_compact(golden: Golden, data: st.DataObject) -> None:
    """`Table.encode` writes what `json.dumps(to_dict(entity))` wrote (its definition
    before the copy-free path), whatever free-form values hold: floats, NaN, big
    integers, enums, an entity (then to_dict converts it)."""
    name = data.draw(st.sampled_from([n for n in EXPORTED if SPECS[n].model is not None]))
    records = ExportDir(golden.directory).records(name)
    if not records:
        return
    entity = from_record(SPECS[name], data.draw(st.sampled_from(records)))
    free = [f.name for f in dataclasses.fields(entity) if f.name in _FREE_FORM]
    for field in free:
        if data.draw(st.booleans()):
            value = data.draw(json_data)
            if data.draw(st.integers(0, 9)) == 0:
                value = {"inside": ProofRequirement(ProofType.ARTIFACT)}
            if field in _LISTS:  # typed list[dict[str, Any]]: free-form items
                value = [value, data.draw(st.dictionaries(st.text(max_size=3), json_data))]
            setattr(entity, field, value)
    expected = json.dumps(to_dict(entity), separators=(",", ":"), ensure_ascii=False)
    assert TABLES[name].encode(entity) == expected


def test_orjson_writes_a_plain_record_and_json_any_other(
    golden: Golden, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Table.encode`'s two writers: orjson for JSON data without floats (every golden
    record), `json` once a value is a float (or NaN, or a big integer orjson refuses,
    or a lone surrogate, or an entity) anywhere, even deep in a free-form value; both
    write what `json.dumps(to_dict(entity))` writes."""
    written: list[bytes] = []

    def dumps(value: object, option: int | None = None) -> bytes:
        data = real(value, option=option)
        written.append(data)
        return data

    real = orjson.dumps
    monkeypatch.setattr(orjson, "dumps", dumps)
    plain = [
        (name, from_record(SPECS[name], record))
        for name in EXPORTED
        if SPECS[name].model is not None
        for record in ExportDir(golden.directory).records(name)
    ]
    assert {"tasks", "artifacts", "audit_events"} <= {name for name, _ in plain}
    for name, entity in plain:
        expected = json.dumps(to_dict(entity), separators=(",", ":"), ensure_ascii=False)
        assert TABLES[name].encode(entity) == expected
    assert len(written) == len(plain)
    odd_values: list[object] = [
        1.5,
        1e-05,
        float("nan"),
        2**64,
        "\ud800",
        {"inside": ProofRequirement(ProofType.ARTIFACT)},
        {"deep": [{"er": [0.1]}]},
        [1, 2, {3: "a key that is not a string"}],
    ]
    entity = next(entity for name, entity in plain if name == "artifacts")
    for value in odd_values:
        written.clear()
        entity.metadata = {"value": value}
        expected = json.dumps(to_dict(entity), separators=(",", ":"), ensure_ascii=False)
        assert TABLES["artifacts"].encode(entity) == expected
        assert not written, value  # (orjson refused the big integer, surrogate, key)


_FREE_FORM = {"metadata", "before", "after", "validation", "assistant_job_refs", "audit_event_refs"}
_LISTS = {"assistant_job_refs", "audit_event_refs"}


def test_lines_the_compiled_codec_refuses_take_the_reference_reading(
    golden: Golden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A float in an artifact's metadata and in an audit state, a null list in a task:
    each such line is read by `parse_line` and `from_record` (`domain.structs` refuses
    it), the rest (a line spaced out too) by the codec; the rows are the reference
    path's."""
    export = copy_export(golden.directory, tmp_path / "export")
    artifact = export.records("artifacts")[0]
    export.edit("artifacts", artifact["artifact_id"], metadata={"ratio": 0.25, "big": 1e-05})
    events = export.records("audit_events")
    events[0]["after"] = {"score": 1.5}
    export.write_records("audit_events", events)
    lines = export.lines("tasks")
    spaced = json.loads(lines[0])  # (spaces: the codec reads them as json does)
    lines[0] = json.dumps(spaced, indent=1, sort_keys=True).replace("\n", " ")
    null_list = json.loads(lines[1])  # a null read as the default (an empty list)
    lines[1] = canonical_line({**null_list, "proof_withdrawn_reasons": None})
    export.write_lines("tasks", lines)
    refused: list[bytes] = []
    parse = bulk.parse_line

    def parse_line(raw: bytes, **kw: Any) -> Any:
        refused.append(raw)
        return parse(raw, **kw)

    expected = _imported(export.root, tmp_path / "reference.db", fast=False)
    monkeypatch.setattr(bulk, "parse_line", parse_line)
    assert _imported(export.root, tmp_path / "bulk.db", fast=True) == expected
    assert len(refused) == 3, refused
