"""The compiled codec (`domain.structs`) is exact or refuses: for any line, the row the
SQLite store writes of its decoded struct is the row of the reference reading
(`parse_line`, `from_record`, the entity encoded by the store), or `Unexact` sends the
line to the reference path. Lines drawn from the golden export with any field changed
to any JSON value, removed or null, written canonically or not."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops.domain import messages, models
from dataops.domain.structs import Unexact, line_codec
from dataops.portable.format import EXPORTED, SPECS, canonical_line, from_record, known_fields
from dataops.portable.lines import parse_line
from dataops.store.sqlite import SqliteStore
from tests.portable.conftest import Golden
from tests.portable.support import ExportDir

ENTITIES = [name for name in EXPORTED if SPECS[name].model is not None]

json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=5),
        st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=3),
        st.sampled_from(["todo", "done", "approved", "needs-review", "s3", "transcript"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    return SqliteStore(tmp_path_factory.mktemp("codec") / "store.db")


def _reference_row(store: SqliteStore, name: str, line: bytes) -> tuple[Any, ...] | None:
    """The row the reference reading gives, or None where it fails (not a valid record)."""
    try:
        entity = from_record(SPECS[name], parse_line(line))
        return tuple(store.encode(name, [entity]).rows[0])
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return None


def _compiled_row(store: SqliteStore, name: str, line: bytes) -> tuple[Any, ...]:
    spec = SPECS[name]
    assert spec.model is not None
    codec = line_codec(spec.model, spec.id_field)
    assert codec is not None
    record = codec.decode(line)
    return tuple(store.encode(name, [record], [codec.runtime_json(record)]).rows[0])


def test_every_entity_compiles() -> None:
    for name in ENTITIES:
        spec = SPECS[name]
        assert spec.model is not None
        assert line_codec(spec.model, spec.id_field) is not None, name


def test_every_golden_line_is_read_exactly(golden: Golden, store: SqliteStore) -> None:
    """The usual record takes the compiled path, and gives the reference's row."""
    export = ExportDir(golden.directory)
    seen = 0
    for name in ENTITIES:
        for text in export.lines(name):
            line = text.encode()
            assert _compiled_row(store, name, line) == _reference_row(store, name, line)
            seen += 1
    assert seen > 50


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_changed_line_is_read_exactly_or_refused(
    golden: Golden, store: SqliteStore, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(ENTITIES))
    records = ExportDir(golden.directory).records(name)
    if not records:
        return
    record = dict(data.draw(st.sampled_from(records)))
    fields = sorted(known_fields(SPECS[name]) | {"unknown_field", "id", "storage_path"})
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from(fields))
        change = data.draw(st.sampled_from(["value", "null", "remove"]))
        if change == "remove":
            record.pop(field, None)
        else:
            record[field] = None if change == "null" else data.draw(json_value)
    form = data.draw(st.sampled_from(["canonical", "spaced", "ascii", "unsorted"]))
    if form == "canonical":
        text = canonical_line(record)
    elif form == "spaced":
        text = json.dumps(record, indent=1).replace("\n", " ")
    elif form == "ascii":
        text = json.dumps(record, sort_keys=True)
    else:
        text = json.dumps(dict(reversed(record.items())), ensure_ascii=False)
    try:
        line = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: the export writes it escaped
        line = json.dumps(record).encode()
    expected = _reference_row(store, name, line)
    try:
        found = _compiled_row(store, name, line)
    except Unexact:
        return  # the reference path reads it
    assert found == expected


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("artifacts", "metadata", {"ratio": 0.5}),  # a float, anywhere
        ("audit_events", "after", {"deep": [{"er": 1e-05}]}),
        ("tasks", "status", None),  # null where the default is not: the reference's default
        ("tasks", "requires_file", 1),  # another JSON type: the reference keeps it
        ("tasks", "tags", "one"),
        ("tasks", "date", 20260102),
        ("tasks", "status", "finished"),  # no such value
    ],
)
def test_a_line_the_codec_cannot_prove_is_refused(
    golden: Golden, store: SqliteStore, name: str, field: str, value: object
) -> None:
    record = ExportDir(golden.directory).records(name)[0]
    record[field] = value
    with pytest.raises(Unexact):
        _compiled_row(store, name, canonical_line(record).encode())


def test_a_lone_surrogate_is_refused(golden: Golden, store: SqliteStore) -> None:
    record = ExportDir(golden.directory).records("tasks")[0]
    record["description"] = "half \ud800 a pair"
    line = json.dumps(record).encode()  # (escaped: \\ud800)
    with pytest.raises(Unexact):
        _compiled_row(store, "tasks", line)


def test_strings_are_written_as_json_writes_them() -> None:
    """Every code point but the surrogates, alone: msgspec and the store's `json` write
    the same text (the docstring's claim that lets the struct's JSON be the store's)."""
    dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    encode = msgspec.json.encode
    differ = [
        point
        for point in range(sys.maxunicode + 1)
        if not 0xD800 <= point <= 0xDFFF and encode(chr(point)).decode() != dump(chr(point))
    ]
    assert differ == []


def test_the_structs_answer_the_entity_properties() -> None:
    """The columns the store indexes are properties of the entity classes; a decoded
    line answers them by the same code."""
    task = line_codec(models.Task, "task_id")
    assert task is not None
    line = (
        b'{"task_id":"tsk_1","description":"d","date":"2026-01-02","created_at":"x",'
        b'"updated_at":"x","status":"waiting","proof_blocked":true}'
    )
    record = task.decode(line)
    assert (record.open_key, record.blocked_key, record.withdrawn_key) == ("true", None, None)
    notification = line_codec(messages.Notification, "notification_id")
    assert notification is not None
    unread = notification.decode(
        b'{"notification_id":"n","type":"task-due","message":"m","created_at":"x"}'
    )
    assert unread.unread_key == "true"


def test_a_repeated_key_is_read_as_the_reference_reads_it(
    golden: Golden, store: SqliteStore
) -> None:
    """The last value of a repeated key wins in both readings."""
    record = ExportDir(golden.directory).records("tasks")[0]
    line = canonical_line(record)[:-1] + ',"description":"the second one"}'
    expected = _reference_row(store, "tasks", line.encode())
    assert expected is not None
    assert "the second one" in expected[2]
    assert _compiled_row(store, "tasks", line.encode()) == expected


def test_a_free_form_field_with_a_default_factory_is_not_compiled() -> None:
    """A null there reads as None in msgspec but as the factory's value in the reference:
    such a class keeps the reference reading."""

    @dataclasses.dataclass
    class Loose:
        id: str
        extra: Any = dataclasses.field(default_factory=dict)

    assert line_codec(Loose, "loose_id") is None
