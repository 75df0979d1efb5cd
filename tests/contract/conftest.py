"""Fixtures of the store contract suites."""

from __future__ import annotations

import pytest

from tests.contract.dynamo import endpoint_for


@pytest.fixture(scope="session")
def dynamodb_endpoint(request: pytest.FixtureRequest) -> str:
    """Where the DynamoDB tests run: the moto server, or DATAOPS_DYNAMODB_ENDPOINT."""
    return endpoint_for(request)
