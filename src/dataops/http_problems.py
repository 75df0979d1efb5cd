"""RFC 9457 problem responses, for the engine and the portal alike: one table maps the
exception tree to HTTP statuses."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dataops.domain import errors as e
from dataops.domain.wording import field_detail

PROBLEM_JSON = "application/problem+json"

STATUS: list[tuple[type[e.DataOpsError], int, str]] = [
    (e.BadRequest, 400, "malformed-request"),
    (e.Unauthorized, 401, "unauthorized"),
    (e.Forbidden, 403, "forbidden"),
    (e.NotFound, 404, "not-found"),
    (e.ProofMissing, 409, "proof-missing"),
    (e.VersionConflict, 409, "version-mismatch"),
    (e.IllegalTransition, 409, "illegal-transition"),
    (e.Conflict, 409, "conflict"),
    (e.PayloadTooLarge, 413, "payload-too-large"),
    (e.ValidationFailed, 422, "validation"),
    (e.StorageUnavailable, 503, "storage-unavailable"),
    (e.ConfigurationError, 503, "configuration"),
]
_HTTP_TITLES = {
    401: "Authentication required",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
}


class RaisedProblem(StarletteHTTPException):
    """A DataOps error raised where FastAPI lets only HTTP exceptions through unchanged
    (while it reads the body); answered as `problem_for(error)`."""

    def __init__(self, error: e.DataOpsError) -> None:
        super().__init__(status_code=400, detail=error.detail)
        self.error = error


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"urn:dataops:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_for(exc: e.DataOpsError) -> JSONResponse:
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            extra: dict[str, Any] = {}
            if isinstance(exc, e.ValidationFailed):
                extra["errors"] = [{"field": f.field, "message": f.message} for f in exc.errors]
            if isinstance(exc, e.ProofMissing):
                extra["missing"] = exc.missing
            return problem(status, slug, exc.title, exc.detail, **extra)
    return problem(500, "internal", "Internal error", "unexpected error")


def internal_error() -> JSONResponse:
    """The 500 problem for an unexpected error: it names nothing of the error."""
    return problem(
        500, "internal", "Internal error", "an unexpected error occurred; it has been logged"
    )


_BODY_SHAPE = frozenset({"missing", "model_attributes_type", "dict_type", "model_type"})


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc[1:] if not (isinstance(p, str) and p.startswith("function-"))]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or str(loc[0])


_SHOULD = re.compile(r"^(?:Input|String|List|Dictionary|Tuple|Set|Object|Value) (should .*)$", re.S)


def _message(issue: dict[str, Any]) -> str:
    """Pydantic's message as a predicate of the field ("is required", "should be ..."), so
    the detail reads "Due date should be a valid date", not "dueDate: Input should be ..."."""
    kind = issue.get("type")
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    message = str(issue.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    should = _SHOULD.match(message)
    return should.group(1) if should else message


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    issues = exc.errors()
    for issue in issues:
        loc = tuple(issue.get("loc", ()))
        if issue.get("type") == "json_invalid":
            reason = (issue.get("ctx") or {}).get("error")
            detail = (
                f"the body is not valid JSON: {reason}" if reason else "the body is not valid JSON"
            )
            return problem(400, "malformed-request", "Malformed request", detail)
        if loc == ("body",) and issue.get("type") in _BODY_SHAPE:
            content_type = request.headers.get("content-type", "")
            if issue.get("type") == "missing":
                detail = "a request body is required"
            elif "json" not in content_type:
                detail = "Content-Type must be application/json"
            else:
                detail = "the body must be a JSON object"
            return problem(400, "malformed-request", "Malformed request", detail)
    fields = []
    for issue in issues:
        message = _message(issue)
        fields.append({"field": _field(tuple(issue.get("loc", ("body",)))), "message": message})
    detail = field_detail((f["field"], f["message"]) for f in fields)
    return problem(422, "validation", "Invalid field values", detail, errors=fields)


def install(app: FastAPI, log: logging.Logger) -> None:
    """Answer every error of `app` as a problem; `log` records the unexpected ones."""

    async def on_dataops(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, e.DataOpsError)
        return problem_for(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation(request, exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, RaisedProblem):
            return problem_for(exc.error)
        title = _HTTP_TITLES.get(exc.status_code, "Request failed")
        slug = title.lower().replace(" ", "-")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        response = problem(exc.status_code, slug, title, detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return internal_error()

    app.add_exception_handler(e.DataOpsError, on_dataops)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
