"""Idempotency keys: a retry with the same key and body gets the first result; the same
key with another body is a conflict. The key is claimed in the same transaction that
creates the result, so racing retries cannot both create (the loser's unit of work sees
the record, or fails its insert and retries the lookup)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta
from typing import Any

from dataops.domain.accounts import Actor, IdempotencyRecord
from dataops.domain.clock import format_ts, now, now_ts, parse_ts
from dataops.domain.codec import to_dict
from dataops.domain.errors import Conflict, ValidationFailed
from dataops.services.common import EXPIRED_PER_WRITE
from dataops.store.port import UnitOfWork

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 200


def record_id(actor: Actor, operation: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.one(
            "Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} printable characters"
        )
    raw = json.dumps([actor.id, operation, key]).encode()
    return "idem_" + hashlib.sha256(raw).hexdigest()


def request_hash(data: dict[str, Any]) -> str:
    canonical = json.dumps(to_dict(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replayed(uow: UnitOfWork, rid: str, body_hash: str) -> dict[str, Any] | None:
    """The first result for this key, None when the key is new (or expired), or
    Conflict when the key was used with another body."""
    existing = uow.idempotency.get(rid)
    if existing is None or parse_ts(existing.expires_at) <= now():
        return None
    if existing.request_hash != body_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body")
    return existing.result


def remember(uow: UnitOfWork, rid: str, body_hash: str, result_id: str, result: Any) -> None:
    """Claim the key for the result inside the caller's unit of work."""
    record = IdempotencyRecord(
        id=rid,
        request_hash=body_hash,
        result_id=result_id,
        result=to_dict(result),
        created_at=now_ts(),
        expires_at=format_ts(now() + KEY_LIFETIME),
    )
    uow.purge_expired("idempotency", now_ts(), EXPIRED_PER_WRITE)
    existing = uow.idempotency.get(rid)
    if existing is None:
        uow.idempotency.add(record)
    else:  # an expired claim is replaced
        replacement = copy.deepcopy(record)
        replacement.version = existing.version + 1
        uow.idempotency.update(replacement, existing.version)
