"""Webhook rules (CONTRACT §8): the events, the secrets, which URLs and addresses a
delivery may go to, the payloads (CONTRACT §8 and issue 18: IDs, titles, statuses and
portal links; never the storage URI of a `private`/`sensitive` artifact, never metadata)
and the retry schedule. Pure: the HTTP sender and the store live elsewhere."""

from __future__ import annotations

import base64
import ipaddress
import random
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from dataops.domain.enums import DataClass
from dataops.domain.messages import Notification
from dataops.domain.models import Artifact, Bundle, Task

EVENTS = (
    "artifact.created",
    "artifact.status-changed",
    "task.completed",
    "task.proof-withdrawn",
    "bundle.created",
    "notification.created",
)
TEST_EVENT = "webhook.test"
"""Sent by `POST /api/webhooks/{id}/test` to that endpoint only (no subscription needed)."""

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation the old secret also signs for this long (Standard Webhooks)."""
GIVE_UP_AFTER = timedelta(hours=24)
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 3600.0
LEASE = timedelta(seconds=60)
"""How long a claim holds a message: well above one attempt (5 s connect + 5 s read)."""
RESPONSE_KEPT_BYTES = 1024
URL_MAX = 2048
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def url_problem(url: str, *, public_only: bool) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None. Outside local/test
    (`public_only`) it must be https and must not name a non-public IP address (a host
    name is resolved and checked at every delivery: `address_problem`)."""
    if len(url) > URL_MAX:
        return f"must be at most {URL_MAX} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if port == 0:
        return "has an invalid port"
    if not public_only:
        return None
    if parts.scheme != "https":
        return "must be https:// outside local/test"
    host = parts.hostname
    if host.rstrip(".").lower() in ("localhost", "localhost.localdomain") or host.endswith(
        ".localhost"
    ):
        return "must name a public host outside local/test"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked when it is resolved, at every delivery
    return address_problem(address)


def address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> str | None:
    """Why a delivery must not go to `address` outside local/test, or None: private,
    loopback, link-local, multicast, reserved, unspecified and cloud metadata addresses
    (also as IPv4-mapped IPv6) are refused."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: exponential (10 s doubling, at
    most an hour) with full jitter between half and the whole of it."""
    base = min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)
    return timedelta(seconds=base * (rng or random).uniform(0.5, 1.0))


def signing_secrets(secret: str, previous: str | None, until: str | None, at: str) -> list[str]:
    """The secrets that sign a delivery sent at timestamp `at`: the current one, and the
    previous one while the rotation overlap lasts."""
    return [secret, previous] if previous and until and at < until else [secret]


# --- payloads -------------------------------------------------------------------------------


def _link(kind: str, record_id: str | None) -> str | None:
    return f"/work/{kind}/{record_id}" if record_id else None


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def artifact_data(artifact: Artifact, previous_status: str | None = None) -> dict[str, Any]:
    """An artifact as events show it: no metadata, and no storage URI unless its data
    class is `public` or `internal`."""
    shown_uri = artifact.data_class not in (DataClass.PRIVATE, DataClass.SENSITIVE)
    return _compact(
        {
            "id": artifact.id,
            "title": artifact.title,
            "type": artifact.type.value,
            "status": artifact.status.value,
            "previousStatus": previous_status,
            "dataClass": artifact.data_class.value,
            "storageUri": artifact.storage_uri if shown_uri else None,
            "taskId": artifact.task_id,
            "bundleId": artifact.bundle_id,
            "createdBy": artifact.created_by,
            "reviewedBy": artifact.reviewed_by,
            "reviewReason": artifact.review_reason,
            "updatedAt": artifact.updated_at,
            "portalUrl": _link("artifacts", artifact.id),
        }
    )


def task_data(task: Task) -> dict[str, Any]:
    return _compact(
        {
            "id": task.id,
            "description": task.description,
            "status": task.status.value,
            "date": task.date,
            "bundleId": task.bundle_id,
            "assigneeId": task.assignee_id,
            "completedBy": task.completed_by,
            "completedAt": task.completed_at,
            "proofWithdrawn": task.proof_withdrawn or None,
            "proofWithdrawnReasons": task.proof_withdrawn_reasons or None,
            "portalUrl": _link("tasks", task.id),
        }
    )


def bundle_data(bundle: Bundle) -> dict[str, Any]:
    return _compact(
        {
            "id": bundle.id,
            "title": bundle.title,
            "status": bundle.status.value if bundle.status else None,
            "stage": bundle.stage,
            "templateId": bundle.template_id,
            "recurringConfigId": bundle.recurring_config_id,
            "occurrenceDate": bundle.occurrence_date,
            "portalUrl": _link("bundles", bundle.id),
        }
    )


def notification_data(note: Notification) -> dict[str, Any]:
    return _compact(
        {
            "id": note.id,
            "type": note.type.value,
            "message": note.message,
            "userId": note.user_id,
            "taskId": note.task_id,
            "bundleId": note.bundle_id,
            "artifactId": note.artifact_id,
            "dueAt": note.due_at,
            "createdAt": note.created_at,
            "portalUrl": "/work/notifications",
        }
    )
