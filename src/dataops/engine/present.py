"""Response shaping: entities rendered camelCase, collections as items + nextCursor."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.store.port import Page


class Json(JSONResponse):
    """JSONResponse rendered by orjson: the same bytes as Starlette's compact UTF-8 JSON,
    about ten times faster. What orjson refuses (an integer beyond 64 bits, which a
    free-form field may hold) falls back to the standard encoder."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError
            return super().render(content)


def one(record: Any, status: int = 200) -> JSONResponse:
    body = to_dict(record)
    headers = (
        {"ETag": f'"{body["version"]}"'} if isinstance(body, dict) and "version" in body else None
    )
    return Json(body, status_code=status, headers=headers)


def collection(result: Page[Any]) -> dict[str, Any]:
    """A page as the body of a collection: items and nextCursor."""
    return {"items": to_dict(result.items), "nextCursor": result.next_cursor}


def page(result: Page[Any]) -> JSONResponse:
    return Json(collection(result))
