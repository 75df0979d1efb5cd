"""The engine's route class: JSON bodies are parsed strictly (UTF-8 only, no byte-order
mark, no NaN or Infinity, no number a float cannot hold, no duplicate keys, no lone
surrogate escape; each is a malformed request, 400, like any other invalid JSON), and a
body nested deeper than any field may nest is refused (422) before it is validated."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from dataops import http_problems as problems
from dataops.domain.errors import FieldError, ValidationFailed
from dataops.domain.policy import MAX_DEPTH, nesting_depth
from dataops.domain.text import UNPAIRED_SURROGATE, has_unpaired_surrogate

MAX_BODY_DEPTH = 2 * MAX_DEPTH
"""How deeply a JSON body may nest: a free-form value at its limit, in any field."""


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # `1e400` would be read as infinity (and stored as null)
        raise json.JSONDecodeError(f"the number {text[:40]} is beyond a 64-bit float", text, 0)
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise json.JSONDecodeError("an integer has too many digits", text[:40], 0) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise json.JSONDecodeError(f"the key {key[:100]!r} appears twice", key, 0)
            seen.add(key)
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_constant=_refuse_constant,
    parse_float=_finite,
    parse_int=_integer,
)


def parse_json_body(body: bytes) -> Any:
    """A request body as strict JSON: UTF-8 without a byte-order mark (RFC 8259 §8.1),
    no NaN/Infinity, no number beyond a 64-bit float, no key twice in one object, no lone
    surrogate escape, nesting as deep as the parser goes. Anything else raises
    `json.JSONDecodeError` with the reason (a malformed request, 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(
            f"the body is not UTF-8 (byte {exc.start})", "", exc.start
        ) from None
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("the body starts with a byte-order mark", "", 0)
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise json.JSONDecodeError("the body is nested too deeply", "", 0) from None
    if has_unpaired_surrogate(body, value):
        raise json.JSONDecodeError(UNPAIRED_SURROGATE, "", 0)
    _refuse_deep(value)
    return value


def _refuse_deep(value: Any) -> None:
    """422 for a body nested deeper than `MAX_BODY_DEPTH` levels, naming the top-level
    field: no field may nest free-form values deeper than `MAX_DEPTH`, and none of the
    rest of a body is more than a few levels deep, so such a body is refused before the
    schemas (whose serializer stops at about 255 levels) see it."""
    if nesting_depth(value, MAX_BODY_DEPTH) <= MAX_BODY_DEPTH:
        return
    fields = [
        FieldError(str(key), f"must be nested at most {MAX_DEPTH} levels deep")
        for key, item in (value.items() if isinstance(value, dict) else [("body", value)])
        if nesting_depth(item, MAX_BODY_DEPTH - 1) > MAX_BODY_DEPTH - 1
    ]
    raise problems.RaisedProblem(ValidationFailed(fields))


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


def api_router(prefix: str = "", tag: str | None = None) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag] if tag else None, route_class=StrictJsonRoute)
