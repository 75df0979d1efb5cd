"""Webhook endpoints (CONTRACT §8), admin only. The signing secret is in the answer of
create and rotate-secret alone."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from dataops.domain.messages import OutboxMessage, Webhook
from dataops.engine.deps import Admin, IfMatch, PageDep, WorkspaceDep, expected_version
from dataops.engine.present import Json
from dataops.engine.routing import api_router
from dataops.engine.schemas import Versioned, WebhookCreate, WebhookUpdate
from dataops.services import webhooks as svc

router = api_router(prefix="/api/webhooks", tag="webhooks")


def _endpoint(record: Webhook, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "url": record.url,
        "events": record.events,
        "enabled": record.enabled,
        "description": record.description,
        "secretRotatedUntil": record.previous_secret_until,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "createdBy": record.created_by,
        "version": record.version,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def _delivery(record: OutboxMessage) -> dict[str, Any]:
    return {
        "id": record.id,
        "webhookId": record.target_id,
        "eventType": record.event_type,
        "status": record.status,
        "attempts": record.attempts,
        "createdAt": record.created_at,
        "nextAttemptAt": record.next_attempt_at if record.status == "pending" else None,
        "lastAttemptAt": record.last_attempt_at,
        "lastStatusCode": record.last_status_code,
        "lastError": record.last_error,
        "lastResponse": record.last_response,
        "deliveredAt": record.delivered_at,
        "giveUpAt": record.give_up_at,
    }


def _shown(record: Webhook, status: int = 200, secret: str | None = None) -> JSONResponse:
    headers = {"ETag": f'"{record.version}"'}
    return Json(_endpoint(record, secret), status_code=status, headers=headers)


@router.post("")
def create(body: WebhookCreate, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    made = svc.create_webhook(ws, actor, body.model_dump(exclude_unset=True))
    return _shown(made.webhook, 201, made.secret)


@router.get("")
def listed(ws: WorkspaceDep, actor: Admin, page: PageDep) -> JSONResponse:
    found = svc.list_webhooks(ws, actor, page)
    return Json({"items": [_endpoint(w) for w in found.items], "nextCursor": found.next_cursor})


@router.get("/{webhook_id}")
def get(webhook_id: str, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    return _shown(svc.get_webhook(ws, actor, webhook_id))


@router.patch("/{webhook_id}")
def update(
    webhook_id: str, body: WebhookUpdate, ws: WorkspaceDep, actor: Admin, if_match: IfMatch
) -> JSONResponse:
    expected = expected_version(if_match, body.expected_version)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    return _shown(svc.update_webhook(ws, actor, webhook_id, changes, expected))


@router.delete("/{webhook_id}", status_code=204)
def delete(webhook_id: str, ws: WorkspaceDep, actor: Admin, if_match: IfMatch) -> None:
    svc.delete_webhook(ws, actor, webhook_id, if_match)


@router.post("/{webhook_id}/rotate-secret")
def rotate(
    webhook_id: str,
    ws: WorkspaceDep,
    actor: Admin,
    if_match: IfMatch,
    body: Versioned | None = None,
) -> JSONResponse:
    expected = expected_version(if_match, body.expected_version if body else None)
    made = svc.rotate_secret(ws, actor, webhook_id, expected)
    return _shown(made.webhook, 200, made.secret)


@router.post("/{webhook_id}/test", status_code=202)
def test(webhook_id: str, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    return Json(_delivery(svc.send_test(ws, actor, webhook_id)), status_code=202)


@router.get("/{webhook_id}/deliveries")
def deliveries(webhook_id: str, ws: WorkspaceDep, actor: Admin, page: PageDep) -> JSONResponse:
    found = svc.list_deliveries(ws, actor, webhook_id, page)
    return Json({"items": [_delivery(m) for m in found.items], "nextCursor": found.next_cursor})


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
def redeliver(webhook_id: str, delivery_id: str, ws: WorkspaceDep, actor: Admin) -> JSONResponse:
    return Json(_delivery(svc.redeliver(ws, actor, webhook_id, delivery_id)), status_code=202)
