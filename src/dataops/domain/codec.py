"""Convert entities to and from camelCase JSON-ready dicts, driven by their type hints."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    out = []
    for char in name:
        if char.isupper():
            out.append("_")
            out.append(char.lower())
        else:
            out.append(char)
    return "".join(out)


def to_dict(obj: Any) -> Any:
    """Entity (or list of them) → camelCase dict; enums become their values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {camel(f.name): to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, list):
        return [to_dict(item) for item in obj]
    if isinstance(obj, dict):
        return {key: to_dict(value) for key, value in obj.items()}
    return obj


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """camelCase dict (as written by `to_dict`) → entity. Unknown keys are ignored."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = camel(f.name)
        if key in data:
            kwargs[f.name] = _convert(hints[f.name], data[key])
    return cls(**kwargs)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        return [_convert(item_hint, item) for item in value]
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return from_dict(hint, value)
        if issubclass(hint, enum.Enum):
            return hint(value)
    return value


def fields_from_dict(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """The camelCase keys of `data` that are fields of `cls`, converted to its types and
    keyed by snake_case name (a partial update)."""
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = camel(f.name)
        if key in data:
            out[f.name] = _convert(hints[f.name], data[key])
    return out
