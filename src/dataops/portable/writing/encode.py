"""Stored rows → export lines without building entities: the export's fast path.

An export line is defined by `format.to_record` and `format.canonical_line`, applied to
the entity a stored row decodes to (`codec.from_dict`). This module gives the same bytes
from the row's stored runtime JSON (`store.port.StoredRow`) directly, and takes the
defining path itself for every row where it cannot show that the shortcut is exact.

Mapping. A plan per entity, compiled from the model's type hints like `codec`'s: the
camelCase value of every field under its export name, top-level nulls and empty lists
dropped, the stored version, the files' legacy URI rule. It is used only when the
stored object holds every field of the model and every typed value is one that
`from_dict` keeps as it is: an enum field holds one of its values or null, a list field a
list, a nested entity (artifact refs, proof requirement, completion proof, template
definitions...) an object with exactly its fields and valid values, recursively. Then
`from_dict` converts nothing and fills no default, and `to_record` gives back the same
values (unknown top-level keys are dropped either way). Any other row goes through
`from_dict` → `to_record`.

Serialisation. `orjson.dumps(record, option=OPT_SORT_KEYS)` is `canonical_line(record)`
encoded as UTF-8 whenever both write every value alike: both are compact, sort keys at
every depth by code point (which is UTF-8 byte order), escape strings the same way
(every code point is compared in tests/portable/test_encode.py) and write integers
within 64 bits, booleans and null alike. They differ on some floats (`1e-07` and `1e-05`
are `1e-7` and `0.00001` in orjson), NaN and infinities (orjson writes null), integers
beyond 64 bits (orjson refuses to write them, and reads them as floats) and lone
surrogates (refused). So a row's orjson parse is used only when orjson writes it back as
exactly the stored bytes. Those are `json.dumps` output (the port's contract), so each
value of the row is then written by orjson exactly as json writes it, and the sorted line
is the same too. Any other row is parsed by `json.loads` and written by
`canonical_line`, as is a record holding a ref from such an artifact row. The values the
export adds are strings and stored versions (64-bit on both stores; a bigger one makes
orjson refuse, and the line falls back to `canonical_line`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import operator
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from dataops.domain.codec import camel, from_dict, to_dict
from dataops.domain.enums import ArtifactStatus, ArtifactType
from dataops.domain.models import Artifact, refreshed
from dataops.portable.format import EntitySpec, canonical_line, to_record, with_storage_uri
from dataops.store.port import StoredRow

Check = Callable[[Any], bool]
Ref = tuple[dict[str, Any], bool]
"""A refreshed artifact ref in its runtime shape, and whether it came from a checked row."""
RefLookup = Callable[[list[str]], dict[str, Ref]]
"""Artifact IDs → the refs of the artifacts that exist, keyed by artifact ID."""

R = typing.TypeVar("R")
_DEEP_RECURSION = 20_000
"""The recursion limit for the rare value nested deeper than the default allows."""
_SORT_KEYS = orjson.OPT_SORT_KEYS
_LIST_OR_NONE = frozenset({list, type(None)})
_REF_NAMES = ("artifactId", "type", "title", "storageUri", "status")
_REF_VALUES = operator.itemgetter("id", "type", "title", "storageUri", "status")


def _check(hint: Any) -> Check | None:
    """Whether a JSON value of a field of type `hint` is one `codec.from_dict` keeps as it
    is (then `to_record` writes it back unchanged); None when every value is."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _check(options[0]) if len(options) == 1 else None  # (from_dict: as is)
    if origin is list:
        item = _check(typing.get_args(hint)[0])
        if item is None:  # from_dict copies any iterable into a list: only a list is kept
            return lambda v: v is None or type(v) is list
        return lambda v: v is None or (type(v) is list and all(map(item, v)))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _object_check(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_check(hint)
    return None


def _enum_check(cls: type[enum.Enum]) -> Check:
    """One of the enum's values, or null (from_dict keeps null in any field)."""
    return frozenset([*(member.value for member in cls), None]).__contains__


def _is_text(value: Any) -> bool:
    return value is None or type(value) is str


_REF_CHECKS = (_is_text, _enum_check(ArtifactType), _is_text, _is_text, _enum_check(ArtifactStatus))


def _object_check(cls: type[Any]) -> Check:
    """A nested entity: null, or an object with exactly the fields of `cls`, valid."""
    hints = typing.get_type_hints(cls)
    keys = frozenset(camel(f.name) for f in dataclasses.fields(cls))
    checked = [
        (camel(f.name), found)
        for f in dataclasses.fields(cls)
        if (found := _check(hints[f.name])) is not None
    ]
    checks = tuple(found for _, found in checked)
    pick = _picker([key for key, _ in checked])

    def check(value: Any) -> bool:
        if value is None:
            return True
        if type(value) is not dict or value.keys() != keys:
            return False
        return pick is None or all(map(operator.call, checks, pick(value)))

    return check


class EntityEncoder:
    """Stored rows of one entity → its export lines (see the module docstring)."""

    def __init__(self, spec: EntitySpec) -> None:
        if spec.model is None:
            raise ValueError(f"{spec.name} has no runtime model in this version")
        self.spec = spec
        self._model: type[Any] = spec.model
        fields = dataclasses.fields(spec.model)
        hints = typing.get_type_hints(spec.model)
        keys = tuple(camel(f.name) for f in fields)
        self._values = operator.itemgetter(*keys)  # KeyError: a field is missing
        self._names = tuple(spec.id_field if f.name == "id" else f.name for f in fields)
        self._legacy_paths = spec.name == "files"
        self.holds_refs = "artifactRefs" in keys
        enums: list[tuple[int, Check]] = []
        lists: list[int] = []
        others: list[tuple[int, Check]] = []
        for index, f in enumerate(fields):
            hint = hints[f.name]
            found = _check(hint)
            if found is None:
                continue
            kind = _kind(hint)
            if kind == "enum":
                enums.append((index, found))
            elif kind == "list":
                lists.append(index)
            else:
                others.append((index, found))
        # Enum and plain list fields are checked together, at C speed (the common case).
        self._enum_at = _picker([i for i, _ in enums])
        self._enum_checks = tuple(found for _, found in enums)
        self._list_at = _picker(lists)
        self._other_checks = tuple(others)

    def lines(
        self, rows: Sequence[StoredRow], refs: RefLookup | None = None
    ) -> tuple[list[str], list[bytes]]:
        """The records' IDs and lines (without newlines), in the rows' order. `refs` is
        required for entities that hold artifact refs (tasks, bundles)."""
        # One loop, its lookups hoisted: this runs once per exported record.
        ids: list[str] = []
        lines: list[bytes] = []
        holding: list[tuple[int, dict[str, Any], bool]] = []  # records whose refs wait
        add_id, add_line = ids.append, lines.append
        id_field, names, valid = self.spec.id_field, self._names, self._valid_values
        legacy_paths, holds_refs = self._legacy_paths, self.holds_refs
        loads, dumps, decode_error = orjson.loads, orjson.dumps, orjson.JSONDecodeError
        for _, raw, version in rows:
            try:
                data = loads(raw)
            except decode_error:
                data = None
            # Exact: orjson writes the row back as stored (see the module docstring).
            try:
                same = type(data) is dict and dumps(data) == raw
            except TypeError:  # nested beyond orjson's limit: the defining path
                same = False
            values = valid(data) if same else None
            if values is None:
                record, exact = _deep_safe(self._defined, raw, version), False
            else:
                record = {
                    name: value
                    for name, value in zip(names, values, strict=True)
                    if value is not None and value != []
                }
                exact = True
                if version is not None:  # (None: an unversioned entity)
                    record["version"] = version
                if legacy_paths:
                    with_storage_uri(record)
            add_id(record[id_field])
            if holds_refs and record.get("artifact_refs"):
                holding.append((len(lines), record, exact))
                add_line(b"")
            else:  # written at once: the record dies young (no GC promotion)
                add_line(_deep_safe(_dump, record, exact))
        if holding:
            if refs is None:
                raise ValueError(f"{self.spec.name} need the live artifact refs")
            for index, record, exact in _refresh(holding, refs):
                lines[index] = _deep_safe(_dump, record, exact)
        return ids, lines

    def ref(self, raw: bytes) -> Ref:
        """An artifact row as the ref tasks and bundles carry: `Artifact.ref()` of what the
        store decodes, when the row holds the ref's five fields with values `from_dict`
        keeps (enum values or null; strings or null: orjson reads and writes those exactly,
        whatever else the row holds). Other fields are not checked here: a row the
        defining path cannot decode fails the export when the artifact's own line is
        written, as before (call it on the artifacts encoder)."""
        try:
            values = _REF_VALUES(orjson.loads(raw))  # KeyError: from_dict fills a default
            if all(map(operator.call, _REF_CHECKS, values)):
                return dict(zip(_REF_NAMES, values, strict=True)), True
        except (orjson.JSONDecodeError, KeyError, TypeError):  # (TypeError: not an object)
            pass
        artifact: Artifact = from_dict(Artifact, json.loads(raw))
        return to_dict(artifact.ref()), False

    def _valid_values(self, data: dict[str, Any]) -> tuple[Any, ...] | None:
        """Every field's value when from_dict would keep them all as they are."""
        try:
            values: tuple[Any, ...] = self._values(data)
            if self._enum_at is not None and not all(
                map(operator.call, self._enum_checks, self._enum_at(values))
            ):
                return None
            if self._list_at is not None and not _LIST_OR_NONE.issuperset(
                map(type, self._list_at(values))
            ):
                return None
            for index, check in self._other_checks:
                if not check(values[index]):
                    return None
        except (KeyError, TypeError):  # a missing field; an unhashable enum value
            return None
        return values

    def _defined(self, raw: bytes, version: int | None) -> dict[str, Any]:
        """The defining path: the entity the store would decode, then `to_record`."""
        entity = from_dict(self._model, json.loads(raw))
        if version is not None:
            entity.version = version
        return to_record(self.spec, entity)


def _refresh(
    holding: list[tuple[int, dict[str, Any], bool]], refs: RefLookup
) -> list[tuple[int, dict[str, Any], bool]]:
    """Give each artifact ref the artifact's current type, title, URI and status
    (`models.refreshed`, as `models.refresh_artifact_refs` does on entities)."""
    lists = refreshed(
        [[(ref, True) for ref in record["artifact_refs"]] for _, record, _ in holding],
        _ref_artifact_id,
        refs,
    )
    refreshed_records = []
    for (index, record, exact), found in zip(holding, lists, strict=True):
        record["artifact_refs"] = [ref for ref, _ in found]
        refreshed_records.append((index, record, exact and all(ok for _, ok in found)))
    return refreshed_records


def _ref_artifact_id(ref: Ref) -> Any:
    return ref[0]["artifactId"]


def _kind(hint: Any) -> str:
    """The kind of a field: `enum`, `list` (of items that need no check) or empty."""
    options = [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if len(options) != 1:
        return ""
    (inner,) = options
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "enum"
    if typing.get_origin(inner) is list and _check(typing.get_args(inner)[0]) is None:
        return "list"
    return ""


def _picker(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]] | None:
    """A function picking the items at `keys` (indexes, names) as a tuple; None: no key."""
    if not keys:
        return None
    if len(keys) == 1:
        (only,) = keys
        return lambda container: (container[only],)
    return operator.itemgetter(*keys)


def _deep_safe(function: Callable[..., R], *args: Any) -> R:
    """`function(*args)`, once more with room to recurse if a value nests deeper than
    Python's recursion limit allows (a store may hold one written before the depth rule,
    or by other tools): the export writes every stored value, it never dies on one."""
    try:
        return function(*args)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, _DEEP_RECURSION))
        try:
            return function(*args)
        finally:
            sys.setrecursionlimit(limit)


def _dump(record: dict[str, Any], exact: bool) -> bytes:
    if exact:
        try:
            return orjson.dumps(record, option=_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError: e.g. a version beyond 64 bits
            pass
    return canonical_line(record).encode("utf-8")
