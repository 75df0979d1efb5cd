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
from collections.abc import Callable
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


Checker = Callable[[Any, str], list[FieldIssue]]
_CHECKERS: dict[Any, Checker] = {}


def _no_issues(value: Any, path: str) -> list[FieldIssue]:
    return []


def checker(hint: Any) -> Checker:
    """The (cached) check of a value against the type `hint`."""
    found = _CHECKERS.get(hint)
    if found is None:
        found = _CHECKERS[hint] = _compile(hint)
    return found


def check_value(hint: Any, value: Any, path: str) -> list[FieldIssue]:
    """Problems of `value` against the type `hint`."""
    return checker(hint)(value, path)


def _compile(hint: Any) -> Checker:
    inner, allows_none = _optional(hint)
    if inner is Any:
        return _no_issues
    base = _compile_base(inner)

    def check(value: Any, path: str) -> list[FieldIssue]:
        if value is None:
            return [] if allows_none else [(path, "must not be null")]
        return base(value, path)

    return check


def _compile_base(hint: Any) -> Checker:
    origin = typing.get_origin(hint)
    if origin is list:
        return _list_checker(checker(typing.get_args(hint)[0]))
    if origin is dict or hint is dict:
        return _shape_checker(dict, "an object")
    if not isinstance(hint, type):
        return _no_issues
    if dataclasses.is_dataclass(hint):
        return _nested_checker(hint)
    if issubclass(hint, enum.Enum):
        return _enum_checker([member.value for member in hint])
    if hint is bool:
        return _shape_checker(bool, "a boolean")
    if hint is int:
        return _int_checker
    if hint is str:
        return _shape_checker(str, "a string")
    return _no_issues


def _shape_checker(kind: type[Any], name: str) -> Checker:
    def check(value: Any, path: str) -> list[FieldIssue]:
        if isinstance(value, kind):
            return []
        return [(path, f"must be {name}, not {_type_name(value)}")]

    return check


def _int_checker(value: Any, path: str) -> list[FieldIssue]:
    if isinstance(value, int) and not isinstance(value, bool):
        return []
    return [(path, f"must be an integer, not {_type_name(value)}")]


def _enum_checker(allowed: list[str]) -> Checker:
    values = frozenset(allowed)
    text = ", ".join(allowed)

    def check(value: Any, path: str) -> list[FieldIssue]:
        if isinstance(value, str) and value in values:
            return []
        return [(path, f"has unknown value {value!r} (allowed: {text})")]

    return check


def _list_checker(item: Checker) -> Checker:
    def check(value: Any, path: str) -> list[FieldIssue]:
        if not isinstance(value, list):
            return [(path, f"must be an array, not {_type_name(value)}")]
        issues: list[FieldIssue] = []
        if item is not _no_issues:
            for index, element in enumerate(value):
                issues += item(element, f"{path}[{index}]")
        return issues

    return check


def _nested_checker(cls: type[Any]) -> Checker:
    """A nested entity part in its runtime (camelCase) shape."""
    hints = _hints(cls)
    fields: dict[str, tuple[Checker, bool]] = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[camel(f.name)] = (checker(hints[f.name]), required)
    required_keys = [key for key, (_, required) in fields.items() if required]

    def check(value: Any, path: str) -> list[FieldIssue]:
        if not isinstance(value, dict):
            return [(path, f"must be an object, not {_type_name(value)}")]
        issues: list[FieldIssue] = [
            (f"{path}.{key}", "is required") for key in required_keys if value.get(key) is None
        ]
        for key, item in value.items():
            found = fields.get(key)
            if found is None:
                issues.append((f"{path}.{key}", f"is not a field of {path.split('[')[0]}"))
            elif item is not None:
                issues += found[0](item, f"{path}.{key}")
        return issues

    return check


_Plan = dict[str, tuple[type[Any] | None, frozenset[str] | None, Checker | None]]
"""Per export field: (a JSON type that needs no closer look, the enum values that type
must hold, the full check or None when anything goes)."""
_RECORD_PLANS: dict[str, _Plan] = {}


def _field_plan(hint: Any) -> tuple[type[Any] | None, frozenset[str] | None, Checker | None]:
    inner, _ = _optional(hint)
    check = checker(hint)
    if check is _no_issues or inner is Any:
        return None, None, None
    if inner in (str, bool, int):
        return inner, None, check
    if inner is dict or typing.get_origin(inner) is dict:
        return dict, None, check
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return str, frozenset(member.value for member in inner), check
    return None, None, check


def _record_plan(spec: EntitySpec) -> _Plan:
    found = _RECORD_PLANS.get(spec.name)
    if found is None:
        assert spec.model is not None
        hints = _hints(spec.model)
        found = _RECORD_PLANS[spec.name] = {
            key: _field_plan(hints["id" if key == spec.id_field else key])
            for key in sorted(known_fields(spec))
        }
    return found


def check_record(spec: EntitySpec, record: dict[str, Any]) -> list[FieldIssue]:
    """Shape problems of one export record of an implemented entity."""
    plan = _record_plan(spec)
    issues: list[FieldIssue] = [
        (name, "is required") for name in required_fields(spec) if record.get(name) is None
    ]
    for key, value in record.items():
        entry = plan.get(key)
        if entry is None:
            issues.append((key, f"is not a field of {spec.name}"))
            continue
        kind, allowed, check = entry
        if value is None or check is None:
            continue
        # The common case, decided without a call: a string, number, flag or object of
        # the right JSON type (and, for an enum, one of its values).
        if type(value) is kind and (allowed is None or value in allowed):
            continue
        issues += check(value, key)
    identifier = record.get(spec.id_field)
    if isinstance(identifier, str) and not identifier.strip():
        issues.append((spec.id_field, "must not be blank"))
    return issues
