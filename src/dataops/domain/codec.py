"""Convert entities to and from camelCase JSON-ready dicts, driven by their type hints.

Each entity class gets a plan, compiled once from its type hints: the (attribute, key,
converter) triples to read and write it. Every store read and API response goes through
here, so the per-record work is a loop over prepared functions.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Converter = Callable[[Any], Any]


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


def _identity(value: Any) -> Any:
    return value


def _plain_out(value: Any) -> Any:
    """Values of untyped fields (metadata, validation, dict refs): enums and entities may
    still sit inside them. A value nested deeper than Python recurses (one a store kept
    from before the depth rule) is converted without recursion."""
    try:
        return _plain(value)
    except RecursionError:
        return _plain_deep(value)


def _plain_deep(value: Any) -> Any:
    """`_plain` without recursion: containers are copied from an explicit stack."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (value, parent, key in it)
    while stack:
        node, parent, key = stack.pop()
        if isinstance(node, list):
            copy: Any = [None] * len(node)
            stack.extend((item, copy, index) for index, item in enumerate(node))
        elif isinstance(node, dict):
            copy = dict.fromkeys(node)
            stack.extend((item, copy, k) for k, item in node.items())
        else:
            copy = _plain(node)  # a scalar, an enum or an entity
        parent[key] = copy
    return root[0]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    return value


def _reader(hint: Any) -> Converter:
    """A function turning the JSON value of a field of type `hint` into its Python value."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            return _identity
        inner = _reader(options[0])
        return inner if inner is _identity else (lambda v: None if v is None else inner(v))
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        item = _reader(item_hint)
        if item is _identity:
            return lambda v: None if v is None else list(v)
        return lambda v: None if v is None else [item(x) for x in v]
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            cls = hint
            return lambda v: None if v is None else from_dict(cls, v)
        if issubclass(hint, enum.Enum):
            enum_cls = hint
            return lambda v: None if v is None else enum_cls(v)
    return _identity


def _writer(hint: Any) -> Converter:
    """A function turning a field's Python value of type `hint` into JSON-ready data."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            return _plain_out
        inner = _writer(options[0])
        return lambda v: None if v is None else inner(v)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        item = _writer(item_hint)
        return lambda v: None if v is None else [item(x) for x in v]
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return lambda v: None if v is None else to_dict(v)
        if issubclass(hint, enum.Enum):
            return lambda v: v.value if isinstance(v, enum.Enum) else v
        if hint in (str, int, bool, float):
            return _identity
    return _plain_out


_PLANS: dict[type[Any], tuple[tuple[str, str, Converter, Converter], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, str, Converter, Converter], ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple(
            (f.name, camel(f.name), _reader(hints[f.name]), _writer(hints[f.name]))
            for f in dataclasses.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def to_dict(obj: Any) -> Any:
    """Entity (or list or dict of them) → camelCase dict; enums become their values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {key: write(getattr(obj, name)) for name, key, _, write in _plan(type(obj))}
    return _plain_out(obj)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """camelCase dict (as written by `to_dict`) → entity. Unknown keys are ignored."""
    kwargs = {name: read(data[key]) for name, key, read, _ in _plan(cls) if key in data}
    return cls(**kwargs)


def fields_from_dict(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """The camelCase keys of `data` that are fields of `cls`, converted to its types and
    keyed by snake_case name (a partial update)."""
    return {name: read(data[key]) for name, key, read, _ in _plan(cls) if key in data}
