"""Scale curve: latency of every request path from 1k to 1M artifacts (SQLite) and on
DynamoDB (a moto server), in process (the services) and through a real `dataops serve`
(HTTP on loopback, session cookie), with the results checked at every size.

    .venv/bin/python bench/bench_scale.py                     # SQLite 1k..1M, DynamoDB 1k, 10k
    .venv/bin/python bench/bench_scale.py --sizes 1000,10000 --dynamo-sizes 1000
    .venv/bin/python bench/bench_scale.py --dynamo-100k       # DynamoDB up to 100k (slow)

Prints a table and writes bench/results/<YYYY-MM-DD>-<hostname>-scale.json. Exits 1 when
any list, proof or completion result is wrong. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import httpx

import servers
import workload
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactStatus, ArtifactType, TaskStatus
from dataops.domain.errors import ProofMissing
from dataops.domain.status import ReviewAction
from dataops.services import artifact_reads, artifact_review, artifacts, tasks
from dataops.services.context import Workspace
from dataops.store.cursor import encode_cursor
from dataops.store.port import PageRequest
from workload import Counters, DynamoMeter, Seeded

SQLITE_SIZES = "1000,10000,100000,1000000"
DYNAMO_SIZES = "1000,10000"
WALK_PAGES = 5
PAGE = 100
WITHIN = 1.5
FLAT_OPS = ("list-by-task", "proof")  # the issue's 1.5x target
PATHS = ("service", "http")
MAX_PROBLEMS = 20

Call = Callable[[int], bool]


@dataclass
class Subject:
    """One seeded store, its in-process workspace and a `dataops serve` in front of it."""

    backend: str
    seeded: Seeded
    ws: Workspace
    actor: Actor
    served: servers.Child | None  # None when only the service path is measured
    http: httpx.Client | None
    meter: DynamoMeter | None
    paths: tuple[str, ...] = PATHS
    samples: dict[str, list[float]] = field(default_factory=dict)
    usage: dict[str, list[Counters]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)  # op/path -> [ok, calls]
    problems: list[str] = field(default_factory=list)
    created: dict[str, collections.deque[str]] = field(default_factory=dict)
    followups: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.seeded
        self.read_tasks = s.targets("read")
        self.read_bundles = s.targets("read", "bundles")
        self.complete_tasks = s.targets("complete")
        self.blocked_tasks = s.targets("blocked")
        self.write_tasks = s.targets("write")
        span = WALK_PAGES * PAGE
        last = max(0, len(s.drafts) - span)
        self.walk_starts = workload.spread(list(range(last + 1)), workload.TARGETS) or [0]
        self.created = {path: collections.deque() for path in PATHS}

    @property
    def size(self) -> int:
        return self.seeded.size

    def problem(self, text: str) -> bool:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        return False

    # --- operations: each returns whether the result was exactly right -----------------

    def operations(self) -> dict[str, dict[str, Call]]:
        every = self._every_operation()
        return {
            op: {p: fn for p, fn in calls.items() if p in self.paths} for op, calls in every.items()
        }

    def _every_operation(self) -> dict[str, dict[str, Call]]:
        return {
            "list-by-task": {"service": self.list_task_service, "http": self.list_task_http},
            "list-by-bundle": {"service": self.list_bundle_service, "http": self.list_bundle_http},
            "list-by-status": {"service": self.walk_service, "http": self.walk_http},
            "proof": {"service": self.proof_service, "http": self.proof_http},
            "proof-blocked": {
                "service": self.proof_blocked_service,
                "http": self.proof_blocked_http,
            },
            "complete": {"service": self.complete_service, "http": self.complete_http},
            "complete-blocked": {
                "service": self.blocked_service,
                "http": self.blocked_http,
            },
            "create-artifact": {"service": self.create_service, "http": self.create_http},
            "approve": {"service": self.approve_service, "http": self.approve_http},
        }

    def _pick(self, ids: list[str], i: int) -> str:
        return ids[i % len(ids)]

    def _same(self, what: str, got: list[str], expected: list[str]) -> bool:
        if got == expected:
            return True
        return self.problem(f"{what}: {len(got)} items, expected exactly {len(expected)}")

    def list_task_service(self, i: int) -> bool:
        task_id = self._pick(self.read_tasks, i)
        page = artifact_reads.list_artifacts(self.ws, {"task_id": task_id}, PageRequest())
        got = [a.id for a in page.items]
        expected = self.seeded.task_artifacts[task_id]
        return self._same(f"service list of task {task_id}", got, expected)

    def list_task_http(self, i: int) -> bool:
        task_id = self._pick(self.read_tasks, i)
        body = self._get("/work/api/artifacts", {"taskId": task_id})
        got = [a["id"] for a in body.get("items", [])]
        return self._same(f"http list of task {task_id}", got, self.seeded.task_artifacts[task_id])

    def list_bundle_service(self, i: int) -> bool:
        bundle_id = self._pick(self.read_bundles, i)
        page = artifact_reads.list_artifacts(self.ws, {"bundle_id": bundle_id}, PageRequest(PAGE))
        got = [a.id for a in page.items]
        expected = self.seeded.bundle_artifacts[bundle_id]
        return self._same(f"service list of bundle {bundle_id}", got, expected)

    def list_bundle_http(self, i: int) -> bool:
        bundle_id = self._pick(self.read_bundles, i)
        body = self._get("/work/api/artifacts", {"bundleId": bundle_id, "limit": str(PAGE)})
        got = [a["id"] for a in body.get("items", [])]
        expected = self.seeded.bundle_artifacts[bundle_id]
        return self._same(f"http list of bundle {bundle_id}", got, expected)

    def _walk_start(self, i: int) -> tuple[int, str | None]:
        start = self.walk_starts[i % len(self.walk_starts)]
        return start, encode_cursor([self.seeded.drafts[start - 1]]) if start else None

    def _walk_expected(self, start: int) -> list[str]:
        return self.seeded.drafts[start : start + WALK_PAGES * PAGE]

    def walk_service(self, i: int) -> bool:
        start, cursor = self._walk_start(i)
        got: list[str] = []
        for _ in range(WALK_PAGES):
            page = artifact_reads.list_artifacts(
                self.ws, {"status": ArtifactStatus.DRAFT.value}, PageRequest(PAGE, cursor)
            )
            got += [a.id for a in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        return self._same(f"service walk of drafts from {start}", got, self._walk_expected(start))

    def walk_http(self, i: int) -> bool:
        start, cursor = self._walk_start(i)
        got: list[str] = []
        for _ in range(WALK_PAGES):
            params = {"status": "draft", "limit": str(PAGE)}
            if cursor:
                params["cursor"] = cursor
            body = self._get("/work/api/artifacts", params)
            got += [a["id"] for a in body.get("items", [])]
            cursor = body.get("nextCursor")
            if cursor is None:
                break
        return self._same(f"http walk of drafts from {start}", got, self._walk_expected(start))

    def proof_service(self, i: int) -> bool:
        task_id = self._pick(self.read_tasks, i)
        if tasks.proof_state(self.ws, task_id).can_complete:
            return True
        return self.problem(f"service proof of {task_id} is not canComplete")

    def proof_http(self, i: int) -> bool:
        task_id = self._pick(self.read_tasks, i)
        if self._get(f"/work/api/tasks/{task_id}/proof").get("canComplete") is True:
            return True
        return self.problem(f"http proof of {task_id} is not canComplete")

    def proof_blocked_service(self, i: int) -> bool:
        task_id = self._pick(self.blocked_tasks, i)
        if not tasks.proof_state(self.ws, task_id).can_complete:
            return True
        return self.problem(f"service proof of blocked {task_id} says canComplete")

    def proof_blocked_http(self, i: int) -> bool:
        task_id = self._pick(self.blocked_tasks, i)
        if self._get(f"/work/api/tasks/{task_id}/proof").get("canComplete") is False:
            return True
        return self.problem(f"http proof of blocked {task_id} says canComplete")

    def complete_service(self, i: int) -> bool:
        task_id = self._pick(self.complete_tasks, i)
        done = tasks.update_task(self.ws, self.actor, task_id, {"status": TaskStatus.DONE}, None)

        def reopen() -> None:
            tasks.update_task(self.ws, self.actor, task_id, {"status": TaskStatus.TODO}, None)

        self.followups.append(reopen)
        if done.status == TaskStatus.DONE and done.completion_proof:
            return True
        return self.problem(f"service completion of {task_id} left it {done.status.value}")

    def complete_http(self, i: int) -> bool:
        task_id = self._pick(self.complete_tasks, i)
        response = self.http.patch(f"/work/api/tasks/{task_id}", json={"status": "done"})

        def reopen() -> None:
            again = self.http.patch(f"/work/api/tasks/{task_id}", json={"status": "todo"})
            if again.status_code != 200:
                self.problem(f"http reopen of {task_id}: {again.status_code} {again.text[:300]}")

        if response.status_code == 200 and response.json().get("status") == "done":
            self.followups.append(reopen)
            return True
        return self.problem(
            f"http completion of {task_id}: {response.status_code} {response.text[:300]}"
        )

    def blocked_service(self, i: int) -> bool:
        task_id = self._pick(self.blocked_tasks, i)
        try:
            tasks.update_task(self.ws, self.actor, task_id, {"status": TaskStatus.DONE}, None)
        except ProofMissing:
            return True
        return self.problem(f"service completion of blocked {task_id} was not refused")

    def blocked_http(self, i: int) -> bool:
        task_id = self._pick(self.blocked_tasks, i)
        response = self.http.patch(f"/work/api/tasks/{task_id}", json={"status": "done"})
        if response.status_code == 409 and "proof-missing" in response.text:
            return True
        return self.problem(
            f"http completion of blocked {task_id}: {response.status_code} {response.text[:300]}"
        )

    def create_service(self, i: int) -> bool:
        task_id = self._pick(self.write_tasks, i)
        data = {
            "type": ArtifactType.REPORT,
            "title": f"Bench output {i}",
            "storage_uri": f"https://docs.example.org/bench/{i}",
            "task_id": task_id,
            "status": ArtifactStatus.NEEDS_REVIEW,
        }
        made = artifacts.register_artifact(self.ws, self.actor, data)
        self.created["service"].append(made.id)
        return made.task_id == task_id or self.problem(f"service create on {task_id}")

    def create_http(self, i: int) -> bool:
        task_id = self._pick(self.write_tasks, i)
        body = {
            "type": "report",
            "title": f"Bench output {i}",
            "storageUri": f"https://docs.example.org/bench/{i}",
            "taskId": task_id,
            "status": "needs-review",
        }
        response = self.http.post("/work/api/artifacts", json=body)
        if response.status_code != 201:
            return self.problem(
                f"http create on {task_id}: {response.status_code} {response.text[:300]}"
            )
        self.created["http"].append(response.json()["id"])
        return True

    def _to_approve(self, path: str, i: int) -> str:
        queue = self.created[path]
        if not queue:  # never expected: creates run first in every round
            (self.create_service if path == "service" else self.create_http)(i)
        return queue.popleft()

    def approve_service(self, i: int) -> bool:
        artifact_id = self._to_approve("service", i)
        done = artifact_review.review_artifact(
            self.ws, self.actor, artifact_id, ReviewAction.APPROVE
        )
        return done.status == ArtifactStatus.APPROVED or self.problem(f"approve {artifact_id}")

    def approve_http(self, i: int) -> bool:
        artifact_id = self._to_approve("http", i)
        response = self.http.post(f"/work/api/artifacts/{artifact_id}/approve")
        if response.status_code == 200 and response.json().get("status") == "approved":
            return True
        return self.problem(
            f"http approve {artifact_id}: {response.status_code} {response.text[:300]}"
        )

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            self.problem(f"GET {path}: {response.status_code} {response.text[:200]}")
            return {}
        body: dict[str, Any] = response.json()
        return body

    # --- one timed call ----------------------------------------------------------------

    def call(self, op: str, path: str, fn: Call, i: int, timed: bool) -> None:
        metered = self.meter is not None and path == "service"
        before = self.meter.snapshot() if self.meter is not None and metered else None
        started = time.perf_counter()
        try:
            ok = fn(i)
        except Exception as exc:  # a wrong result, counted and reported, not a crash
            ok = self.problem(f"{op}/{path}: {type(exc).__name__}: {str(exc)[:200]}")
        elapsed = (time.perf_counter() - started) * 1000
        if self.meter is not None and before is not None and timed:
            self.usage.setdefault(op, []).append(self.meter.snapshot().minus(before))
        for followup in self.followups:
            followup()
        self.followups.clear()
        tally = self.counts.setdefault(f"{op}/{path}", [0, 0])
        tally[0] += ok
        tally[1] += 1
        if timed:
            self.samples.setdefault(f"{op}/{path}", []).append(elapsed)


# --- building subjects --------------------------------------------------------------------


LOGS: Path | None = None  # --logs: keep the child processes' logs here


def _serve(backend: str, env: dict[str, str], home: Path, size: int) -> servers.Child:
    log = (LOGS or home) / f"serve-{backend}-{size}.log"
    return servers.dataops(["serve"], {**os.environ, **env}, log)


def open_subjects(
    stack: contextlib.ExitStack,
    backend: str,
    sizes: list[int],
    endpoint: str | None,
    background: int | None,
    paths: tuple[str, ...] = PATHS,
    timeout: float | None = None,
) -> list[Subject]:
    """Seed every size (the `background` size in a worker process while the others seed
    here), then start a `dataops serve` per size and log in (unless `paths` leaves out
    "http"). `timeout` (DynamoDB): see `patient_client`."""
    prepared: list[tuple[int, dict[str, str], Path, Workspace, Actor]] = []
    for size in sizes:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-scale-")))
        if backend == "sqlite":
            env = workload.sqlite_env(home)
        else:
            assert endpoint is not None
            env = workload.dynamo_env(home, endpoint, f"bench{size}")
        ws, actor = workload.open_workspace(env)
        stack.callback(ws.store.close)
        if timeout is not None:
            ws.store.client = patient_client(ws.store.client, timeout)  # type: ignore[attr-defined]
        prepared.append((size, env, home, ws, actor))
    seeded: dict[int, Seeded | Future[Seeded]] = {}
    pool: ProcessPoolExecutor | None = None
    if background is not None:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        stack.callback(pool.shutdown)
        home = next(h for s, _, h, _, _ in prepared if s == background)
        _log(f"seeding {background} {backend} artifacts in a worker process")
        seeded[background] = pool.submit(workload.seed_sqlite_in_child, str(home), background)
    for size, _, _, ws, actor in prepared:
        if size not in seeded:
            _log(f"seeding {size} {backend} artifacts")
            writer = workload.dynamo_bulk_writer(ws.store) if backend == "dynamodb" else None
            seeded[size] = workload.seed(ws, size, actor.id, writer=writer)
            _log(f"  seeded {size} in {seeded[size].seconds:.1f} s")  # type: ignore[union-attr]
    subjects = []
    for size, env, home, ws, actor in prepared:
        done = seeded[size]
        if isinstance(done, Future):
            _log(f"waiting for the worker seeding {size}")
            done = done.result()
            _log(f"  seeded {size} in {done.seconds:.1f} s")
        served: servers.Child | None = None
        client: httpx.Client | None = None
        if "http" in paths:
            served = _serve(backend, env, home, size)
            stack.callback(served.stop)
            client = servers.login(served.base_url, workload.ADMIN_EMAIL, workload.ADMIN_PASSWORD)
            stack.callback(client.close)
        meter = DynamoMeter(ws.store.client) if backend == "dynamodb" else None  # type: ignore[attr-defined]
        subjects.append(Subject(backend, done, ws, actor, served, client, meter, paths))
    return subjects


def patient_client(client: Any, timeout: float) -> Any:
    """The store's DynamoDB client with a `timeout` s read timeout and no retries, for moto at
    100k: moto copies every table for each TransactWriteItems (seconds at that size), so the
    store's 15 s read timeout fires, botocore retries the transaction, and moto — which
    ignores ClientRequestToken, unlike DynamoDB — applies it a second time and the retry fails
    its version condition. Only timing and retries change; requests are the store's own."""
    config = client.meta.config.merge(
        botocore.config.Config(
            read_timeout=timeout, retries={"mode": "standard", "max_attempts": 1}
        )
    )
    return boto3.session.Session().client(
        "dynamodb",
        region_name=client.meta.region_name,
        endpoint_url=client.meta.endpoint_url,
        config=config,
    )


def measure(subjects: list[Subject], warmup: int, reps: int, rounds: int) -> list[list[float]]:
    """Warm up, then time every operation and path on every size in interleaved rounds
    (the order of sizes and of paths flips each round). Returns the load average seen."""
    loads = [workload.load_average()]
    for subject in subjects:
        for op, paths in subject.operations().items():
            for path, fn in paths.items():
                for i in range(warmup):
                    subject.call(op, path, fn, i, timed=False)
    per_round = -(-reps // rounds)
    for round_no in range(rounds):
        order = subjects if round_no % 2 == 0 else subjects[::-1]
        for subject in order:
            for op, paths in subject.operations().items():
                names = list(paths) if round_no % 2 == 0 else list(paths)[::-1]
                for path in names:
                    done = len(subject.samples.get(f"{op}/{path}", []))
                    for i in range(done, min(done + per_round, reps)):
                        subject.call(op, path, paths[path], warmup + i, timed=True)
        loads.append(workload.load_average())
        _log(f"  round {round_no + 1}/{rounds} done, load average {loads[-1]}")
    return loads


# --- reporting ------------------------------------------------------------------------------


def _usage(samples: list[Counters]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (f.name for f in fields(Counters)):
        values = [getattr(c, name) for c in samples]
        out[name] = {
            "median": round(statistics.median(values), 2),
            "max": round(max(values), 2),
        }
    return out


def result_of(subject: Subject, seconds: float) -> dict[str, Any]:
    s = subject.seeded
    counts = {key: {"ok": ok, "calls": calls} for key, (ok, calls) in subject.counts.items()}
    return {
        "backend": subject.backend,
        "size": s.size,
        "tasks": s.tasks,
        "bundles": s.bundles,
        "drafts": len(s.drafts),
        "walkPages": min(WALK_PAGES, -(-len(s.drafts) // PAGE)),
        "seedSeconds": round(s.seconds, 1),
        "measureSeconds": round(seconds, 1),
        "correct": not subject.problems
        and all(ok == calls for ok, calls in subject.counts.values()),
        "counts": counts,
        "problems": subject.problems,
        "timings": {key: vars(workload.timing(v)) for key, v in subject.samples.items()},
        "dynamoPerRequest": {op: _usage(v) for op, v in subject.usage.items()},
    }


def ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    first, last = results[0], results[-1]
    out = {}
    for key, small in first["timings"].items():
        large = last["timings"][key]
        scale = 1.0  # a walk of drafts has fewer pages at 1k: compare per page
        if key.startswith("list-by-status/"):
            scale = first["walkPages"] / last["walkPages"]
        p50 = scale * large["p50_ms"] / small["p50_ms"] if small["p50_ms"] else 0.0
        p95 = scale * large["p95_ms"] / small["p95_ms"] if small["p95_ms"] else 0.0
        out[key] = {
            "from": first["size"],
            "to": last["size"],
            "p50Ratio": round(p50, 2),
            "p95Ratio": round(p95, 2),
            "withinLimit": p50 <= WITHIN,
            "target": key.split("/")[0] in FLAT_OPS,
        }
    return out


def items_flat(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """DynamoDB: items read per request at each size (median), and whether it is the same
    at every size."""
    out: dict[str, dict[str, Any]] = {}
    for result in results:
        for op, usage in result["dynamoPerRequest"].items():
            # a walk of drafts has fewer pages at 1k: per page
            per = result["walkPages"] if op == "list-by-status" else 1
            entry = out.setdefault(op, {"per": "page" if op == "list-by-status" else "request"})
            for name, key in (
                ("calls", "calls"),
                ("itemsRead", "items_read"),
                ("readUnits", "read_units"),
                ("capacity", "capacity"),
                ("writeItems", "write_items"),
            ):
                value = round(usage[key]["median"] / per, 2)
                entry.setdefault(name, {})[str(result["size"])] = value
    for entry in out.values():  # within 5 %: a last page may hold a row less (no look-ahead)
        values = list(entry["itemsRead"].values())
        entry["independentOfSize"] = (
            max(values) <= 1.05 * min(values) if min(values) else (max(values) == 0)
        )
    return out


def print_report(report: dict[str, Any]) -> None:
    for backend in ("sqlite", "dynamodb"):
        results = report["backends"].get(backend)
        if not results:
            continue
        print(f"\n== {backend}: latency (ms), in process (service), through dataops serve (http)")
        print(f"{'artifacts':>10}  {'operation':<18}{'path':<8}{'p50':>9}{'p95':>9}{'reps':>6}")
        for result in results:
            for key, t in result["timings"].items():
                op, path = key.split("/")
                print(
                    f"{result['size']:>10}  {op:<18}{path:<8}{t['p50_ms']:>9.2f}"
                    f"{t['p95_ms']:>9.2f}{t['reps']:>6}"
                )
            print(
                f"{'':>10}  seeded in {result['seedSeconds']} s; list-by-status walks "
                f"{result['walkPages']} page(s) of {PAGE}"
            )
        print(f"\n== {backend}: correctness (results exactly right / calls, incl. warm-up)")
        for result in results:
            parts = [f"{k} {v['ok']}/{v['calls']}" for k, v in result["counts"].items()]
            state = "ok" if result["correct"] else "FAILED"
            print(f"{result['size']:>10}  {state}: " + ", ".join(parts))
            for text in result["problems"]:
                print(f"{'':>12}{text}")
        summary = report["ratios"].get(backend)
        if summary:
            first, last = results[0]["size"], results[-1]["size"]
            print(f"\n== {backend}: ratio {last}/{first}{'p50':>15}{'p95':>7}  within {WITHIN}x")
            for key, r in summary.items():
                verdict = "yes" if r["withinLimit"] else "NO"
                verdict += " (target)" if r["target"] else ""
                print(f"{key:<40}{r['p50Ratio']:>7.2f}{r['p95Ratio']:>7.2f}  {verdict}")
    flat = report.get("dynamoItems")
    if flat:
        sizes = [str(r["size"]) for r in report["backends"]["dynamodb"]]
        print(
            "\n== dynamodb (service path), median per request (list-by-status: per page):"
            "\n   calls / items read / estimated RCU / moto CU / items written"
        )
        print(f"{'operation':<18}" + "".join(f"{s:>34}" for s in sizes) + "  same items")
        for op, entry in flat.items():
            cells = "".join(
                f"{entry['calls'][s]:>6g} /{entry['itemsRead'][s]:>6g} /{entry['readUnits'][s]:>6g}"
                f" /{entry['capacity'][s]:>6g} /{entry['writeItems'][s]:>4g}"
                for s in sizes
            )
            print(f"{op:<18}{cells}  {'yes' if entry['independentOfSize'] else 'NO'}")


def _log(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    sizes = [int(s) for s in text.split(",") if s.strip()]
    if any(s < 1000 or s % 1000 for s in sizes):
        raise SystemExit("sizes must be multiples of 1000 (4 bundle roles of 100 artifacts)")
    return sorted(sizes)


def run_backend(
    backend: str,
    sizes: list[int],
    args: argparse.Namespace,
    endpoint: str | None = None,
) -> tuple[list[dict[str, Any]], list[list[float]]]:
    with contextlib.ExitStack() as stack:
        parallel = backend == "sqlite" and args.parallel_seed and len(sizes) > 1
        background = max(sizes) if parallel else None
        dynamo = backend == "dynamodb"
        paths = tuple(args.dynamo_paths.split(",")) if dynamo else PATHS
        timeout = args.dynamo_timeout if dynamo else None
        subjects = open_subjects(stack, backend, sizes, endpoint, background, paths, timeout)
        reps = args.dynamo_reps if dynamo else args.reps
        warmup = args.dynamo_warmup if dynamo else args.warmup
        rounds = args.dynamo_rounds if dynamo else args.rounds
        _log(f"measuring {backend}: {reps} timed calls per operation, path and size")
        started = time.perf_counter()
        loads = measure(subjects, warmup, reps, max(1, rounds))
        seconds = time.perf_counter() - started
        return [result_of(subject, seconds) for subject in subjects], loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=SQLITE_SIZES, help="SQLite artifact counts")
    parser.add_argument("--dynamo-sizes", default=DYNAMO_SIZES, help="DynamoDB artifact counts")
    parser.add_argument("--dynamo-100k", action="store_true", help="add 100000 to --dynamo-sizes")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-dynamo", action="store_true")
    parser.add_argument("--reps", type=int, default=200, help="SQLite timed calls per op/path")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--dynamo-reps", type=int, default=30)
    parser.add_argument("--dynamo-warmup", type=int, default=5)
    parser.add_argument("--dynamo-rounds", type=int, default=5)
    parser.add_argument(
        "--dynamo-paths",
        default=",".join(PATHS),
        help="DynamoDB paths to measure: service,http (default) or service",
    )
    parser.add_argument(
        "--dynamo-timeout",
        type=float,
        help="in-process DynamoDB client: this read timeout (s) and no retries (moto at 100k)",
    )
    parser.add_argument(
        "--no-parallel-seed",
        dest="parallel_seed",
        action="store_false",
        help="seed the largest SQLite size in this process too",
    )
    parser.add_argument("--out", type=Path, default=workload.RESULTS)
    parser.add_argument("--logs", type=Path, help="keep the servers' and moto's logs here")
    args = parser.parse_args(argv)
    if args.logs:
        global LOGS
        LOGS = args.logs
        LOGS.mkdir(parents=True, exist_ok=True)
    if not set(args.dynamo_paths.split(",")) <= set(PATHS):
        parser.error(f"--dynamo-paths takes {','.join(PATHS)}")
    if args.reps < 2 or args.dynamo_reps < 2:
        parser.error("--reps and --dynamo-reps must be at least 2")
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "bench_scale",
        **workload.host_info(),
        "loadAverage": {"before": workload.load_average()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "logs")},
        "backends": {},
        "ratios": {},
        "rounds": {},
    }
    if not args.no_sqlite:
        results, loads = run_backend("sqlite", _sizes(args.sizes), args)
        report["backends"]["sqlite"] = results
        report["rounds"]["sqlite"] = loads
        if len(results) > 1:
            report["ratios"]["sqlite"] = ratios(results)
    if not args.no_dynamo:
        sizes = _sizes(args.dynamo_sizes)
        if args.dynamo_100k and 100_000 not in sizes:
            sizes.append(100_000)
        os.environ.update(servers.AWS_TEST_ENV)
        with (
            tempfile.TemporaryDirectory(prefix="dataops-moto-") as logs,
            servers.moto((LOGS or Path(logs)) / "moto.log") as moto,
        ):
            dynamo_started = time.perf_counter()
            results, loads = run_backend("dynamodb", sizes, args, moto.base_url)
            report["dynamoSeconds"] = round(time.perf_counter() - dynamo_started, 1)
        report["backends"]["dynamodb"] = results
        report["rounds"]["dynamodb"] = loads
        if len(results) > 1:
            report["ratios"]["dynamodb"] = ratios(results)
        report["dynamoItems"] = items_flat(results)
    report["loadAverage"]["after"] = workload.load_average()
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    all_results = [r for results in report["backends"].values() for r in results]
    report["correct"] = all(r["correct"] for r in all_results)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{report['date']}-{report['host']}-scale.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path} ({report['seconds']} s; load average {report['loadAverage']})")
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
