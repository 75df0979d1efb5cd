"""The public API description (CONTRACT §9): the engine's routes as a client sees them
through the portal.

FastAPI describes the engine as the engine sees itself: paths under `/api`, the
`x-user-*` headers the portal adds as parameters of every operation, and its own
validation-error body. Clients reach the API at `/work/api/*`, never send those headers,
and get RFC 9457 problems. So the description is rewritten once, when first asked for:

- `servers: [{"url": "/work/api"}]` and every path without its `/api` prefix (each path
  resolves under the server URL);
- no `x-user-*` / `x-portal-*` header parameter;
- the problem+json responses an operation can give (`Problem`: type, title, status,
  detail, and `errors` for 422) on every operation, instead of FastAPI's own 422 body;
- the bearer token and the session cookie as security schemes.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

SERVER_URL = "/work/api"
_INTERNAL_HEADERS = ("x-user-", "x-portal-")
_UNSAFE = frozenset({"post", "put", "patch", "delete"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details (application/problem+json).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "urn:dataops:problem:not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Validation failures (422): one per field.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_REASONS = {
    "400": "Malformed request (bad JSON, wrong content type, bad If-Match)",
    "401": "No valid session cookie or bearer token",
    "403": "The caller's role may not do this (or a cross-site write with a cookie)",
    "404": "An ID in the path, or a relationship ID in the body, does not exist",
    "409": "Conflict: stale version (If-Match), illegal transition, blocked completion",
    "413": "The body is too large",
    "422": "Invalid field values (`errors` names each field)",
    "503": "Storage disabled or unavailable",
}


def public_openapi(app: FastAPI) -> dict[str, Any]:
    """The description clients get at `/work/api/openapi.json` (built once per app)."""
    if app.openapi_schema is None:
        raw = get_openapi(title=app.title, version=app.version, routes=app.routes)
        app.openapi_schema = rewrite(raw)
    return app.openapi_schema


_PROBLEM_REF = "#/components/schemas/Problem"
_PROBLEM_RESPONSES = {
    status: {
        "description": reason,
        "content": {"application/problem+json": {"schema": {"$ref": _PROBLEM_REF}}},
    }
    for status, reason in _REASONS.items()
}
_SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`dop_...`), made by an admin.",
    },
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "dataops_session",
        "description": "The portal session cookie set by POST /auth/login.",
    },
}


def rewrite(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` (FastAPI's description of the engine) as the portal's clients see it."""
    document = copy.deepcopy(raw)
    document["info"]["description"] = (
        "The DataOps work API, reached through the portal at /work/api with a session "
        "cookie (log in at POST /auth/login) or `Authorization: Bearer <API token>`. "
        "Errors are RFC 9457 problem details."
    )
    document["servers"] = [{"url": SERVER_URL}]
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        public = path.removeprefix("/api") if path.startswith("/api/") else path
        for method, operation in item.items():
            _rewrite_operation(method, operation, has_path_params="{" in public)
        paths[public] = item
    document["paths"] = paths
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["responses"] = copy.deepcopy(_PROBLEM_RESPONSES)
    components["securitySchemes"] = copy.deepcopy(_SECURITY_SCHEMES)
    document["security"] = [{"bearer": []}, {"cookie": []}]
    return document


def _rewrite_operation(method: str, operation: dict[str, Any], *, has_path_params: bool) -> None:
    parameters = [
        p
        for p in operation.get("parameters", [])
        if not (p.get("in") == "header" and p["name"].lower().startswith(_INTERNAL_HEADERS))
    ]
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    responses = operation.setdefault("responses", {})
    wanted = ["400", "401", "403", "422", "503"]
    if has_path_params:
        wanted.append("404")
    if method in _UNSAFE:
        wanted += ["404", "409", "413"]
    for status in sorted(set(wanted)):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
