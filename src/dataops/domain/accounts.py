"""Account records of CONTRACT §5b as plain dataclasses: users, their credentials,
sessions and API tokens, login throttles, idempotency records, the workspace settings,
and the `Actor` a request runs as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataops.domain.enums import EmailNotifications, ReviewPolicy, Role


@dataclass
class User:
    id: str
    email: str
    name: str
    role: Role
    created_at: str
    email_notifications: EmailNotifications = EmailNotifications.OFF
    timezone: str = "UTC"
    """IANA time zone: when the user's daily e-mail digest is due (08:00 there)."""
    disabled: bool = False
    """A disabled user cannot log in; their sessions and API tokens are refused (401)."""
    version: int = 1

    @property
    def digest_key(self) -> str | None:
        """The sparse index value of a user who chose the daily digest ("daily"), else
        None: the scheduler's digest pass reads only those users."""
        return "daily" if self.email_notifications == EmailNotifications.DAILY else None


@dataclass
class Credential:
    """A user's password hash, kept apart from the user record so it can never leak with it."""

    user_id: str
    password_hash: str
    updated_at: str


@dataclass
class Session:
    """A portal login; `id` is the SHA-256 of the cookie value, never the value itself."""

    id: str
    user_id: str
    created_at: str
    expires_at: str
    revoked: bool = False
    version: int = 1


@dataclass
class WorkspaceSettings:
    """Workspace-wide settings, one record (`id` is always "workspace")."""

    id: str
    updated_at: str
    review_policy: ReviewPolicy = ReviewPolicy.SELF_ALLOWED
    expiry_swept_through: str | None = None
    """The last date whose expiring proofs were marked withdrawn (the expiry sweep)."""
    blocked_indexed: bool = False
    """Every todo task's `proof_blocked` has been judged once (the pass that fills the
    Blocked lane's index for the tasks stored before it existed: `proofs.index_blocked`)."""
    updated_by: str | None = None
    version: int = 1


@dataclass
class ApiToken:
    """A bearer token for scripts and assistants; `token_hash` is the SHA-256 of the secret,
    which is shown once at creation and never stored."""

    id: str
    user_id: str
    name: str
    token_hash: str
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None
    expires_at: str | None = None
    """None: the token never expires (`--expires-in 0`, and every token made before
    tokens expired)."""
    version: int = 1


@dataclass
class LoginThrottle:
    """Recent login attempts of one account or one client address (`services/ratelimit.py`):
    counted before the password is checked, taken back when it was right.
    `id` is `thr_` + the SHA-256 of the kind and the key, so no email or address is kept."""

    id: str
    failures: list[str]
    """Timestamps of the latest attempts still in the window, oldest first."""
    expires_at: str
    """When the newest attempt leaves the window; from then the record says nothing."""
    version: int = 1


@dataclass
class IdempotencyRecord:
    """The first result of a request sent with an Idempotency-Key. `id` is a hash of the
    caller, the operation and the key; `request_hash` identifies the body."""

    id: str
    request_hash: str
    result_id: str
    result: dict[str, Any]
    created_at: str
    expires_at: str
    version: int = 1


@dataclass(frozen=True)
class Actor:
    """The authenticated caller as the engine sees it."""

    id: str
    email: str
    role: Role
    name: str | None = None


SYSTEM_ACTOR_ID = "system"
"""Actor id of the CLI and start-up (`dataops users add`, bootstrap, scheduled work): no
user record has it, and relationships that name an actor may name it."""
