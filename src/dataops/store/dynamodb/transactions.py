"""The commit of a DynamoDB unit of work: its buffered operations as ONE
TransactWriteItems.

`add` → Put with attribute_not_exists, `update` → Put conditional on the stored version,
`guard` → ConditionCheck on the version; each changed unique value releases its old claim
and claims the new one, each searched record puts and deletes its word items, all in the
same transaction. A unit of more than 100 operations is refused (`PayloadTooLarge`)
unless it only inserts new records: such a unit is sent as consecutive transactions of
at most 100 operations (each record with its uniqueness claims); if one fails, the
records the earlier ones inserted are deleted again (best effort), so readers may
briefly see part of it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dataops.domain.codec import camel
from dataops.domain.errors import (
    Conflict,
    DataOpsError,
    PayloadTooLarge,
    StorageUnavailable,
    VersionConflict,
)
from dataops.domain.search import record_words
from dataops.store.dynamodb.client import (
    ATTEMPTS,
    TableClient,
    backoff,
    cancellation_reasons,
    error_code,
    translate,
)
from dataops.store.dynamodb.tables import (
    KEY,
    OWNER,
    VERSION,
    Item,
    Spec,
    search_item,
    search_key,
    unique_key,
)

log = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
_INSERTS = frozenset({"add", "claim"})  # a failed condition here means Conflict
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


@dataclass
class Op:
    """What a unit will do to one record at commit."""

    spec: Spec
    key: str
    kind: str  # "add" | "update" | "guard"
    expected: int | None  # the stored version the commit requires (update, guard)
    item: Item | None  # what the commit writes (None: a guard only)
    stored_unique: dict[str, str | None] = field(default_factory=dict)
    stored_words: list[str] = field(default_factory=list)
    """The search words of the record as stored (an update of a searched entity)."""

    @property
    def version(self) -> int | None:
        return int(self.item[VERSION]["N"]) if self.item is not None else self.expected


@dataclass(frozen=True)
class _Action:
    """One TransactWriteItems entry and how its failed condition reads."""

    request: dict[str, Any]
    kind: str  # add | claim (→ Conflict); update | guard | release (→ VersionConflict)
    what: str


class Transactions(TableClient):
    """Sends the operations a unit of work buffered."""

    def commit(self, ops: Iterable[Op]) -> None:
        self._write([self._actions(op) for op in ops])

    def _actions(self, op: Op) -> list[_Action]:
        table = self.tables[op.spec.entity]
        what = f"{op.spec.entity} {op.key!r}"
        key = {KEY: {"S": op.key}}
        if op.item is None:
            return [_Action(_condition_check(table, key, op.expected), "guard", what)]
        if op.kind == "add":
            put = {
                "TableName": table,
                "Item": op.item,
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": KEY},
            }
        else:
            put = {
                "TableName": table,
                "Item": op.item,
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": VERSION},
                "ExpressionAttributeValues": {":v": {"N": str(op.expected)}},
            }
        actions = [_Action({"Put": put}, op.kind, what), *_claim_actions(table, op, what)]
        if op.spec.searched:
            actions += _word_actions(table, op, what)
        return actions

    def _write(self, groups: list[list[_Action]]) -> None:
        actions = [a for group in groups for a in group]
        if not actions:
            return
        seen: set[tuple[str, str]] = set()
        for action in actions:  # one item twice: two records claiming one unique value
            ((_, body),) = action.request.items()
            target = (body["TableName"], (body.get("Item") or body["Key"])[KEY]["S"])
            if target in seen:
                raise Conflict(f"{action.what} is claimed twice in one change")
            seen.add(target)
        if len(actions) == 1 and "Put" in actions[0].request:
            self._put(actions[0])
        elif len(actions) <= MAX_TRANSACTION_ITEMS:
            self._transact(actions)
        elif all(a.kind in _INSERTS for a in actions):
            self._insert_in_chunks(groups)
        else:
            raise PayloadTooLarge(
                f"this change needs {len(actions)} DynamoDB operations in one transaction; "
                f"at most {MAX_TRANSACTION_ITEMS} are possible when it also updates records"
            )

    def _put(self, action: _Action) -> None:
        try:
            self.client.put_item(**action.request["Put"])
        except self.errors.ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _failed([action]) from exc
            raise translate(exc, f"put {action.what}") from exc
        except self.errors.BotoCoreError as exc:
            raise translate(exc, f"put {action.what}") from exc

    def _transact(self, actions: list[_Action]) -> None:
        for attempt in range(ATTEMPTS + 1):
            try:
                self.client.transact_write_items(
                    TransactItems=[a.request for a in actions],
                    ClientRequestToken=uuid.uuid4().hex,  # botocore's own retries replay it
                )
                return
            except self.errors.ClientError as exc:
                code = error_code(exc)
                if code == "TransactionCanceledException":
                    reasons = cancellation_reasons(exc, len(actions))
                    failed = [a for a, r in zip(actions, reasons, strict=True) if r == _CCF]
                    if failed:
                        raise _failed(failed) from exc
                    busy = {r for r in reasons if r not in ("None", "")}
                    if busy <= _RETRYABLE and attempt < ATTEMPTS:
                        backoff(attempt)
                        continue
                    if busy <= {"TransactionConflict"}:
                        raise VersionConflict(
                            "a record changed by a concurrent request; try again"
                        ) from exc
                    raise StorageUnavailable(
                        f"DynamoDB cancelled the transaction: {', '.join(sorted(busy))}"
                    ) from exc
                if code == "TransactionInProgressException" and attempt < ATTEMPTS:
                    backoff(attempt)
                    continue
                raise translate(exc, "transact_write_items") from exc
            except self.errors.BotoCoreError as exc:
                raise translate(exc, "transact_write_items") from exc

    def _insert_in_chunks(self, groups: list[list[_Action]]) -> None:
        chunks: list[list[_Action]] = [[]]
        for group in groups:
            if len(chunks[-1]) + len(group) > MAX_TRANSACTION_ITEMS:
                chunks.append([])
            chunks[-1].extend(group)
        written: list[_Action] = []
        for chunk in chunks:
            try:
                self._transact(chunk)
            except DataOpsError:
                self._undo(written)
                raise
            written += chunk

    def _undo(self, written: list[_Action]) -> None:
        """Best effort: delete what the earlier chunks of a failed insert wrote, each only
        while it is still as written."""
        for action in written:
            put = action.request["Put"]
            item = put["Item"]
            same = OWNER if action.kind == "claim" else VERSION
            try:
                self.client.delete_item(
                    TableName=put["TableName"],
                    Key={KEY: item[KEY]},
                    ConditionExpression="#a = :a",
                    ExpressionAttributeNames={"#a": same},
                    ExpressionAttributeValues={":a": item[same]},
                )
            except (self.errors.ClientError, self.errors.BotoCoreError) as exc:
                log.warning("could not undo the insert of %s: %s", action.what, exc)


_CCF = "ConditionalCheckFailed"


def _claim_actions(table: str, op: Op, what: str) -> list[_Action]:
    """The uniqueness claims of the record's changed unique values: the old value's
    claim deleted (unless another record holds it), the new value's put."""
    assert op.item is not None
    actions: list[_Action] = []
    for name in op.spec.unique:
        new = op.item.get(camel(name), {}).get("S")
        old = op.stored_unique.get(name)
        if new == old:
            continue
        if old:
            release = {
                "TableName": table,
                "Key": {KEY: {"S": unique_key(name, old)}},
                "ConditionExpression": "attribute_not_exists(#k) OR #o = :o",
                "ExpressionAttributeNames": {"#k": KEY, "#o": OWNER},
                "ExpressionAttributeValues": {":o": {"S": op.key}},
            }
            actions.append(_Action({"Delete": release}, "release", what))
        if new:
            claim = {
                "TableName": table,
                "Item": {KEY: {"S": unique_key(name, new)}, OWNER: {"S": op.key}},
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": KEY},
            }
            what_claim = f"{op.spec.entity} with {camel(name)} {new!r}"
            actions.append(_Action({"Put": claim}, "claim", what_claim))
    return actions


def _word_actions(table: str, op: Op, what: str) -> list[_Action]:
    """The search word items to delete and to put so the index holds the record's new
    words: unconditional (the record's own Put carries the condition), the puts undone
    like claims (`owner`) when an insert sent in parts fails."""
    assert op.item is not None
    new = record_words(op.spec.entity, op.spec.from_item(op.item))
    gone = [w for w in op.stored_words if w not in set(new)]
    added = [w for w in new if w not in set(op.stored_words)]
    actions = [
        _Action(
            {"Delete": {"TableName": table, "Key": {KEY: {"S": search_key(word, op.key)}}}},
            "release",
            what,
        )
        for word in gone
    ]
    actions += [
        _Action({"Put": {"TableName": table, "Item": search_item(word, op.key)}}, "claim", what)
        for word in added
    ]
    return actions


def _condition_check(table: str, key: Item, version: int | None) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": VERSION},
            "ExpressionAttributeValues": {":v": {"N": str(version)}},
        }
    }


def _failed(actions: list[_Action]) -> Conflict:
    """The domain error for failed conditions: a stale version (VersionConflict) wins over
    an existing key (Conflict) — a retry may succeed after the former."""
    stale = [a for a in actions if a.kind not in _INSERTS]
    if stale:
        return VersionConflict(f"{stale[0].what} changed while this request ran")
    return Conflict(f"{actions[0].what} already exists")
