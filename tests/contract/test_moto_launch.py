"""The test moto server's TransactWriteItems (tests/moto_launch.py): a cancelled
transaction leaves every item it named as it was, as real DynamoDB does, though the
launcher puts back only the named items instead of moto's copies of whole tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.moto_server import MotoServer


@pytest.fixture
def tables(moto: MotoServer) -> Iterator[tuple[Any, str, str]]:
    """A client, a table keyed by `pk` and one keyed by `pk` + `sk`, with items in each."""
    client = boto3.client("dynamodb", endpoint_url=moto.endpoint)
    simple, ranged = f"simple-{uuid.uuid4().hex}", f"ranged-{uuid.uuid4().hex}"
    client.create_table(
        TableName=simple,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=ranged,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(5):
        client.put_item(TableName=simple, Item={"pk": {"S": f"k{n}"}, "v": {"N": str(n)}})
        client.put_item(
            TableName=ranged, Item={"pk": {"S": "g"}, "sk": {"S": f"s{n}"}, "v": {"N": str(n)}}
        )
    yield client, simple, ranged
    client.delete_table(TableName=simple)
    client.delete_table(TableName=ranged)


def _everything(client: Any, *names: str) -> list[list[dict[str, Any]]]:
    return [
        sorted(client.scan(TableName=name)["Items"], key=lambda i: (i["pk"]["S"], str(i.get("sk"))))
        for name in names
    ]


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(
    tables: tuple[Any, str, str],
) -> None:
    client, simple, ranged = tables
    before = _everything(client, simple, ranged)
    bump = {
        "UpdateExpression": "SET v = v + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    writes = [
        {"Put": {"TableName": simple, "Item": {"pk": {"S": "new"}, "v": {"N": "9"}}}},
        {"Put": {"TableName": simple, "Item": {"pk": {"S": "k0"}, "v": {"N": "90"}}}},
        {"Update": {"TableName": simple, "Key": {"pk": {"S": "k1"}}, **bump}},
        {"Delete": {"TableName": simple, "Key": {"pk": {"S": "k2"}}}},
        {"Put": {"TableName": ranged, "Item": {"pk": {"S": "h"}, "sk": {"S": "s"}}}},
        {"Update": {"TableName": ranged, "Key": {"pk": {"S": "g"}, "sk": {"S": "s1"}}, **bump}},
        {"Delete": {"TableName": ranged, "Key": {"pk": {"S": "g"}, "sk": {"S": "s2"}}}},
    ]
    failing = {
        "ConditionCheck": {
            "TableName": simple,
            "Key": {"pk": {"S": "k3"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[*writes, failing])
    assert _everything(client, simple, ranged) == before

    # The same writes without the failing check all apply.
    client.transact_write_items(TransactItems=writes)
    after_simple, after_ranged = _everything(client, simple, ranged)
    assert {i["pk"]["S"]: i["v"]["N"] for i in after_simple} == {
        "new": "9",
        "k0": "90",
        "k1": "2",
        "k3": "3",
        "k4": "4",
    }
    assert [(i["pk"]["S"], i["sk"]["S"], i.get("v", {}).get("N")) for i in after_ranged] == [
        ("g", "s0", "0"),
        ("g", "s1", "2"),
        ("g", "s3", "3"),
        ("g", "s4", "4"),
        ("h", "s", None),
    ]
