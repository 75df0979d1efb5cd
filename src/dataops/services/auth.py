"""Sessions and API tokens. Only SHA-256 hashes of session and token secrets are stored;
the secrets themselves are handed out once."""

from __future__ import annotations

import copy
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from dataops.domain.accounts import Actor, ApiToken, Session, User
from dataops.domain.clock import format_ts, new_id, now, now_ts, parse_ts
from dataops.domain.enums import EntityType
from dataops.domain.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from dataops.domain.permissions import Permission, require_permission
from dataops.services import passwords
from dataops.services.common import EXPIRED_PER_WRITE, audit, require
from dataops.services.context import Workspace
from dataops.services.people import find_user_by_email, normal_email, store_password
from dataops.store.port import Filters, Page, PageRequest

SESSION_LIFETIME = timedelta(hours=12)
TOKEN_PREFIX = "dop_"  # noqa: S105 (a public prefix, not a secret)
TOKEN_DAYS = 90
"""How long a new API token lives unless told otherwise (CONTRACT §7)."""
MAX_TOKEN_DAYS = 3650
_TOUCH_EVERY = timedelta(minutes=10)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    user: User
    expires_at: str


def login(ws: Workspace, email: str, password: str) -> NewSession:
    """Check the password and open a server-side session.

    The hash is checked outside any transaction (argon2 takes tens of milliseconds of CPU,
    and a write transaction held meanwhile would stop every other write): the user and
    credential are read, the password checked, and only then a short write transaction
    adds the session, if the credential is still the one checked."""
    failure = Unauthorized("email or password is not correct")
    try:
        normal = normal_email(email)
    except ValidationFailed:
        raise failure from None
    with ws.store.unit_of_work() as uow:
        user = find_user_by_email(uow, normal)
        credential = uow.credentials.get(user.id) if user else None
    if user is None or credential is None:
        passwords.waste_time(password)
        raise failure
    if not passwords.verify(credential.password_hash, password):
        raise failure
    if user.disabled:
        raise _disabled()
    token = secrets.token_urlsafe(32)
    expires = format_ts(now() + SESSION_LIFETIME)
    with ws.store.unit_of_work(write=True) as uow:
        current = uow.credentials.get(user.id)
        if current is None or current.password_hash != credential.password_hash:
            raise failure  # the password changed while this one was checked
        latest = uow.users.get(user.id)
        if latest is None or latest.disabled:
            raise _disabled()  # disabled while the password was checked
        uow.sessions.add(
            Session(id=secret_hash(token), user_id=user.id, created_at=now_ts(), expires_at=expires)
        )
        uow.purge_expired("sessions", now_ts(), EXPIRED_PER_WRITE)
        uow.commit()
    return NewSession(token, user, expires)


def _disabled() -> Unauthorized:
    return Unauthorized("this account is disabled; ask an admin to enable it")


def _enabled(user: User) -> User:
    """The user, or Unauthorized when an admin disabled them (CONTRACT §9)."""
    if user.disabled:
        raise _disabled()
    return user


def session_user(ws: Workspace, token: str) -> User:
    """The user of a live session, or Unauthorized (also when the user is disabled)."""
    return session_and_user(ws, token)[0]


def session_and_user(ws: Workspace, token: str) -> tuple[User, Session]:
    """The user of a live session and the session, or Unauthorized. Reads only."""
    with ws.store.unit_of_work() as uow:
        session = uow.sessions.get(secret_hash(token))
        if session is None or session.revoked or parse_ts(session.expires_at) <= now():
            raise Unauthorized("the session has expired or was revoked; log in again")
        return _enabled(require(uow.users, session.user_id, "user")), session


def change_own_password(
    ws: Workspace, user: User, current_password: str, new_password: str, keep_session: str | None
) -> None:
    """Any logged-in user changes their own password, proving the current one. Every
    other session of theirs is revoked (`keep_session`, the session ID they changed it
    from, stays). As at login, both hashes run outside any transaction; the short write
    transaction then checks the credential is still the one verified."""
    if len(new_password) < passwords.MIN_LENGTH:
        raise ValidationFailed.one(
            "newPassword", f"must be at least {passwords.MIN_LENGTH} characters"
        )
    with ws.store.unit_of_work() as uow:
        credential = uow.credentials.get(user.id)
    if credential is None or not passwords.verify(credential.password_hash, current_password):
        raise ValidationFailed.one("currentPassword", "is not your current password")
    if current_password == new_password:
        raise ValidationFailed.one("newPassword", "must differ from the current password")
    password_hash = passwords.hash_password(new_password)
    actor = Actor(id=user.id, email=user.email, role=user.role, name=user.name)
    with ws.store.unit_of_work(write=True) as uow:
        latest = uow.credentials.get(user.id)
        if latest is None or latest.password_hash != credential.password_hash:
            raise Conflict("the password was changed meanwhile; log in again")
        store_password(uow, actor, user.id, password_hash, keep_session=keep_session)
        uow.commit()


def logout(ws: Workspace, token: str) -> None:
    with ws.store.unit_of_work(write=True) as uow:
        session = uow.sessions.get(secret_hash(token))
        if session is not None and not session.revoked:
            updated = copy.deepcopy(session)
            updated.revoked = True
            updated.version = session.version + 1
            uow.sessions.update(updated, session.version)
            uow.commit()


def create_token(
    ws: Workspace, actor: Actor, email: str, name: str, expires_in_days: int = TOKEN_DAYS
) -> tuple[ApiToken, str]:
    """A new bearer token for the user with `email` (`create_token_for`)."""
    try:
        normal = normal_email(email)
    except ValidationFailed:
        raise ValidationFailed.one("user", f"no user has the email {email}") from None
    with ws.store.unit_of_work() as uow:
        user = find_user_by_email(uow, normal)
    if user is None:
        raise ValidationFailed.one("user", f"no user has the email {email}")
    return create_token_for(ws, actor, user.id, name, expires_in_days)


def create_token_for(
    ws: Workspace, actor: Actor, user_id: str, name: str, expires_in_days: int = TOKEN_DAYS
) -> tuple[ApiToken, str]:
    """A new bearer token for the user, living `expires_in_days` days (0: it never
    expires); the secret is returned once and never stored. Only an admin makes tokens.
    An unknown user is 404 (a relationship ID in the body, CONTRACT §4)."""
    require_permission(actor.role, Permission.ADMINISTER, "creating an API token")
    if not name.strip() or len(name) > 200:
        raise ValidationFailed.one("name", "must be 1 to 200 characters")
    if isinstance(expires_in_days, bool) or not 0 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValidationFailed.one(
            "expiresIn", f"must be a number of days from 0 (never) to {MAX_TOKEN_DAYS}"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = now()
    expires_at = format_ts(created + timedelta(days=expires_in_days)) if expires_in_days else None
    with ws.store.unit_of_work(write=True) as uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("user", user_id, field="userId")
        token = ApiToken(
            id=new_id("tok"),
            user_id=user.id,
            name=name.strip(),
            token_hash=secret_hash(secret),
            created_at=format_ts(created),
            expires_at=expires_at,
        )
        uow.api_tokens.add(token)
        audit(
            uow,
            actor,
            EntityType.USER,
            user.id,
            "token-create",
            summary=f"API token {token.id} ({token.name}), expires {expires_at or 'never'}",
        )
        uow.commit()
    return token, secret


def token_user(ws: Workspace, secret: str) -> User:
    """The user behind a live bearer token, or Unauthorized; records the token's use."""
    user, token = find_token_user(ws, secret)
    if touch_due(token):
        touch_token(ws, token)
    return user


def find_token_user(ws: Workspace, secret: str) -> tuple[User, ApiToken]:
    """The user behind a live bearer token and the token, or Unauthorized. Reads only."""
    failure = Unauthorized("the API token is not valid or was revoked")
    if not secret.startswith(TOKEN_PREFIX):
        raise failure
    with ws.store.unit_of_work() as uow:
        page = uow.api_tokens.find(
            Filters({"token_hash": secret_hash(secret)}), PageRequest(limit=1)
        )
        token = page.items[0] if page.items else None
        if token is None or token.revoked_at is not None:
            raise failure
        if is_expired(token):
            raise Unauthorized(f"the API token expired on {token.expires_at}")
        return _enabled(require(uow.users, token.user_id, "user")), token


def is_expired(token: ApiToken) -> bool:
    """True once the token's `expiresAt` has passed (a token without one never expires)."""
    return token.expires_at is not None and parse_ts(token.expires_at) <= now()


def touch_due(token: ApiToken) -> bool:
    """True when the token's last use is not recorded or older than a few minutes."""
    return not token.last_used_at or parse_ts(token.last_used_at) <= now() - _TOUCH_EVERY


def touch_token(ws: Workspace, token: ApiToken) -> None:
    """Record last use (callers check `touch_due` first: a write per request would be
    waste). Best effort: a token changed since it was read is left as it is, also when
    the change (another request recording the same use, say) commits between this read
    and this write, which DynamoDB reports as a version conflict."""
    try:
        with ws.store.unit_of_work(write=True) as uow:
            current = uow.api_tokens.get(token.id)
            if current is None or current.version != token.version:
                return
            updated = copy.deepcopy(current)
            updated.last_used_at = now_ts()
            updated.version = current.version + 1
            uow.api_tokens.update(updated, current.version)
            uow.commit()
    except Conflict:  # VersionConflict included
        return


def list_tokens(ws: Workspace, page: PageRequest, user_id: str | None = None) -> Page[ApiToken]:
    with ws.store.unit_of_work() as uow:
        return uow.api_tokens.find(Filters({"user_id": user_id}), page)


@dataclass(frozen=True)
class TokenInfo:
    """A token's metadata with its user's email (the hash is never shown)."""

    token: ApiToken
    user_email: str | None  # None: the user record is gone


def list_token_infos(
    ws: Workspace, page: PageRequest, user_id: str | None = None
) -> Page[TokenInfo]:
    """`list_tokens` with each token's user email: one read per distinct user."""
    tokens = list_tokens(ws, page, user_id)
    return Page(describe_tokens(ws, tokens.items), tokens.next_cursor)


def describe_tokens(ws: Workspace, tokens: list[ApiToken]) -> list[TokenInfo]:
    emails: dict[str, str | None] = {}
    with ws.store.unit_of_work() as uow:
        for token in tokens:
            if token.user_id not in emails:
                user = uow.users.get(token.user_id)
                emails[token.user_id] = user.email if user else None
    return [TokenInfo(token, emails[token.user_id]) for token in tokens]


def revoke_token(ws: Workspace, actor: Actor, token_id: str) -> ApiToken:
    with ws.store.unit_of_work(write=True) as uow:
        token = require(uow.api_tokens, token_id, "token")
        if token.revoked_at is not None:
            raise Conflict(f"token {token_id} is already revoked")
        updated = copy.deepcopy(token)
        updated.revoked_at = now_ts()
        updated.version = token.version + 1
        uow.api_tokens.update(updated, token.version)
        audit(
            uow,
            actor,
            EntityType.USER,
            token.user_id,
            "token-revoke",
            summary=f"API token {token.id} ({token.name})",
        )
        uow.commit()
        return updated
