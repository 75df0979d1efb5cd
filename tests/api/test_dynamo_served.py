"""The seed's scenarios through a real `dataops serve` child process whose store is
DynamoDB on the session's moto server (DATAOPS_STORE=dynamodb, tables of its own,
auto-created at start-up): real HTTP in front, real botocore behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from dataops import runtime
from dataops.store.dynamodb import DynamoStore
from tests.api import test_scenarios as scenarios
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServedPortal, login, make_settings
from tests.contract.dynamo import drop_tables, dynamo_env, endpoint_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The served process's DynamoDB settings (its own tables)."""
    return dynamo_env(endpoint_for(request))


@pytest.fixture(scope="module")
def served_dynamo(
    served_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedPortal]:
    home = tmp_path_factory.mktemp("served-dynamo")
    portal = ServedPortal(home, env=served_env)
    yield portal
    portal.stop()
    store = DynamoStore(make_settings(home, **served_env))
    drop_tables(store)
    store.close()


@pytest.fixture
def client(served_dynamo: ServedPortal) -> Iterator[httpx.Client]:
    with served_dynamo.client() as api:
        login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        yield api


def test_the_server_runs_on_dynamodb(client: httpx.Client) -> None:
    health = client.get("/work/health")
    assert health.status_code == 200, health.text
    assert health.json()["store"] == "dynamodb"


def test_artifact_proof_end_to_end(client: httpx.Client) -> None:
    """Template with an artifact proof → instantiate → completion 409 → register an https
    artifact → attach → approve → completion 200."""
    scenarios.test_public_link_artifact_attached_to_task_satisfies_proof(client)


@pytest.mark.parametrize(
    "scenario",
    [
        scenarios.test_public_link_artifact_attached_to_bundle_only_satisfies_proof,
        scenarios.test_needs_review_assistant_output_is_visible_but_not_proof_until_approved,
        scenarios.test_attaching_elsewhere_moves_the_artifact_and_its_ref,
        scenarios.test_stale_if_match_on_a_task_is_409_and_changes_nothing,
        scenarios.test_audit_history_of_artifact_review_and_task_completion,
    ],
    ids=lambda f: f.__name__,
)
def test_more_scenarios_on_the_served_dynamodb_store(
    client: httpx.Client, scenario: Callable[[httpx.Client], None]
) -> None:
    scenario(client)


def test_an_assistant_never_decides_on_the_served_dynamodb_store(
    client: httpx.Client, served_dynamo: ServedPortal, served_env: dict[str, str]
) -> None:
    """The assistant scenario with users and tokens made on the same DynamoDB tables."""
    workspace = runtime.build_workspace(make_settings(served_dynamo.home, **served_env))
    try:
        scenarios.assistant_outputs_wait_for_an_operator(
            client, scenarios.mint_in_process(workspace)
        )
    finally:
        workspace.store.close()
