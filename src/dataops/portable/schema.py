"""JSON shape of export records, derived from the entities' type hints.

Checked before a record is turned back into its entity: required fields, strict JSON
types (a string is not a number, `true` is not `1`), enum values at any depth, and no
unknown fields (an importer would silently drop them). Top-level names are snake_case;
nested objects keep their runtime camelCase names (see `format`).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from dataops.domain.codec import camel
from dataops.portable.format import EntitySpec, known_fields, required_fields

FieldIssue = tuple[str, str]
"""(field path, message)."""


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _optional(hint: Any) -> tuple[Any, bool]:
    """(the hint without None, whether None is allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        allows_none = len(options) < len(typing.get_args(hint))
        return (options[0] if len(options) == 1 else Any), allows_none
    return hint, False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def check_value(hint: Any, value: Any, path: str) -> list[FieldIssue]:
    """Problems of `value` against the type `hint`."""
    hint, allows_none = _optional(hint)
    if value is None:
        return [] if allows_none or hint is Any else [(path, "must not be null")]
    if hint is Any:
        return []
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list):
            return [(path, f"must be an array, not {_type_name(value)}")]
        (item_hint,) = typing.get_args(hint)
        issues: list[FieldIssue] = []
        for index, item in enumerate(value):
            issues += check_value(item_hint, item, f"{path}[{index}]")
        return issues
    if origin is dict or hint is dict:
        return (
            []
            if isinstance(value, dict)
            else [(path, f"must be an object, not {_type_name(value)}")]
        )
    if not isinstance(hint, type):
        return []
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            return [(path, f"must be an object, not {_type_name(value)}")]
        return _check_nested(hint, value, path)
    if issubclass(hint, enum.Enum):
        allowed = [member.value for member in hint]
        if value not in allowed:
            return [(path, f"has unknown value {value!r} (allowed: {', '.join(allowed)})")]
        return []
    return _check_scalar(hint, value, path)


def _check_scalar(hint: type[Any], value: Any, path: str) -> list[FieldIssue]:
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if ok:
        return []
    expected = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[hint]
    return [(path, f"must be {expected}, not {_type_name(value)}")]


def _check_nested(cls: type[Any], value: dict[str, Any], path: str) -> list[FieldIssue]:
    """A nested entity part in its runtime (camelCase) shape."""
    hints = _hints(cls)
    fields = {camel(f.name): f for f in dataclasses.fields(cls)}
    issues: list[FieldIssue] = []
    for key, f in fields.items():
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if missing and value.get(key) is None:
            issues.append((f"{path}.{key}", "is required"))
    for key, item in value.items():
        found = fields.get(key)
        if found is None:
            issues.append((f"{path}.{key}", f"is not a field of {path.split('[')[0]}"))
        elif item is not None:
            issues += check_value(hints[found.name], item, f"{path}.{key}")
    return issues


def check_record(spec: EntitySpec, record: dict[str, Any]) -> list[FieldIssue]:
    """Shape problems of one export record of an implemented entity."""
    assert spec.model is not None
    hints = _hints(spec.model)
    issues: list[FieldIssue] = []
    for name in required_fields(spec):
        if record.get(name) is None:
            issues.append((name, "is required"))
    known = known_fields(spec)
    for key, value in record.items():
        if key not in known:
            issues.append((key, f"is not a field of {spec.name}"))
            continue
        if value is None:
            continue
        issues += check_value(hints["id" if key == spec.id_field else key], value, key)
    identifier = record.get(spec.id_field)
    if isinstance(identifier, str) and not identifier.strip():
        issues.append((spec.id_field, "must not be blank"))
    return issues
