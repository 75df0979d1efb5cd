"""Response shaping: entities rendered camelCase, collections as items + nextCursor."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from dataops.domain.codec import to_dict
from dataops.store.port import Page


def one(record: Any, status: int = 200) -> JSONResponse:
    body = to_dict(record)
    headers = (
        {"ETag": f'"{body["version"]}"'} if isinstance(body, dict) and "version" in body else None
    )
    return JSONResponse(body, status_code=status, headers=headers)


def page(result: Page[Any]) -> JSONResponse:
    return JSONResponse({"items": to_dict(result.items), "nextCursor": result.next_cursor})
