"""What the scale and throughput benchmarks share: a store of a given size (SQLite, or
DynamoDB on a moto server), seeded through the repositories in big write units; the sets
of tasks each operation works on; a meter of DynamoDB calls, items read and capacity.

Seeding follows bench_core (10 artifacts per task, 100 per bundle, 1 in 10 approved,
refs and create audit events as `register_artifact` leaves them). On top of that every
bundle has a role, by its position (round robin), so that operations that change data
never touch the records the read operations check:

- read:     list by task / by bundle, proof; their expected results are recorded;
- complete: tasks completed (then reopened) by the successful completion;
- blocked:  tasks whose proof asks for an approved *transcript* (only reports are
  approved), so every completion is refused after the full evidence lookup
  (task index, bundle index, the task's and the bundle's refs);
- write:    tasks that created artifacts are attached to (then approved).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import socket
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_core
from bench_core import ARTIFACTS_PER_BUNDLE, ARTIFACTS_PER_TASK, Timing
from dataops import runtime
from dataops.config import TABLE_ENTITIES, Settings
from dataops.domain.accounts import Actor
from dataops.domain.clock import new_id, now_ts
from dataops.domain.enums import ArtifactStatus, ArtifactType, ProofType, Role
from dataops.domain.models import Artifact, Bundle, ProofRequirement, Task
from dataops.services import auth
from dataops.services.context import Workspace
from servers import AWS_TEST_ENV

ROLES = ("read", "complete", "blocked", "write")
TARGETS = 20
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-1"
RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_EVERY = 10  # get-artifact ids: the first artifact of every 10th task


@dataclass
class Seeded:
    size: int
    seconds: float = 0.0
    tasks_by_role: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in ROLES})
    bundles_by_role: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in ROLES})
    task_artifacts: dict[str, list[str]] = field(default_factory=dict)  # read tasks
    bundle_artifacts: dict[str, list[str]] = field(default_factory=dict)  # read bundles
    drafts: list[str] = field(default_factory=list)  # every draft artifact, sorted
    sample_artifacts: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        return self.size // ARTIFACTS_PER_TASK

    @property
    def bundles(self) -> int:
        return self.size // ARTIFACTS_PER_BUNDLE

    def targets(self, role: str, what: str = "tasks", count: int = TARGETS) -> list[str]:
        ids = (self.tasks_by_role if what == "tasks" else self.bundles_by_role)[role]
        return spread(ids, count)


def spread(ids: list[str], count: int) -> list[str]:
    """`count` IDs evenly from the first to the last, so no position is favoured."""
    count = min(count, len(ids))
    if count <= 1:
        return ids[:count]
    return [ids[round(i * (len(ids) - 1) / (count - 1))] for i in range(count)]


Writer = Callable[[list[Bundle], list[tuple[Task, list[Artifact]]], str], None]


def unit_writer(ws: Workspace) -> Writer:
    """One write unit of work through the repositories per batch (SQLite: one
    transaction)."""

    def write(bundles: list[Bundle], batch: list[tuple[Task, list[Artifact]]], actor: str) -> None:
        with ws.store.unit_of_work(write=True) as uow:
            bench_core._write(uow, bundles, batch, actor, now_ts())
            uow.commit()

    return write


class _Collector:
    """Stands in for a unit of work: `bench_core._write` adds records, we keep them."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any]] = []
        for entity in ("bundles", "tasks", "artifacts", "audit_events"):
            setattr(self, entity, _Adder(self.records, entity))


class _Adder:
    def __init__(self, records: list[tuple[str, Any]], entity: str) -> None:
        self._records, self._entity = records, entity

    def add(self, record: Any) -> None:
        self._records.append((self._entity, record))


def dynamo_bulk_writer(store: Any, threads: int = 4) -> Writer:
    """DynamoDB on moto: the store's own items (`SPECS[entity].to_item`, the layout its
    repositories write) sent with BatchWriteItem, 25 a call, from a few threads.

    Not through a write unit of work: the store sends a unit as TransactWriteItems, and
    moto deep-copies the whole table for every item of a transaction (moto/dynamodb/
    models/__init__.py, `transact_write_items`), so seeding that way grows with the
    square of the table size (1k artifacts took 30 s). Bundles, tasks, artifacts and
    audit events have no unique fields, so no claim items are missing."""
    from dataops.store.dynamodb.tables import SPECS

    def send(chunk: list[tuple[str, dict[str, Any]]]) -> None:
        request: dict[str, list[dict[str, Any]]] = {}
        for table, item in chunk:
            request.setdefault(table, []).append({"PutRequest": {"Item": item}})
        for attempt in range(10):
            unprocessed = store.client.batch_write_item(RequestItems=request).get(
                "UnprocessedItems"
            )
            if not unprocessed:
                return
            request = unprocessed
            time.sleep(0.05 * 2**attempt)
        raise RuntimeError("DynamoDB kept items unprocessed")

    def write(bundles: list[Bundle], batch: list[tuple[Task, list[Artifact]]], actor: str) -> None:
        collector = _Collector()
        bench_core._write(collector, bundles, batch, actor, now_ts())  # type: ignore[arg-type]
        items = [(store.tables[e], SPECS[e].to_item(r)) for e, r in collector.records]
        chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, chunks))

    return write


def seed(
    ws: Workspace,
    size: int,
    actor_id: str,
    unit_tasks: int = 500,
    writer: Writer | None = None,
) -> Seeded:
    """`size` artifacts, one write unit per `unit_tasks` tasks (5,000 artifacts with their
    tasks, bundles and audit events) through the repositories, or `writer`."""
    write = writer or unit_writer(ws)
    started = time.perf_counter()
    stamp = now_ts()
    seeded = Seeded(size)
    tasks_per_bundle = ARTIFACTS_PER_BUNDLE // ARTIFACTS_PER_TASK
    n_tasks = size // ARTIFACTS_PER_TASK
    bundles: list[Bundle] = []
    batch: list[tuple[Task, list[Artifact]]] = []
    bundle: Bundle | None = None
    role = ROLES[0]
    for index in range(n_tasks):
        if index % tasks_per_bundle == 0:
            number = index // tasks_per_bundle
            role = ROLES[number % len(ROLES)]
            bundle = Bundle(
                id=new_id("bun"),
                title=f"Episode {number}",
                created_at=stamp,
                updated_at=stamp,
            )
            bundle.version = 1 + ARTIFACTS_PER_BUNDLE
            bundles.append(bundle)
            seeded.bundles_by_role[role].append(bundle.id)
            if role == "read":
                seeded.bundle_artifacts[bundle.id] = []
        assert bundle is not None
        task, made = bench_core._task_with_artifacts(bundle, index, actor_id, stamp)
        if role == "blocked":
            task.proof_requirement = ProofRequirement(
                ProofType.ARTIFACT, artifact_type=ArtifactType.TRANSCRIPT
            )
        seeded.tasks_by_role[role].append(task.id)
        if role == "read":
            seeded.task_artifacts[task.id] = sorted(a.id for a in made)
            seeded.bundle_artifacts[bundle.id] += [a.id for a in made]
        seeded.drafts += [a.id for a in made if a.status == ArtifactStatus.DRAFT]
        if index % SAMPLE_EVERY == 0:
            seeded.sample_artifacts.append(made[0].id)
        batch.append((task, made))
        if len(batch) == unit_tasks or index == n_tasks - 1:
            write(bundles, batch, actor_id)
            bundles, batch = [], []
    seeded.drafts.sort()
    for ids in seeded.bundle_artifacts.values():
        ids.sort()
    seeded.seconds = time.perf_counter() - started
    return seeded


# --- stores -----------------------------------------------------------------------------


def sqlite_env(home: Path) -> dict[str, str]:
    return {
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(home),
        "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
        "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


def dynamo_env(home: Path, endpoint: str, prefix: str) -> dict[str, str]:
    """DynamoDB on `endpoint`, every table named `<prefix>-<entity>` (one set per size)."""
    tables = {
        f"DATAOPS_{entity.upper()}_TABLE": f"{prefix}-{entity.replace('_', '-')}"
        for entity in TABLE_ENTITIES
    }
    return {
        **sqlite_env(home),
        **AWS_TEST_ENV,
        **tables,
        "DATAOPS_STORE": "dynamodb",
        "DATAOPS_DYNAMODB_ENDPOINT": endpoint,
        "DATAOPS_AUTO_CREATE_TABLES": "true",
        "DATAOPS_BLOB_STORE": "disabled",
    }


def open_workspace(env: Mapping[str, str]) -> tuple[Workspace, Actor]:
    """The workspace for `env`, its first admin created, and that admin as an actor."""
    ws = runtime.build_workspace(Settings.from_env(env))
    runtime.bootstrap_admin(ws)
    user = auth.login(ws, ADMIN_EMAIL, ADMIN_PASSWORD).user
    return ws, Actor(id=user.id, email=user.email, role=Role.ADMIN)


def seed_sqlite_in_child(home: str, size: int) -> Seeded:
    """Seed a SQLite store in a worker process (big sizes seed while others are measured)."""
    ws, actor = open_workspace(sqlite_env(Path(home)))
    try:
        return seed(ws, size, actor.id)
    finally:
        ws.store.close()


# --- DynamoDB metering ---------------------------------------------------------------


def _item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's item size: attribute names plus values (strings and numbers as text)."""
    total = 0
    for name, value in item.items():
        ((_, raw),) = value.items()
        total += len(name.encode()) + len(str(raw).encode())
    return total


@dataclass
class Counters:
    calls: int = 0
    items_read: int = 0  # Query ScannedCount + items GetItem / BatchGetItem returned
    items_returned: int = 0  # Query Count + the same
    capacity: float = 0.0  # ConsumedCapacity.CapacityUnits as the server reports it
    read_units: float = 0.0  # estimated from item sizes (see meter)
    write_items: int = 0  # items a write call carried (TransactItems, PutItem ...)

    def minus(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f) - getattr(other, f) for f in self.__dataclass_fields__))


class DynamoMeter:
    """Counts every DynamoDB call of one botocore client: ReturnConsumedCapacity=TOTAL is
    added before each call that takes it, and the reply's ConsumedCapacity, ScannedCount
    and Count are summed after it. `read_units` estimates what AWS would bill for the
    items the reply carries: Query 0.5 per 4 KB of all items (eventually consistent),
    GetItem/BatchGetItem 1 per 4 KB of each item (strongly consistent)."""

    def __init__(self, client: Any) -> None:
        self.total = Counters()
        client.meta.events.register("before-parameter-build.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def snapshot(self) -> Counters:
        return Counters(**vars(self.total))

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"
        if model.name == "TransactWriteItems":
            self.total.write_items += len(params.get("TransactItems", []))
        elif model.name in ("PutItem", "DeleteItem", "UpdateItem"):
            self.total.write_items += 1

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        total = self.total
        total.calls += 1
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            total.capacity += float(entry.get("CapacityUnits", 0.0))
        if model.name == "Query":
            items = parsed.get("Items", [])
            total.items_read += int(parsed.get("ScannedCount", len(items)))
            total.items_returned += int(parsed.get("Count", len(items)))
            size = sum(_item_bytes(i) for i in items)
            total.read_units += 0.5 * max(1, math.ceil(size / 4096))
        elif model.name == "GetItem":
            item = parsed.get("Item")
            if item:
                total.items_read += 1
                total.items_returned += 1
            total.read_units += max(1, math.ceil(_item_bytes(item or {}) / 4096))
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                total.items_read += len(items)
                total.items_returned += len(items)
                total.read_units += sum(max(1, math.ceil(_item_bytes(i) / 4096)) for i in items)


# --- figures ----------------------------------------------------------------------------


def timing(samples: list[float]) -> Timing:
    if len(samples) < 2:
        only = round(samples[0], 3) if samples else 0.0
        return Timing(only, only, len(samples))
    p95 = statistics.quantiles(samples, n=100, method="inclusive")[94]
    return Timing(round(statistics.median(samples), 3), round(p95, 3), len(samples))


def host_info() -> dict[str, Any]:
    return {
        "date": dt.date.today().isoformat(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "argv": sys.argv[1:],
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
