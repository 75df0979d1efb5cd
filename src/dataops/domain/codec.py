"""Convert entities to and from camelCase JSON-ready dicts, driven by their type hints.

Each entity class gets plans, compiled once from its type hints: the (attribute, key,
converter) of every field, to write it and to read it. Every store read, API response
and export record (`portable/format.py`, `encode.py`) goes through here, so the
per-record work is a loop over prepared functions; an entity is filled without calling
the dataclass `__init__` when that is all `__init__` would do (`constructor`).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
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


_PLANS: dict[type[Any], tuple[tuple[str, str, Converter], ...]] = {}


def _plan(cls: type[Any]) -> tuple[tuple[str, str, Converter], ...]:
    """(attribute, camelCase key, writer) of every field of `cls`."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = tuple(
            (f.name, camel(f.name), _writer(hints[f.name])) for f in dataclasses.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def to_dict(obj: Any) -> Any:
    """Entity (or list or dict of them) → camelCase dict; enums become their values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {key: write(getattr(obj, name)) for name, key, write in _plan(type(obj))}
    return _plain_out(obj)


# --- reading: one compiled builder per (class, key names, null rule) ----------------------

Builder = Callable[[Mapping[str, Any]], Any]
Plan = dict[str, tuple[str, Converter | None]]
"""Key in the data → (attribute, converter; None: the value is taken as it is)."""
_CONVERTERS: dict[tuple[Any, bool], Converter] = {}
_FIELD_PLANS: dict[tuple[type[Any], tuple[str, str] | None, bool], Plan] = {}
_BUILDERS: dict[tuple[type[Any], tuple[str, str] | None, bool], Builder] = {}


def _same(value: Any) -> Any:
    return value


def _converter(hint: Any, absent_nulls: bool) -> Converter:
    """JSON value → field value for the type `hint`, compiled once per type: enums from
    their values, nested entities from camelCase objects. `absent_nulls`: see `builder`."""
    found = _CONVERTERS.get((hint, absent_nulls))
    if found is None:
        found = _CONVERTERS[(hint, absent_nulls)] = _compile_converter(hint, absent_nulls)
    return found


def _compile_converter(hint: Any, absent_nulls: bool) -> Converter:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        inner = _converter(options[0], absent_nulls) if len(options) == 1 else _same
        return _same if inner is _same else (lambda v: None if v is None else inner(v))
    if origin is list:
        item = _converter(typing.get_args(hint)[0], absent_nulls)
        if item is _same:  # stored and API data: any iterable, copied into a list
            return _same if absent_nulls else (lambda v: None if v is None else list(v))
        return lambda v: None if v is None else [item(x) for x in v]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        build = builder(hint, absent_nulls=absent_nulls)
        return lambda v: None if v is None else build(v)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_converter(hint)
    return _same


def _enum_converter(cls: type[enum.Enum]) -> Converter:
    """`cls(value)`, looked up first in the value → member map, as `cls(value)` does."""
    members = dict(cls._value2member_map_)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return members[value]
        except (KeyError, TypeError):
            return cls(value)

    return convert


def _field_plan(cls: type[Any], rename: tuple[str, str] | None, absent_nulls: bool) -> Plan:
    found = _FIELD_PLANS.get((cls, rename, absent_nulls))
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {}
        for f in dataclasses.fields(cls):
            key = camel(f.name)
            if rename is not None:
                key = rename[1] if f.name == rename[0] else f.name
            convert = _converter(hints[f.name], absent_nulls)
            found[key] = (f.name, None if convert is _same else convert)
        _FIELD_PLANS[(cls, rename, absent_nulls)] = found
    return found


def record_plan(cls: type[Any], rename: tuple[str, str]) -> Plan:
    """The reading plan of `cls` by attribute names (`rename`: the id's key), nulls read
    as absent fields: what `builder(cls, rename, absent_nulls=True)` follows."""
    return _field_plan(cls, rename, True)


def builder(
    cls: type[Any], rename: tuple[str, str] | None = None, *, absent_nulls: bool = False
) -> Builder:
    """The function building `cls` from a dict keyed by camelCase names, or (`rename`:
    an attribute and its key, e.g. `("id", "task_id")`) by attribute names. Unknown keys
    are ignored; a missing key gives the field's default. A null gives None
    (`absent_nulls=False`: stored records and API data, whose lists may be any iterable,
    copied) or reads as an absent field (`absent_nulls=True`: export records, which omit
    nulls; their lists are taken as they are)."""
    found = _BUILDERS.get((cls, rename, absent_nulls))
    if found is None:
        plan = _field_plan(cls, rename, absent_nulls)
        construct = constructor(cls)

        def build(data: Mapping[str, Any]) -> Any:
            kwargs: dict[str, Any] = {}
            if not absent_nulls and type(data) is not dict:  # (a bad stored value)
                return construct(_picked(plan, data))
            for key, value in data.items():
                entry = plan.get(key)
                if entry is None:
                    continue
                name, convert = entry
                if value is None:
                    if not absent_nulls:
                        kwargs[name] = None
                else:
                    kwargs[name] = value if convert is None else convert(value)
            return construct(kwargs)

        found = _BUILDERS[(cls, rename, absent_nulls)] = build
    return found


def _picked(plan: Plan, data: Any) -> dict[str, Any]:
    """The keyword arguments for `data` looked up key by key, as for any container: a
    value that is not an object fails as it always has (TypeError), or gives defaults."""
    kwargs = {}
    for key, (name, convert) in plan.items():
        if key in data:
            value = data[key]
            kwargs[name] = value if convert is None or value is None else convert(value)
    return kwargs


def plain_dataclass(cls: type[Any]) -> bool:
    """Whether `cls` is a dataclass whose `__init__` only stores each field's value or
    default (a fresh one from a default factory): nothing frozen, slotted, post-init or
    with its own `__new__`, every field taken by `__init__`."""
    params = getattr(cls, "__dataclass_params__", None)
    return not (
        params is None
        or params.frozen
        or hasattr(cls, "__slots__")
        or hasattr(cls, "__post_init__")
        or cls.__new__ is not object.__new__  # type: ignore[comparison-overlap]
        or not all(f.init for f in dataclasses.fields(cls))
    )


def constructor(cls: type[Any]) -> Callable[[dict[str, Any]], Any]:
    """`cls(**kwargs)` for valid field names, faster: a plain dataclass's `__init__`
    (`plain_dataclass`) only stores values, so the instance dict can be filled at once.
    Any other class is called."""
    if not plain_dataclass(cls):
        return lambda kwargs: cls(**kwargs)
    fields = dataclasses.fields(cls)
    missing = dataclasses.MISSING
    template = {f.name: None if f.default is missing else f.default for f in fields}
    factories = [(f.name, f.default_factory) for f in fields if f.default_factory is not missing]
    required = frozenset(
        f.name for f in fields if f.default is missing and f.default_factory is missing
    )

    def construct(kwargs: dict[str, Any]) -> Any:
        if not required <= kwargs.keys():
            return cls(**kwargs)  # the TypeError, as the constructor words it
        values = {**template, **kwargs}  # keys in field order, as __init__ sets them
        for name, factory in factories:
            if name not in kwargs:
                values[name] = factory()
        entity = object.__new__(cls)
        entity.__dict__.update(values)
        return entity

    return construct


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """camelCase dict (as written by `to_dict`) → entity. Unknown keys are ignored."""
    built: T = builder(cls)(data)
    return built


def fields_from_dict(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """The camelCase keys of `data` that are fields of `cls`, converted to its types and
    keyed by snake_case name (a partial update)."""
    plan = _field_plan(cls, None, False)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        entry = plan.get(key)
        if entry is not None:
            name, convert = entry
            changes[name] = value if convert is None or value is None else convert(value)
    return changes
