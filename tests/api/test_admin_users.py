"""People and tokens administered through the portal (CONTRACT §9, issue 19 item 2), on
SQLite and DynamoDB: who sees which user fields, role/name/disabled changes with If-Match
and an audit trail, a disabled user locked out everywhere (login, session, token) until
enabled, an admin's password reset shown once, tokens made from the API, and everyone's
own password change that keeps only the session it was made from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.domain.enums import Role
from dataops.services import people
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, SettingsFor, login

API = "/work/api"


@dataclass
class World:
    ws: Workspace
    app: Any
    admin: TestClient

    def client(self) -> TestClient:
        client = TestClient(self.app)
        client.__enter__()
        return client

    def person(self, role: Role = Role.OPERATOR) -> tuple[str, str]:
        """A new user: (id, email)."""
        email = f"{role.value}-{len(people.list_users(self.ws, _page()).items)}@example.com"
        user = people.add_user(self.ws, people.SYSTEM, email, "Pat", role, PASSWORD)
        return user.id, email


def _page() -> Any:
    from dataops.store.port import PageRequest

    return PageRequest(limit=500)


@pytest.fixture
def world(backend: SettingsFor, tmp_path: Path) -> Iterator[World]:
    ws = runtime.build_workspace(backend(tmp_path))
    runtime.bootstrap_admin(ws)
    app = runtime.build_single_process(ws)
    with TestClient(app) as admin:
        login(admin, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield World(ws, app, admin)
    from dataops.store.dynamodb import DynamoStore

    if isinstance(ws.store, DynamoStore):
        from tests.contract.dynamo import drop_tables

        drop_tables(ws.store)
    ws.store.close()


def _logged_in(world: World, email: str, password: str = PASSWORD) -> TestClient:
    client = world.client()
    login(client, email, password)
    return client


def test_admin_sees_every_user_field_others_only_id_and_name(world: World) -> None:
    _, email = world.person(Role.VIEWER)
    shown = world.admin.get(f"{API}/users").json()["items"]
    admin_row = next(u for u in shown if u["email"] == ADMIN_EMAIL)
    assert {"id", "email", "name", "role", "disabled", "version", "createdAt"} <= set(admin_row)
    viewer = _logged_in(world, email)
    for row in viewer.get(f"{API}/users").json()["items"]:
        assert set(row) == {"id", "name"}
    assert "Hash" not in str(shown)


def test_create_user_then_change_role_and_name_with_if_match_audited(world: World) -> None:
    made = world.admin.post(
        f"{API}/users",
        json={"email": "new@example.com", "name": "New", "role": "viewer", "password": PASSWORD},
    )
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["disabled"] is False
    changed = world.admin.patch(
        f"{API}/users/{user['id']}",
        json={"role": "operator", "name": "New Operator"},
        headers={"If-Match": f'"{user["version"]}"'},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["name"]) == ("operator", "New Operator")
    assert changed.headers["etag"] == f'"{user["version"] + 1}"'
    stale = world.admin.patch(
        f"{API}/users/{user['id']}", json={"role": "viewer"}, headers={"If-Match": "1"}
    )
    assert stale.status_code == 409
    listed = world.admin.get(f"{API}/users").json()["items"]
    assert [u["role"] for u in listed if u["id"] == user["id"]] == ["operator"]
    events = world.admin.get(
        f"{API}/audit-events", params={"entityType": "user", "entityId": user["id"]}
    ).json()["items"]
    assert [e["action"] for e in events] == ["create", "update"]
    assert events[1]["before"]["role"] == "viewer"
    assert events[1]["after"]["role"] == "operator"


def test_a_disabled_user_is_locked_out_until_enabled(world: World) -> None:
    user_id, email = world.person(Role.OPERATOR)
    session = _logged_in(world, email)
    made = world.admin.post(
        f"{API}/tokens", json={"userId": user_id, "name": "script", "expiresIn": 30}
    )
    assert made.status_code == 201, made.text
    bearer = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert session.get(f"{API}/me").status_code == 200
    assert world.admin.get(f"{API}/me", headers=bearer).status_code == 200

    disabled = world.admin.patch(f"{API}/users/{user_id}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    assert session.get(f"{API}/me").status_code == 401
    anonymous = world.client()
    assert anonymous.get(f"{API}/me", headers=bearer).status_code == 401
    refused = anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]
    assert anonymous.get("/auth/session", headers=bearer).status_code == 401

    enabled = world.admin.patch(f"{API}/users/{user_id}", json={"disabled": False})
    assert enabled.json()["disabled"] is False
    assert anonymous.get(f"{API}/me", headers=bearer).status_code == 200  # tokens held
    assert session.get(f"{API}/me").status_code == 401  # disabling ended the session
    login(anonymous, email, PASSWORD)
    summaries = [
        e["summary"]
        for e in world.admin.get(
            f"{API}/audit-events", params={"entityType": "user", "entityId": user_id}
        ).json()["items"]
    ]
    assert any(s and s.startswith("disabled; 1 session(s) revoked") for s in summaries)


def test_an_admin_cannot_disable_or_demote_themselves(world: World) -> None:
    me = world.admin.get(f"{API}/me").json()
    for change in ({"disabled": True}, {"role": "operator"}):
        refused = world.admin.patch(f"{API}/users/{me['id']}", json=change)
        assert refused.status_code == 409, refused.text
    assert world.admin.patch(f"{API}/users/{me['id']}", json={"name": "Boss"}).status_code == 200
    assert world.admin.get(f"{API}/me").json()["role"] == "admin"


def test_password_reset_is_shown_once_and_ends_the_users_sessions(world: World) -> None:
    user_id, email = world.person(Role.VIEWER)
    session = _logged_in(world, email)
    reset = world.admin.post(f"{API}/users/{user_id}/password-reset")
    assert reset.status_code == 200, reset.text
    password = reset.json()["password"]
    assert len(password) >= 12
    assert session.get(f"{API}/me").status_code == 401
    anonymous = world.client()
    assert (
        anonymous.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code
        == 401
    )
    login(anonymous, email, password)
    assert password not in str(world.admin.get(f"{API}/audit-events").json())
    me = world.admin.get(f"{API}/me").json()
    assert world.admin.post(f"{API}/users/{me['id']}/password-reset").status_code == 409


def test_tokens_from_the_api_show_the_secret_once_and_record_use(world: World) -> None:
    user_id, _ = world.person(Role.ASSISTANT)
    made = world.admin.post(
        f"{API}/tokens", json={"userId": user_id, "name": "assistant", "expiresIn": 7}
    )
    assert made.status_code == 201
    body = made.json()
    assert body["secret"].startswith("dop_")
    assert body["expiresAt"] is not None
    assert body["lastUsedAt"] is None
    anonymous = world.client()
    assert (
        anonymous.get(f"{API}/me", headers={"Authorization": f"Bearer {body['secret']}"}).json()[
            "role"
        ]
        == "assistant"
    )
    listed = world.admin.get(f"{API}/tokens").json()["items"]
    row = next(t for t in listed if t["id"] == body["id"])
    assert row["lastUsedAt"] is not None
    assert "secret" not in row
    assert body["secret"] not in str(listed)
    revoked = world.admin.post(f"{API}/tokens/{body['id']}/revoke")
    assert revoked.status_code == 200
    headers = {"Authorization": f"Bearer {body['secret']}"}
    assert anonymous.get(f"{API}/me", headers=headers).status_code == 401
    never = world.admin.post(
        f"{API}/tokens", json={"userId": user_id, "name": "forever", "expiresIn": 0}
    )
    assert never.json()["expiresAt"] is None
    unknown = world.admin.post(f"{API}/tokens", json={"userId": "usr_nobody", "name": "x"})
    assert unknown.status_code == 404


def test_own_password_change_keeps_only_this_session(world: World) -> None:
    _, email = world.person(Role.VIEWER)
    here, elsewhere = _logged_in(world, email), _logged_in(world, email)
    wrong = here.post(
        "/auth/password", json={"currentPassword": "not-it-at-all", "newPassword": "x" * 12}
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "currentPassword"
    short = here.post("/auth/password", json={"currentPassword": PASSWORD, "newPassword": "short"})
    assert short.status_code == 422
    assert elsewhere.get(f"{API}/me").status_code == 200  # nothing changed yet
    changed = here.post(
        "/auth/password", json={"currentPassword": PASSWORD, "newPassword": "brand-new-pass-1"}
    )
    assert changed.status_code == 200, changed.text
    assert here.get(f"{API}/me").status_code == 200
    assert elsewhere.get(f"{API}/me").status_code == 401
    fresh = world.client()
    assert fresh.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401
    login(fresh, email, "brand-new-pass-1")


def test_own_password_change_needs_a_login_and_refuses_cross_site(world: World) -> None:
    anonymous = world.client()
    body = {"currentPassword": ADMIN_PASSWORD, "newPassword": "another-pass-1"}
    assert anonymous.post("/auth/password", json=body).status_code == 401
    crossed = world.admin.post(
        "/auth/password", json=body, headers={"Origin": "https://evil.example"}
    )
    assert crossed.status_code == 403
    assert world.admin.get(f"{API}/me").status_code == 200
