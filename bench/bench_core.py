"""Core latency benchmark: list artifacts by task and the task proof check, at growing
store sizes, through the portal (cookie -> broker -> engine, in process) and by calling
the services directly.

    .venv/bin/python bench/bench_core.py [--sizes 1000,100000] [--reps 300]

Prints a table and writes bench/results/<YYYY-MM-DD>-<hostname>-core.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dataops import runtime
from dataops.config import Settings
from dataops.domain.clock import new_id, now_ts
from dataops.domain.codec import to_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    EntityType,
    ProofType,
    StorageProvider,
)
from dataops.domain.messages import AuditEvent
from dataops.domain.models import Artifact, Bundle, ProofRequirement, Task
from dataops.services import artifact_reads, tasks
from dataops.services.context import Workspace
from dataops.store.port import PageRequest, UnitOfWork

ARTIFACTS_PER_TASK = 10
ARTIFACTS_PER_BUNDLE = 100
APPROVED_INDEX = ARTIFACTS_PER_TASK - 1  # 1 in 10 approved: the last one of each task
OTHER_STATUSES = (ArtifactStatus.DRAFT, ArtifactStatus.NEEDS_REVIEW, ArtifactStatus.REJECTED)
TASKS_PER_WRITE_UNIT = 500
TARGET_TASKS = 20
WITHIN = 1.5
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-1"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Seeded:
    size: int
    seconds: float
    task_ids: list[str]
    artifacts_by_task: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    reps: int


# --- seeding ----------------------------------------------------------------------------


def _audit(actor_id: str, entity_type: EntityType, record: Any, stamp: str) -> AuditEvent:
    return AuditEvent(
        id=new_id("evt"),
        entity_type=entity_type,
        entity_id=record.id,
        action="create",
        created_at=stamp,
        actor_id=actor_id,
        after=to_dict(record),
    )


def _task_with_artifacts(
    bundle: Bundle, index: int, actor_id: str, stamp: str
) -> tuple[Task, list[Artifact]]:
    """One task and its artifacts as register_artifact(taskId, bundleId) leaves them."""
    task = Task(
        id=new_id("tsk"),
        description=f"Publish episode part {index}",
        date=(dt.date(2025, 1, 1) + dt.timedelta(days=index % 365)).isoformat(),
        created_at=stamp,
        updated_at=stamp,
        bundle_id=bundle.id,
        proof_requirement=ProofRequirement(ProofType.ARTIFACT),
    )
    made = []
    for n in range(ARTIFACTS_PER_TASK):
        approved = n == APPROVED_INDEX
        artifact = Artifact(
            id=new_id("art"),
            type=ArtifactType.REPORT if n % 2 else ArtifactType.TRANSCRIPT,
            title=f"Artifact {index}.{n}",
            storage_uri=f"https://docs.example.org/{index}/{n}",
            storage_provider=StorageProvider.EXTERNAL_URL,
            created_at=stamp,
            updated_at=stamp,
            status=ArtifactStatus.APPROVED if approved else OTHER_STATUSES[n % 3],
            task_id=task.id,
            bundle_id=bundle.id,
            created_by=actor_id,
            reviewed_by=actor_id if approved else None,
            reviewed_at=stamp if approved else None,
        )
        made.append(artifact)
        task.artifact_refs.append(artifact.ref())
        bundle.artifact_refs.append(artifact.ref())
    task.version = 1 + ARTIFACTS_PER_TASK  # each registration relinks (saves) the task
    return task, made


def _write(
    uow: UnitOfWork,
    bundles: list[Bundle],
    batch: list[tuple[Task, list[Artifact]]],
    actor_id: str,
    stamp: str,
) -> None:
    for bundle in bundles:
        uow.bundles.add(bundle)
        uow.audit_events.add(_audit(actor_id, EntityType.BUNDLE, bundle, stamp))
    for task, made in batch:
        uow.tasks.add(task)
        uow.audit_events.add(_audit(actor_id, EntityType.TASK, task, stamp))
        for artifact in made:
            uow.artifacts.add(artifact)
            uow.audit_events.add(_audit(actor_id, EntityType.ARTIFACT, artifact, stamp))


def seed(ws: Workspace, size: int, actor_id: str) -> Seeded:
    """`size` artifacts: 10 per task, 100 per bundle, 10 % approved; written through the
    repositories, one write unit of work per batch of tasks."""
    started = time.perf_counter()
    stamp = now_ts()
    n_tasks = size // ARTIFACTS_PER_TASK
    tasks_per_bundle = ARTIFACTS_PER_BUNDLE // ARTIFACTS_PER_TASK
    seeded = Seeded(size, 0.0, [])
    bundles: list[Bundle] = []
    batch: list[tuple[Task, list[Artifact]]] = []
    bundle: Bundle | None = None
    for index in range(n_tasks):
        if index % tasks_per_bundle == 0:
            bundle = Bundle(
                id=new_id("bun"),
                title=f"Episode {index // tasks_per_bundle}",
                created_at=stamp,
                updated_at=stamp,
            )
            bundle.version = 1 + ARTIFACTS_PER_BUNDLE
            bundles.append(bundle)
        assert bundle is not None
        task, made = _task_with_artifacts(bundle, index, actor_id, stamp)
        batch.append((task, made))
        seeded.task_ids.append(task.id)
        seeded.artifacts_by_task[task.id] = sorted(a.id for a in made)
        if len(batch) == TASKS_PER_WRITE_UNIT or index == n_tasks - 1:
            with ws.store.unit_of_work(write=True) as uow:
                _write(uow, bundles, batch, actor_id, stamp)
                uow.commit()
            bundles, batch = [], []
    seeded.seconds = time.perf_counter() - started
    return seeded


# --- measuring --------------------------------------------------------------------------


@dataclass
class Subject:
    """One seeded store of a given size, with a logged-in portal client in front of it."""

    seeded: Seeded
    ws: Workspace
    client: TestClient
    chosen: list[str]
    samples: dict[str, list[float]] = field(default_factory=dict)

    def pick(self, i: int) -> str:
        return self.chosen[i % len(self.chosen)]

    def calls(self) -> dict[str, Callable[[int], None]]:
        def portal_list(i: int) -> None:
            response = self.client.get("/work/api/artifacts", params={"taskId": self.pick(i)})
            assert response.status_code == 200, response.text

        def portal_proof(i: int) -> None:
            response = self.client.get(f"/work/api/tasks/{self.pick(i)}/proof")
            assert response.status_code == 200, response.text

        def service_list(i: int) -> None:
            artifact_reads.list_artifacts(self.ws, {"task_id": self.pick(i)}, PageRequest())

        def service_proof(i: int) -> None:
            tasks.proof_state(self.ws, self.pick(i))

        return {
            "list-by-task/portal": portal_list,
            "list-by-task/service": service_list,
            "proof/portal": portal_proof,
            "proof/service": service_proof,
        }


def targets(seeded: Seeded) -> list[str]:
    """Tasks spread evenly from the first to the last, so no position is favoured."""
    ids = seeded.task_ids
    count = min(TARGET_TASKS, len(ids))
    if count == 1:
        return ids[:1]
    return [ids[round(i * (len(ids) - 1) / (count - 1))] for i in range(count)]


def check(subject: Subject) -> list[str]:
    """The list by task returns exactly the task's 10 artifacts; the proof says done-able."""
    problems = []
    ws, client = subject.ws, subject.client
    for task_id in subject.chosen:
        expected = subject.seeded.artifacts_by_task[task_id]
        via_portal = client.get("/work/api/artifacts", params={"taskId": task_id}).json()
        direct = artifact_reads.list_artifacts(ws, {"task_id": task_id}, PageRequest())
        if [a["id"] for a in via_portal["items"]] != expected:
            problems.append(f"portal list for {task_id} != its {len(expected)} artifacts")
        if [a.id for a in direct.items] != expected:
            problems.append(f"service list for {task_id} != its {len(expected)} artifacts")
        proof = client.get(f"/work/api/tasks/{task_id}/proof").json()
        if proof.get("canComplete") is not True:
            problems.append(f"portal proof for {task_id}: {proof}")
        if not tasks.proof_state(ws, task_id).can_complete:
            problems.append(f"service proof for {task_id} is not canComplete")
    return problems


def open_subject(stack: contextlib.ExitStack, size: int) -> Subject:
    home = stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-bench-"))
    settings = Settings.from_env(
        {
            "DATAOPS_ENV": "test",
            "DATAOPS_HOME": home,
            "DATAOPS_ADMIN_EMAIL": ADMIN_EMAIL,
            "DATAOPS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
    )
    ws = runtime.build_workspace(settings)
    stack.callback(ws.store.close)
    runtime.bootstrap_admin(ws)
    client = stack.enter_context(TestClient(runtime.build_single_process(ws)))
    login = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    login.raise_for_status()
    seeded = seed(ws, size, login.json()["user"]["id"])
    return Subject(seeded, ws, client, targets(seeded))


def measure(subjects: list[Subject], warmup: int, reps: int, rounds: int) -> None:
    """Time every operation on every size in interleaved rounds, so load on the machine
    that comes and goes weighs on all sizes alike."""
    per_round = -(-reps // rounds)
    for subject in subjects:
        for name, call in subject.calls().items():
            subject.samples[name] = []
            for i in range(warmup):
                call(i)
    for round_no in range(rounds):
        order = subjects if round_no % 2 == 0 else subjects[::-1]
        for subject in order:
            for name, call in subject.calls().items():
                samples = subject.samples[name]
                for i in range(len(samples), min(len(samples) + per_round, reps)):
                    started = time.perf_counter()
                    call(i)
                    samples.append((time.perf_counter() - started) * 1000)


def timing(samples: list[float]) -> Timing:
    p95 = statistics.quantiles(samples, n=100, method="inclusive")[94]
    return Timing(round(statistics.median(samples), 3), round(p95, 3), len(samples))


def run(sizes: list[int], warmup: int, reps: int, rounds: int) -> list[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        subjects = []
        for size in sizes:
            print(f"... seeding {size} artifacts", file=sys.stderr, flush=True)
            subjects.append(open_subject(stack, size))
        problems = [check(subject) for subject in subjects]
        print("... measuring", file=sys.stderr, flush=True)
        measure(subjects, warmup, reps, rounds)
        return [
            {
                "size": subject.seeded.size,
                "tasks": len(subject.seeded.task_ids),
                "bundles": subject.seeded.size // ARTIFACTS_PER_BUNDLE,
                "seedSeconds": round(subject.seeded.seconds, 2),
                "correct": not found,
                "problems": found,
                "timings": {name: vars(timing(s)) for name, s in subject.samples.items()},
            }
            for subject, found in zip(subjects, problems, strict=True)
        ]


# --- reporting --------------------------------------------------------------------------


def ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    first, last = results[0], results[-1]
    out = {}
    for name, small in first["timings"].items():
        large = last["timings"][name]
        p50 = large["p50_ms"] / small["p50_ms"]
        p95 = large["p95_ms"] / small["p95_ms"]
        out[name] = {
            "from": first["size"],
            "to": last["size"],
            "p50Ratio": round(p50, 2),
            "p95Ratio": round(p95, 2),
            "withinLimit": p50 <= WITHIN,
        }
    return out


def print_report(results: list[dict[str, Any]], summary: dict[str, dict[str, Any]]) -> None:
    print(f"{'artifacts':>10}  {'operation / path':<22}{'p50 ms':>9}{'p95 ms':>9}{'reps':>6}")
    for result in results:
        for name, timing in result["timings"].items():
            print(
                f"{result['size']:>10}  {name:<22}{timing['p50_ms']:>9.3f}"
                f"{timing['p95_ms']:>9.3f}{timing['reps']:>6}"
            )
        state = "ok" if result["correct"] else "FAILED: " + "; ".join(result["problems"])
        print(f"{'':>10}  seeded in {result['seedSeconds']} s; correctness {state}")
    if len(results) > 1:
        print()
        first, last = results[0]["size"], results[-1]["size"]
        print(
            f"{'ratio ' + str(last) + '/' + str(first):<34}{'p50':>7}{'p95':>7}  within {WITHIN}x"
        )
        for name, ratio in summary.items():
            verdict = "yes" if ratio["withinLimit"] else "NO"
            print(f"{name:<34}{ratio['p50Ratio']:>7.2f}{ratio['p95Ratio']:>7.2f}  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="artifact counts, e.g. 1000,100000")
    parser.add_argument("--reps", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls first")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per size")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(s < ARTIFACTS_PER_BUNDLE or s % ARTIFACTS_PER_BUNDLE for s in sizes):
        parser.error(f"sizes must be multiples of {ARTIFACTS_PER_BUNDLE}")
    if args.reps < 2:
        parser.error("--reps must be at least 2")
    started = time.perf_counter()
    load_before = os.getloadavg()
    results = run(sizes, args.warmup, args.reps, max(1, args.rounds))
    summary = ratios(results) if len(results) > 1 else {}
    print_report(results, summary)
    report = {
        "benchmark": "bench_core",
        "date": dt.date.today().isoformat(),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "seconds": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "loadAverage": {"before": load_before, "after": os.getloadavg()},
        "results": results,
        "ratios": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{report['date']}-{report['host']}-core.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path} ({report['seconds']} s)")
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
