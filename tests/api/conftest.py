"""Fixtures of the API tests: one workspace on each store and an admin's client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login


@pytest.fixture
def workspace_on(any_workspace: Workspace) -> Workspace:
    """The workspace, on SQLite and on DynamoDB (moto)."""
    return any_workspace


@pytest.fixture
def client(workspace_on: Workspace) -> Iterator[TestClient]:
    """The single-process app of `workspace_on`, logged in as the admin."""
    with TestClient(runtime.build_single_process(workspace_on)) as test_client:
        login(test_client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield test_client
