"""The artifact page's supersede chain comes with the artifact (`GET /api/artifacts/{id}
?include=chain`): both directions, at most `CHAIN_LIMIT` links each way, the next link
beyond the bound named so the page can read on from the last one shown; on SQLite and
DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dataops import runtime
from dataops.services.artifact_reads import CHAIN_LIMIT
from dataops.services.context import Workspace
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login

ART = "/work/api/artifacts"


@pytest.fixture
def client(any_workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(runtime.build_single_process(any_workspace)) as test_client:
        login(test_client, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield test_client


def chain_of(client: TestClient, length: int) -> list[str]:
    """`length` approved artifacts, each superseded by the next: IDs oldest first."""
    ids: list[str] = []
    for n in range(length):
        made = client.post(
            ART,
            json={
                "type": "report",
                "title": f"Version {n}",
                "storageUri": f"https://example.com/v{n}",
                "status": "approved",
            },
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        if n:
            moved = client.post(f"{ART}/{ids[-2]}/supersede", json={"supersededBy": ids[-1]})
            assert moved.status_code == 200, moved.text
    return ids


def chain(client: TestClient, artifact_id: str) -> dict[str, Any]:
    response = client.get(f"{ART}/{artifact_id}", params={"include": "task,chain"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["id"] == artifact_id
    included: dict[str, Any] = body["included"]["chain"]
    return included


def test_the_chain_comes_whole_both_ways_from_any_link(client: TestClient) -> None:
    ids = chain_of(client, 5)
    for artifact_id in ids:
        found = chain(client, artifact_id)
        assert [a["id"] for a in found["items"]] == ids
        assert [a["status"] for a in found["items"]] == ["superseded"] * 4 + ["approved"]
        assert (found["earlier"], found["later"], found["missing"]) == (None, None, [])


def test_an_artifact_outside_any_chain_is_its_own_chain(client: TestClient) -> None:
    (alone,) = chain_of(client, 1)
    found = chain(client, alone)
    assert [a["id"] for a in found["items"]] == [alone]
    assert (found["earlier"], found["later"]) == (None, None)
    plain = client.get(f"{ART}/{alone}", params={"include": "task"}).json()
    assert "chain" not in plain["included"]


def test_a_long_chain_is_bounded_each_way_and_names_where_it_goes_on(
    client: TestClient,
) -> None:
    ids = chain_of(client, 2 * CHAIN_LIMIT + 3)
    middle = CHAIN_LIMIT + 1
    found = chain(client, ids[middle])
    assert [a["id"] for a in found["items"]] == ids[1 : middle + CHAIN_LIMIT + 1]
    assert found["earlier"] == ids[0]
    assert found["later"] == ids[middle + CHAIN_LIMIT + 1]
    # Reading on from the last link shown reaches the ends.
    second = chain(client, ids[1])
    assert second["earlier"] is None
    assert second["items"][0]["id"] == ids[0]
    last = chain(client, found["items"][-1]["id"])
    assert last["items"][-1]["id"] == ids[-1]
    assert last["later"] is None
    first = chain(client, ids[0])
    assert [a["id"] for a in first["items"]] == ids[: CHAIN_LIMIT + 1]
    assert (first["earlier"], first["later"]) == (None, ids[CHAIN_LIMIT + 1])


def test_a_link_that_cannot_be_read_is_named_and_ends_that_way(
    client: TestClient, any_workspace: Workspace
) -> None:
    ids = chain_of(client, 2)
    with any_workspace.store.unit_of_work(write=True) as uow:  # a link to a record gone
        first = uow.artifacts.get(ids[0])
        assert first is not None
        first.supersedes = "art_gone"
        first.version += 1
        uow.artifacts.update(first, first.version - 1)
        uow.commit()
    found = chain(client, ids[1])
    assert [a["id"] for a in found["items"]] == ids
    assert (found["earlier"], found["missing"]) == (None, ["art_gone"])
