"""Users, passwords, sessions, notifications and the audit trail."""

from __future__ import annotations

import copy
import re
from typing import Any

from dataops.domain.accounts import SYSTEM_ACTOR_ID, Actor, Credential, User
from dataops.domain.clock import new_id, now_ts
from dataops.domain.codec import camel, to_dict
from dataops.domain.enums import EmailNotifications, EntityType, Role
from dataops.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    VersionConflict,
)
from dataops.domain.messages import AuditEvent, Notification
from dataops.domain.rules import user_errors
from dataops.services import passwords
from dataops.services.common import audit, raise_if, require
from dataops.services.context import Workspace
from dataops.store.port import Filters, Page, PageRequest, UnitOfWork

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYSTEM = Actor(id=SYSTEM_ACTOR_ID, email="system@dataops.invalid", role=Role.ADMIN, name="System")


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise ValidationFailed.one("email", "must be an email address")
    return email


def add_user(ws: Workspace, actor: Actor, email: str, name: str, role: Role, password: str) -> User:
    email = normal_email(email)
    if not name.strip():
        raise ValidationFailed.one("name", "must not be blank")
    passwords.check_strength(password)
    user = User(id=new_id("usr"), email=email, name=name.strip(), role=role, created_at=now_ts())
    raise_if(user_errors(user))
    credential = Credential(user.id, passwords.hash_password(password), user.created_at)
    with ws.store.unit_of_work(write=True) as uow:
        if find_user_by_email(uow, email) is not None:
            raise Conflict(f"a user with email {email} already exists")
        uow.users.add(user)
        uow.credentials.add(credential)
        audit(uow, actor, EntityType.USER, user.id, "create", after=user)
        uow.commit()
    return user


def set_password(
    ws: Workspace, actor: Actor, email: str, password: str, *, revoke_tokens: bool = False
) -> User:
    """Set the user's password. Every live session of the user is revoked (CONTRACT §7)
    and, with `revoke_tokens`, every API token too. The password is hashed before the
    write transaction opens: no write lock is held while argon2 runs."""
    passwords.check_strength(password)
    normal = normal_email(email)
    password_hash = passwords.hash_password(password)
    with ws.store.unit_of_work(write=True) as uow:
        user = find_user_by_email(uow, normal)
        if user is None:
            raise ValidationFailed.one("email", f"no user has the email {email}")
        store_password(uow, actor, user.id, password_hash, revoke_tokens=revoke_tokens)
        uow.commit()
        return user


def store_password(
    uow: UnitOfWork,
    actor: Actor,
    user_id: str,
    password_hash: str,
    *,
    revoke_tokens: bool = False,
    keep_session: str | None = None,
    how: str = "password changed",
) -> None:
    """Write the user's new password hash (hashed by the caller, before the transaction),
    revoke the user's live sessions but `keep_session` (a session ID) and, with
    `revoke_tokens`, their API tokens; audited (`how` starts the summary)."""
    credential = Credential(user_id, password_hash, now_ts())
    if uow.credentials.get(user_id) is None:
        uow.credentials.add(credential)
    else:
        uow.credentials.update(credential, 1)
    summary = f"{how}; {_revoke_sessions(uow, user_id, keep_session)} session(s) revoked"
    if revoke_tokens:
        summary += f", {_revoke_tokens(uow, user_id)} API token(s) revoked"
    audit(uow, actor, EntityType.USER, user_id, "password", summary=summary)


def reset_password(ws: Workspace, actor: Actor, user_id: str) -> tuple[User, str]:
    """An admin gives another user a new, generated password (returned once, never
    stored in clear); the user's sessions are revoked. Hashed before the write
    transaction opens. An admin changes their own password with their current one
    (`auth.change_own_password`), not here."""
    if user_id == actor.id:
        raise Conflict("change your own password on the Account page (current password needed)")
    password = passwords.generate()
    password_hash = passwords.hash_password(password)
    with ws.store.unit_of_work(write=True) as uow:
        user = require(uow.users, user_id, "user")
        store_password(uow, actor, user.id, password_hash, how="password reset by an admin")
        uow.commit()
    return user, password


USER_FIELDS = ("role", "name", "disabled")


def update_user(
    ws: Workspace, actor: Actor, user_id: str, changes: dict[str, Any], expected: int | None
) -> User:
    """`PATCH /api/users/{id}` (admin): `role`, `name`, `disabled`; audited. Disabling
    revokes the user's sessions (their API tokens are refused while they stay disabled).
    An admin cannot change their own role or disable themselves (a workspace could be left
    without one)."""
    for name in USER_FIELDS:
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(name, "cannot be cleared")
    with ws.store.unit_of_work(write=True) as uow:
        current = require(uow.users, user_id, "user")
        if expected is not None and expected != current.version:
            raise VersionConflict(f"user {user_id!r} is at version {current.version}")
        updated = _changed_user(actor, current, changes)
        if updated == current:
            return current
        updated.version = current.version + 1
        uow.users.update(updated, current.version)
        summary = None
        if updated.disabled and not current.disabled:
            summary = f"disabled; {_revoke_sessions(uow, user_id)} session(s) revoked"
        elif current.disabled and not updated.disabled:
            summary = "enabled"
        audit(
            uow,
            actor,
            EntityType.USER,
            user_id,
            "update",
            before=current,
            after=updated,
            summary=summary,
        )
        uow.commit()
        return updated


def _changed_user(actor: Actor, current: User, changes: dict[str, Any]) -> User:
    """`current` with the PATCH's changes, checked; Conflict when an admin would change
    their own role or disable themselves."""
    updated = copy.deepcopy(current)
    if "role" in changes:
        updated.role = Role(changes["role"])
    if "name" in changes:
        updated.name = changes["name"].strip()
    if "disabled" in changes:
        updated.disabled = changes["disabled"]
    if current.id == actor.id and (updated.role != current.role or updated.disabled):
        raise Conflict("you cannot change your own role or disable yourself")
    raise_if(user_errors(updated))
    return updated


def set_disabled(ws: Workspace, actor: Actor, email: str, disabled: bool) -> User:
    """`dataops users disable|enable EMAIL`."""
    normal = normal_email(email)
    with ws.store.unit_of_work() as uow:
        user = find_user_by_email(uow, normal)
    if user is None:
        raise ValidationFailed.one("email", f"no user has the email {email}")
    return update_user(ws, actor, user.id, {"disabled": disabled}, None)


def _revoke_sessions(uow: UnitOfWork, user_id: str, keep: str | None = None) -> int:
    """Revoke every live session of the user but `keep` (a new password logs everyone
    else out)."""
    revoked, cursor = 0, None
    while True:
        page = uow.sessions.find(Filters({"user_id": user_id}), PageRequest(500, cursor))
        for session in page.items:
            if not session.revoked and session.id != keep:
                updated = copy.deepcopy(session)
                updated.revoked, updated.version = True, session.version + 1
                uow.sessions.update(updated, session.version)
                revoked += 1
        if page.next_cursor is None:
            return revoked
        cursor = page.next_cursor


def _revoke_tokens(uow: UnitOfWork, user_id: str) -> int:
    """Revoke every live API token of the user."""
    revoked, cursor, moment = 0, None, now_ts()
    while True:
        page = uow.api_tokens.find(Filters({"user_id": user_id}), PageRequest(500, cursor))
        for token in page.items:
            if token.revoked_at is None:
                updated = copy.deepcopy(token)
                updated.revoked_at, updated.version = moment, token.version + 1
                uow.api_tokens.update(updated, token.version)
                revoked += 1
        if page.next_cursor is None:
            return revoked
        cursor = page.next_cursor


def find_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    page = uow.users.find(Filters({"email": email}), PageRequest(limit=1))
    return page.items[0] if page.items else None


def describe_actor(ws: Workspace, actor: Actor) -> dict[str, str | int | None]:
    """`GET /api/me`: the actor as the portal named it, with the stored display name and
    e-mail choices (and the record's version, for `PATCH /api/me`'s If-Match)."""
    with ws.store.unit_of_work() as uow:
        user = uow.users.get(actor.id)
    return shown_actor(actor, user)


def shown_actor(actor: Actor, user: User | None) -> dict[str, str | int | None]:
    shown: dict[str, str | int | None] = {
        "id": actor.id,
        "email": actor.email,
        "name": user.name if user else actor.name,
        "role": actor.role.value,
    }
    if user is not None:
        shown["emailNotifications"] = user.email_notifications.value
        shown["timezone"] = user.timezone
        shown["version"] = user.version
    return shown


ME_FIELDS = ("email_notifications", "timezone")


def update_me(
    ws: Workspace, actor: Actor, changes: dict[str, Any], expected: int | None
) -> dict[str, str | int | None]:
    """`PATCH /api/me`: the actor changes their own e-mail choice and time zone (any role;
    no other field, no other user). Audited; a bad time zone is 422 naming `timezone`."""
    for name in ME_FIELDS:
        if name in changes and changes[name] is None:
            raise ValidationFailed.one(camel(name), "cannot be cleared")
    with ws.store.unit_of_work(write=True) as uow:
        current = uow.users.get(actor.id)
        if current is None:
            raise NotFound("user", actor.id)
        if expected is not None and expected != current.version:
            raise VersionConflict(f"user {actor.id!r} is at version {current.version}")
        updated = copy.deepcopy(current)
        if "email_notifications" in changes:
            updated.email_notifications = EmailNotifications(changes["email_notifications"])
        if "timezone" in changes:
            updated.timezone = changes["timezone"]
        raise_if(user_errors(updated))
        if updated == current:
            return shown_actor(actor, current)
        updated.version = current.version + 1
        uow.users.update(updated, current.version)
        audit(uow, actor, EntityType.USER, actor.id, "update", before=current, after=updated)
        uow.commit()
    return shown_actor(actor, updated)


def list_users(ws: Workspace, page: PageRequest) -> Page[User]:
    with ws.store.unit_of_work() as uow:
        return uow.users.find(Filters(), page)


def shown_users(actor: Actor, users: list[User]) -> list[dict[str, Any]]:
    """`GET /api/users`: an admin sees every field (never a hash: credentials live
    apart); any other role sees who is who, `id` and `name`, nothing more."""
    if actor.role == Role.ADMIN:
        shown: list[dict[str, Any]] = to_dict(users)
        return shown
    return [{"id": user.id, "name": user.name} for user in users]


def has_users(ws: Workspace) -> bool:
    return bool(list_users(ws, PageRequest(limit=1)).items)


def list_notifications(
    ws: Workspace, actor: Actor, page: PageRequest, *, unread: bool = False
) -> Page[Notification]:
    """The actor's own notifications, newest first; `unread`: only those neither read
    nor dismissed (their own index)."""
    filters = {"user_id": actor.id, "unread_key": "true" if unread else None}
    newest_first = PageRequest(page.limit, page.cursor, descending=True)
    with ws.store.unit_of_work() as uow:
        return uow.notifications.find(Filters(filters), newest_first)


def unread_count(ws: Workspace, actor: Actor) -> int:
    """How many of the actor's notifications are unread: a count of their index."""
    with ws.store.unit_of_work() as uow:
        return uow.notifications.count(Filters({"user_id": actor.id, "unread_key": "true"}))


def read_notification(ws: Workspace, actor: Actor, notification_id: str) -> Notification:
    """Mark one of the actor's own notifications read (once: the first time stays)."""
    return _mark(ws, actor, notification_id, dismiss=False)


def dismiss_notification(ws: Workspace, actor: Actor, notification_id: str) -> Notification:
    """Dismiss one of the actor's own notifications; dismissing reads it too."""
    return _mark(ws, actor, notification_id, dismiss=True)


def _mark(ws: Workspace, actor: Actor, notification_id: str, *, dismiss: bool) -> Notification:
    with ws.store.unit_of_work(write=True) as uow:
        note = require(uow.notifications, notification_id, "notification")
        if note.user_id != actor.id:
            raise Forbidden("this notification belongs to another user")
        updated = copy.deepcopy(note)
        updated.read_at = note.read_at or now_ts()
        updated.dismissed = note.dismissed or dismiss
        if updated == note:
            return note
        updated.version = note.version + 1
        uow.notifications.update(updated, note.version)
        uow.commit()
        return updated


def list_audit_events(
    ws: Workspace, entity_type: EntityType | None, entity_id: str | None, page: PageRequest
) -> Page[AuditEvent]:
    if entity_id is not None and entity_type is None:
        raise ValidationFailed.one("entityType", "is required with an entity ID")
    filters = {"entity_type": entity_type.value if entity_type else None, "entity_id": entity_id}
    with ws.store.unit_of_work() as uow:
        return uow.audit_events.find(Filters(filters), page)
