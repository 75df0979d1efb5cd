"""The engine's route class: JSON bodies are parsed strictly (NaN and Infinity are not
JSON, a lone surrogate escape is not text; either is a malformed request, 400, like any
other invalid JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from dataops.domain.text import UNPAIRED_SURROGATE, has_unpaired_surrogate


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = json.loads(body, parse_constant=_refuse_constant)
            if has_unpaired_surrogate(body, value):
                raise json.JSONDecodeError(UNPAIRED_SURROGATE, "", 0)
            self._json = value
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


def api_router(prefix: str = "", tag: str | None = None) -> APIRouter:
    return APIRouter(prefix=prefix, tags=[tag] if tag else None, route_class=StrictJsonRoute)
