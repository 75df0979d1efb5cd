"""Binary responses: always a download, never rendered by the browser on our origin."""

from __future__ import annotations

import re

from fastapi.responses import RedirectResponse, StreamingResponse

from dataops.services.files import Content

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def stream(content: Content) -> StreamingResponse:
    if content.redirect is not None:
        return RedirectResponse(content.redirect, status_code=307)  # type: ignore[return-value]
    safe_name = _UNSAFE.sub("_", content.filename)[:200] or "download"
    headers = {
        "Content-Disposition": f'attachment; filename="{safe_name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    assert content.chunks is not None
    return StreamingResponse(content.chunks, media_type=content.content_type, headers=headers)
