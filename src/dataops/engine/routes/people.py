from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, Query
from fastapi.responses import JSONResponse

from dataops.domain.enums import EntityType
from dataops.engine import present
from dataops.engine.deps import (
    Admin,
    IfMatch,
    PageDep,
    Reader,
    WorkspaceDep,
    expected_version,
    read,
)
from dataops.engine.present import Json
from dataops.engine.routing import api_router
from dataops.engine.schemas import MeUpdate, TokenCreate, UserCreate, UserUpdate
from dataops.services import auth
from dataops.services import people as svc

router = api_router(tag="people")


@router.get("/api/health")
async def health(
    ws: WorkspaceDep, x_user_id: Annotated[str | None, Header(max_length=200)] = None
) -> JSONResponse:
    """Up or not; the backends are named only to a caller the portal named."""
    if not x_user_id:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "ok", "store": ws.store.name, "blobStore": ws.blobs.name})


@router.get("/api/me")
async def me(ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return JSONResponse(await read(ws, svc.describe_actor, ws, actor))


@router.patch("/api/me")
def update_me(body: MeUpdate, ws: WorkspaceDep, actor: Reader, if_match: IfMatch) -> JSONResponse:
    """The actor's own e-mail choice (`off`, `immediate`, `daily`) and time zone."""
    expected = expected_version(if_match, body.expected_version)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    shown = svc.update_me(ws, actor, changes, expected)
    return Json(shown, headers={"ETag": f'"{shown["version"]}"'})


@router.get("/api/users")
async def users(ws: WorkspaceDep, actor: Reader, paging: PageDep) -> JSONResponse:
    """Users: an admin sees every field; other roles see `id` and `name` only."""
    found = await read(ws, svc.list_users, ws, paging)
    return Json({"items": svc.shown_users(actor, found.items), "nextCursor": found.next_cursor})


@router.get("/api/notifications")
async def notifications(
    ws: WorkspaceDep,
    actor: Reader,
    paging: PageDep,
    unread: Literal["true", "false"] | None = None,
) -> JSONResponse:
    """The actor's own notifications, newest first (`unread=true`: not read, not
    dismissed)."""
    only_unread = unread == "true"
    found = await read(ws, svc.list_notifications, ws, actor, paging, unread=only_unread)
    return present.page(found)


@router.get("/api/notifications/unread-count")
async def unread_count(ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return JSONResponse({"unread": await read(ws, svc.unread_count, ws, actor)})


@router.post("/api/notifications/{notification_id}/read")
def mark_read(notification_id: str, ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return present.one(svc.read_notification(ws, actor, notification_id))


@router.post("/api/notifications/{notification_id}/dismiss")
def dismiss(notification_id: str, ws: WorkspaceDep, actor: Reader) -> JSONResponse:
    return present.one(svc.dismiss_notification(ws, actor, notification_id))


@router.get("/api/audit-events")
async def audit_events(
    ws: WorkspaceDep,
    _: Reader,
    paging: PageDep,
    entity_type: Annotated[EntityType | None, Query(alias="entityType")] = None,
    entity_id: Annotated[str | None, Query(alias="entityId", max_length=200)] = None,
) -> JSONResponse:
    return present.page(await read(ws, svc.list_audit_events, ws, entity_type, entity_id, paging))


@router.post("/api/users", status_code=201)
def add_user(body: UserCreate, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    user = svc.add_user(ws, actor, body.email, body.name, body.role, body.password)
    return present.one(user, 201)


@router.patch("/api/users/{user_id}")
def update_user(
    user_id: str, body: UserUpdate, ws: WorkspaceDep, actor: Admin, if_match: IfMatch
) -> JSONResponse:
    """Change a user's `role`, `name` or `disabled` (If-Match; audited). A disabled user
    cannot log in and their sessions and tokens are refused (401)."""
    expected = expected_version(if_match, body.expected_version)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    return present.one(svc.update_user(ws, actor, user_id, changes, expected))


@router.post("/api/users/{user_id}/password-reset")
def reset_password(user_id: str, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    """A generated password for the user, in this answer only; their sessions are revoked."""
    user, password = svc.reset_password(ws, actor, user_id)
    return Json({"userId": user.id, "email": user.email, "password": password})


def _token(info: auth.TokenInfo) -> dict[str, str | None]:
    """Token metadata with its user's email; the hash is never returned."""
    token = info.token
    return {
        "id": token.id,
        "userId": token.user_id,
        "userEmail": info.user_email,
        "name": token.name,
        "createdAt": token.created_at,
        "expiresAt": token.expires_at,
        "lastUsedAt": token.last_used_at,
        "revokedAt": token.revoked_at,
    }


@router.get("/api/tokens")
async def tokens(
    ws: WorkspaceDep,
    _: Admin,
    paging: PageDep,
    user_id: Annotated[str | None, Query(alias="userId", max_length=200)] = None,
) -> JSONResponse:
    result = await read(ws, auth.list_token_infos, ws, paging, user_id)
    return JSONResponse(
        {"items": [_token(t) for t in result.items], "nextCursor": result.next_cursor}
    )


@router.post("/api/tokens", status_code=201)
def create_token(body: TokenCreate, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    """A new API token for a user; its `secret` is in this answer only (the hash is
    stored)."""
    token, secret = auth.create_token_for(ws, actor, body.user_id, body.name, body.expires_in)
    (info,) = auth.describe_tokens(ws, [token])
    return JSONResponse({**_token(info), "secret": secret}, status_code=201)


@router.post("/api/tokens/{token_id}/revoke")
def revoke_token(token_id: str, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    (info,) = auth.describe_tokens(ws, [auth.revoke_token(ws, actor, token_id)])
    return JSONResponse(_token(info))
