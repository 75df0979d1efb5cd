"""Compiled codecs: an entity's export line decoded by msgspec in C and written as its
stored runtime JSON, the import's per-record work without dicts or dataclasses.

A `LineCodec` is compiled from the entity dataclass, as `codec`'s plans are: the same
fields in the same order, the same defaults, the same key names (`codec.camel`; the id
under its export name when reading), nested entities as nested structs, and the
dataclass's properties (`Task.open_key`, `FileRecord.location`...), so a decoded line
answers every attribute the stores' column and search-word code reads.

It is exact or it refuses. `decode` and `runtime_json` give, for a line, the record
`format.from_record(parse_line(line))` builds and the text `json` writes of `to_dict` of
it (what the SQLite store writes), or raise `Unexact` — and the caller takes that
reference path — wherever the two could differ:

- a null where the field's default is not null (the reference reads it as absent);
- a value of another JSON type than the field's (the reference keeps it as it is);
- any float (json and msgspec write some differently: `1e-05` / `0.00001`): typed fields
  hold none, and free-form values (`metadata`, audit states...) refuse one on reading;
- a string msgspec cannot read or write (a lone surrogate).

Strings, integers of any size, booleans, null and key order are written alike by both
(tests/portable/test_compiled_codec.py compares every code point). A class whose
`__init__` does more than store values (`codec.plain_dataclass`), whose default factory
is not `list` or `dict`, or with a free-form field whose default is not null, is not
compiled (`line_codec` gives None).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any

import msgspec

from dataops.domain.codec import camel, plain_dataclass


class Unexact(Exception):
    """The line is one the compiled codec cannot prove it reads as the reference does."""


class _NotCompiled(Exception):
    """A type or default this module does not compile."""


def _refuse_float(text: str) -> Any:
    raise Unexact(f"a float ({text})")


def _type(hint: Any, nullable: bool) -> Any:
    """The msgspec type of a field of type `hint`; `nullable`: null is read as None (only
    where the reference's default is None too)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            return Any  # (the reference keeps such a value as it is)
        inner = _type(options[0], False)
        return inner | None if nullable and inner is not Any else inner
    if hint is Any:
        return Any
    if origin is list:
        inner = _type(typing.get_args(hint)[0], False)
        return list[inner] | None if nullable else list[inner]  # type: ignore[valid-type]
    if origin is dict:
        key, value = typing.get_args(hint)
        if key is not str or value is not Any:
            raise _NotCompiled(hint)
        return dict[str, Any] | None if nullable else dict[str, Any]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        nested = _nested(hint)
        return nested | None if nullable else nested
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint | None if nullable else hint
    if hint in (str, int, bool):
        return hint | None if nullable else hint
    raise _NotCompiled(hint)


def _fields(cls: type[Any]) -> list[tuple[Any, ...]]:
    """The msgspec fields of `cls`: (name, type[, default]) in field order."""
    if not plain_dataclass(cls):  # (the reference calls its `__init__`)
        raise _NotCompiled(cls)
    hints = typing.get_type_hints(cls)
    out: list[tuple[Any, ...]] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            kind = _type(hints[f.name], f.default is None)
            if kind is Any and f.default is not None:  # (null: None here, the default there)
                raise _NotCompiled(f)
            out.append((f.name, kind, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            if f.default_factory not in (list, dict):
                raise _NotCompiled(f)
            kind = _type(hints[f.name], False)
            if kind is Any:  # (null: None here, the factory's value there)
                raise _NotCompiled(f)
            out.append((f.name, kind, msgspec.field(default_factory=f.default_factory)))
        else:
            out.append((f.name, _type(hints[f.name], False)))
    return out


def _properties(cls: type[Any]) -> dict[str, property]:
    return {
        name: value
        for klass in reversed(cls.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, property)
    }


def _camel_names(cls: type[Any]) -> dict[str, str]:
    return {f.name: camel(f.name) for f in dataclasses.fields(cls)}


@functools.cache
def _nested(cls: type[Any]) -> type[msgspec.Struct]:
    """A nested entity keeps its runtime shape (camelCase keys) in lines and stored JSON."""
    return msgspec.defstruct(
        cls.__name__, _fields(cls), rename=_camel_names(cls), namespace=_properties(cls), gc=False
    )


class LineCodec:
    """Export lines of one entity → records with its attributes → its stored JSON."""

    def __init__(self, cls: type[Any], id_key: str) -> None:
        fields = _fields(cls)
        self._line = msgspec.defstruct(
            f"{cls.__name__}Line",
            fields,
            rename={"id": id_key},
            namespace=_properties(cls),
            gc=False,
        )
        self._stored = msgspec.defstruct(
            f"{cls.__name__}Stored", fields, rename=_camel_names(cls), gc=False
        )
        self._decoder = msgspec.json.Decoder(self._line, float_hook=_refuse_float)
        self._encode = msgspec.json.Encoder().encode
        self._astuple = msgspec.structs.astuple

    def decode(self, line: bytes) -> Any:
        """The record of an export line, its attributes those of the entity."""
        try:
            return self._decoder.decode(line)
        except msgspec.MsgspecError as exc:
            raise Unexact(str(exc)) from exc

    def runtime_json(self, record: Any) -> str:
        """What the SQLite store writes of the entity (`tables.Table.encode`)."""
        try:
            return self._encode(self._stored(*self._astuple(record))).decode()
        except (msgspec.MsgspecError, UnicodeError) as exc:
            raise Unexact(str(exc)) from exc


_CODECS: dict[tuple[type[Any], str], LineCodec | None] = {}


def line_codec(cls: type[Any], id_key: str) -> LineCodec | None:
    """The compiled codec of `cls` read by export names (`id_key`: its id's), or None if
    a field cannot be compiled (see the module docstring)."""
    key = (cls, id_key)
    if key not in _CODECS:
        try:
            _CODECS[key] = LineCodec(cls, id_key)
        except _NotCompiled:
            _CODECS[key] = None
    return _CODECS[key]
