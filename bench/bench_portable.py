"""Portable export benchmark: export, validate and import throughput (records/s) and peak
memory (RSS) at growing store sizes, on the embedded SQLite store; and the export of a
store holding 50,000 artifacts, to a directory and to a `.tar.gz`.

    .venv/bin/python bench/bench_portable.py [--sizes 100000,1000000] [--artifacts 50000]
                                             [--repeats 3] [--warmups 1] [--keep] [--out DIR]

Each size gets a fresh SQLite store seeded through the store port in big write batches
(every entity kind, valid relationships, tasks dated at random so the store's list order
differs from the export's id order). Export, validate and import then each run in their
own child process, so the peak RSS of each (from `os.wait4`) is its own; a child's time
includes its imports and opening the store. Each step runs `--warmups` times unmeasured,
then `--repeats` times (what it writes removed before each run); its figures are the
medians of those runs (each run's seconds are in the JSON). Prints a table and writes
bench/results/<YYYY-MM-DD>-<hostname>-portable.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dataops.domain.accounts import User
from dataops.domain.clock import new_id, now_ts
from dataops.domain.codec import to_dict
from dataops.domain.enums import (
    ArtifactStatus,
    ArtifactType,
    EntityType,
    NotificationType,
    ProofType,
    Role,
    StorageProvider,
    TaskStatus,
)
from dataops.domain.messages import AuditEvent, Notification
from dataops.domain.models import (
    Artifact,
    Bundle,
    FileRecord,
    ProofRequirement,
    RequirementVerdict,
    Task,
    Template,
)
from dataops.store.sqlite import SqliteStore

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "-ref"
"""Suffix of a step run on the reference paths (`fast=False`: no pre-filter, stdlib gzip,
records added one by one), the design before issue 20's item 3."""
WRITE_BATCH = 5_000
CHECKSUM = "sha256:" + "5e" * 32
# Share of the records per entity (per bundle: 8 tasks, 2 files, 3 artifacts, 1 note,
# 5 audit events; users and templates are few).
PER_BUNDLE = {"tasks": 8, "files": 2, "artifacts": 3, "notifications": 1, "audit_events": 5}
BUNDLE_SIZE = 1 + sum(PER_BUNDLE.values())


# --- seeding ------------------------------------------------------------------------------


def _bundle_group(
    rng: random.Random, stamp: str, users: list[str], template: str
) -> list[tuple[str, Any]]:
    """One bundle with its tasks, files, artifacts, a notification and audit events."""
    bundle = Bundle(
        new_id("bdl"),
        f"Episode {rng.randrange(10**6)}",
        stamp,
        stamp,
        anchor_date="2025-06-01",
        template_id=template,
        stage="production",
    )
    records: list[tuple[str, Any]] = [("bundles", bundle)]
    tasks = []
    for index in range(PER_BUNDLE["tasks"]):
        day = 1 + rng.randrange(28)
        task = Task(
            new_id("tsk"),
            f"Step {index} of {bundle.title}",
            f"2025-{1 + rng.randrange(12):02d}-{day:02d}",
            stamp,
            stamp,
            bundle_id=bundle.id,
            template_id=template,
            assignee_id=rng.choice(users),
            tags=["bench"],
            systems=["notion"],
        )
        tasks.append(task)
    files = [
        FileRecord(
            new_id("fil"),
            f"take{n}.wav",
            stamp,
            task_id=tasks[n].id,
            bundle_id=bundle.id,
            storage_provider=StorageProvider.S3,
            storage_uri=f"s3://bench/{bundle.id}/{n}.wav",
            checksum=CHECKSUM,
            size_bytes=1000 + n,
            created_by=users[0],
        )
        for n in range(PER_BUNDLE["files"])
    ]
    artifacts = []
    for n in range(PER_BUNDLE["artifacts"]):
        status = ArtifactStatus.APPROVED if n == 0 else ArtifactStatus.NEEDS_REVIEW
        artifact = Artifact(
            new_id("art"),
            ArtifactType.TRANSCRIPT,
            f"Transcript {n}",
            f"https://example.com/{bundle.id}/{n}",
            StorageProvider.EXTERNAL_URL,
            stamp,
            stamp,
            status=status,
            task_id=tasks[2 + n].id,
            bundle_id=bundle.id,
            created_by=users[0],
            reviewed_by=users[0] if n == 0 else None,
            reviewed_at=stamp if n == 0 else None,
            metadata={"model": "bench", "usage": {"tokenCount": 1234}},
        )
        artifacts.append(artifact)
        tasks[2 + n].artifact_refs.append(artifact.ref())
    # Two done tasks per bundle with their recorded proof (a file and an artifact).
    tasks[0].requires_file = True
    tasks[2].proof_requirement = ProofRequirement(ProofType.ARTIFACT)
    for task, by in (
        (tasks[0], {"fileId": files[0].id}),
        (
            tasks[2],
            {
                "artifactId": artifacts[0].id,
                "title": artifacts[0].title,
                "reviewedBy": users[0],
                "version": 1,
            },
        ),
    ):
        task.status = TaskStatus.DONE
        task.completed_by, task.completed_at = users[0], stamp
        kind = "file" if "fileId" in by else "artifact"
        task.completion_proof = [RequirementVerdict(kind, kind.title(), True, None, by)]
    note = Notification(
        new_id("ntf"),
        NotificationType.TASK_DUE,
        f"{tasks[1].description} is due",
        stamp,
        user_id=tasks[1].assignee_id,
        task_id=tasks[1].id,
        bundle_id=bundle.id,
    )
    events = [
        AuditEvent(
            new_id("evt"),
            EntityType.TASK,
            task.id,
            "create",
            stamp,
            actor_id=users[0],
            after=to_dict(task),
        )
        for task in tasks[: PER_BUNDLE["audit_events"]]
    ]
    records += [("tasks", t) for t in tasks] + [("files", f) for f in files]
    records += [("artifacts", a) for a in artifacts] + [("notifications", note)]
    records += [("audit_events", e) for e in events]
    return records


def seed(db: Path, size: int) -> tuple[int, float]:
    """About `size` records; returns (records written, seconds)."""
    started = time.perf_counter()
    rng = random.Random(size)
    stamp = now_ts()
    store = SqliteStore(db)
    users = [
        User(new_id("usr"), f"user{n}@example.com", f"User {n}", Role.OPERATOR, stamp)
        for n in range(max(5, size // 10_000))
    ]
    template = Template(new_id("tpl"), "Bench template", stamp, stamp)
    pending: list[tuple[str, Any]] = [("users", u) for u in users] + [("templates", template)]
    written = 0
    user_ids = [u.id for u in users]
    while written + len(pending) < size:
        pending += _bundle_group(rng, stamp, user_ids, template.id)
        if len(pending) >= WRITE_BATCH:
            written += _write(store, pending)
            pending = []
    written += _write(store, pending)
    store.close()
    return written, time.perf_counter() - started


ARTIFACTS_PER_TASK = 5
TASKS_PER_BUNDLE = 2
ARTIFACTS_TARGET_SECONDS = 1.0


def _artifact_group(rng: random.Random, stamp: str, users: list[str]) -> list[tuple[str, Any]]:
    """One bundle, two tasks, five artifacts on each task (refs on the task; every third
    approved and reviewed)."""
    bundle = Bundle(new_id("bdl"), f"Episode {rng.randrange(10**6)}", stamp, stamp)
    records: list[tuple[str, Any]] = [("bundles", bundle)]
    for index in range(TASKS_PER_BUNDLE):
        task = Task(
            new_id("tsk"),
            f"Deliver part {index}",
            f"2025-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}",
            stamp,
            stamp,
            bundle_id=bundle.id,
            assignee_id=rng.choice(users),
        )
        for n in range(ARTIFACTS_PER_TASK):
            approved = n % 3 == 0
            artifact = Artifact(
                new_id("art"),
                rng.choice(list(ArtifactType)),
                f"{task.description}: take {n}",
                f"https://example.com/{bundle.id}/{task.id}/{n}",
                StorageProvider.EXTERNAL_URL,
                stamp,
                stamp,
                status=ArtifactStatus.APPROVED if approved else ArtifactStatus.NEEDS_REVIEW,
                task_id=task.id,
                bundle_id=bundle.id,
                created_by=users[0],
                reviewed_by=users[0] if approved else None,
                reviewed_at=stamp if approved else None,
                tags=["bench"],
                metadata={"model": "bench", "usage": {"tokenCount": rng.randrange(10**5)}},
            )
            task.artifact_refs.append(artifact.ref())
            records.append(("artifacts", artifact))
        records.append(("tasks", task))
    return records


def seed_artifacts(db: Path, artifacts: int) -> tuple[dict[str, int], float]:
    """A store holding `artifacts` artifacts and what they hang on (no audit events, no
    files, no notifications): per bundle two tasks, each with five artifacts whose refs it
    carries; five users and one template. Returns (records per entity, seconds)."""
    started = time.perf_counter()
    rng = random.Random(artifacts)
    stamp = now_ts()
    store = SqliteStore(db)
    users = [
        User(new_id("usr"), f"user{n}@example.com", f"User {n}", Role.OPERATOR, stamp)
        for n in range(5)
    ]
    template = Template(new_id("tpl"), "Bench template", stamp, stamp)
    pending: list[tuple[str, Any]] = [("users", u) for u in users] + [("templates", template)]
    user_ids = [u.id for u in users]
    per_group = TASKS_PER_BUNDLE * ARTIFACTS_PER_TASK
    for _ in range(-(-artifacts // per_group)):
        pending += _artifact_group(rng, stamp, user_ids)
        if len(pending) >= WRITE_BATCH:
            _write(store, pending)
            pending = []
    _write(store, pending)
    with store.unit_of_work() as uow:
        counts = {
            entity: sum(len(batch) for batch in uow.stored(entity).batches)
            for entity in ("users", "templates", "bundles", "tasks", "artifacts")
        }
    store.close()
    return counts, time.perf_counter() - started


def _write(store: SqliteStore, records: list[tuple[str, Any]]) -> int:
    with store.unit_of_work(write=True) as uow:
        for repo, record in records:
            getattr(uow, repo).add(record)
        uow.commit()
    return len(records)


# --- the measured steps (each in a child process) -----------------------------------------


def child(step: str, args: list[str]) -> dict[str, Any]:
    from dataops.portable.format import SourceInfo

    started = time.perf_counter()
    if step == "export":
        from dataops.portable.writing.export import write_export

        store = SqliteStore(Path(args[0]))
        result = write_export(store, Path(args[1]), SourceInfo())
        store.close()
        return {"records": result.total, "seconds": time.perf_counter() - started}
    fast = not step.endswith(REFERENCE)  # the reference paths: fast=False
    if step in ("validate", "validate" + REFERENCE):
        from dataops.portable.checking.validate import validate_export

        report = validate_export(Path(args[0]), fast=fast)
        assert report.valid, report.lines()[:10]
        records = sum(report.entity_counts.values())
        return {"records": records, "seconds": time.perf_counter() - started}
    if step in ("import", "import" + REFERENCE):
        from dataops.portable.importing.importer import apply_import

        store = SqliteStore(Path(args[1]))
        plan = apply_import(Path(args[0]), store, fast=fast)
        store.close()
        records = sum(p.insert for p in plan.entities.values())
        return {"records": records, "seconds": time.perf_counter() - started}
    raise SystemExit(f"unknown step {step}")


@dataclass
class Step:
    step: str
    size: int
    records: int
    seconds: float
    """The median of the measured runs (after the warm-up runs)."""
    records_per_s: float
    peak_rss_mb: float
    """The median of the measured runs' peak RSS."""
    runs_seconds: list[float]
    warmups: int
    cpu_seconds: float = 0.0
    """The median of the measured runs' CPU time (user + system, with the workers): on a
    machine shared with other work, steadier than the seconds."""


@dataclass(frozen=True)
class Runs:
    repeats: int = 3
    """Measured runs of each step."""
    warmups: int = 1
    """Unmeasured runs before them."""


def measure(runs: Runs, step: str, size: int, *args: str, output: Path | None = None) -> Step:
    """Run one step `runs.warmups + runs.repeats` times, each in a fresh child process
    (`output`, what the step writes, removed before each run); the median of the
    measured runs."""
    results = []
    for _ in range(runs.warmups + runs.repeats):
        if output is not None:
            _remove(output)
        results.append(_measure_once(step, size, *args))
    measured = results[runs.warmups :]
    records = {run[0] for run in measured}
    if len(records) != 1:
        raise SystemExit(f"{step} at {size}: the runs disagree on the record count {records}")
    seconds = statistics.median(run[1] for run in measured)
    return Step(
        step,
        size,
        measured[0][0],
        round(seconds, 2),
        round(measured[0][0] / seconds),
        round(statistics.median(run[2] for run in measured), 1),
        [round(run[1], 3) for run in measured],
        runs.warmups,
        round(statistics.median(run[3] for run in measured), 2),
    )


def _remove(path: Path) -> None:
    """`path` (a directory, or a file with SQLite's -wal and -shm files beside it)."""
    if path.is_dir():
        shutil.rmtree(path)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)


def _measure_once(step: str, size: int, *args: str) -> tuple[int, float, float, float]:
    """Run one step in a child process: (records, seconds, peak RSS in MB, CPU seconds of
    the child and the workers it forks); the peak RSS and CPU come from wait4 (Linux:
    KiB)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "_child", step, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{step} at {size} failed (exit {process.returncode})")
    result = json.loads(output)
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return result["records"], result["seconds"], rss_mb, usage.ru_utime + usage.ru_stime


def run_size(
    size: int, workdir: Path, runs: Runs, reference: bool = True
) -> tuple[dict[str, Any], list[Step]]:
    where = workdir / str(size)
    where.mkdir(parents=True)
    records, seconds = seed(where / "source.db", size)
    print(f"seeded {records:,} records in {seconds:.1f} s", file=sys.stderr)
    archive, target = where / "export.tar.gz", where / "target.db"
    steps = [
        measure(runs, "export", size, str(where / "source.db"), str(archive), output=archive),
        measure(runs, "validate", size, str(archive)),
        measure(runs, "import", size, str(archive), str(target), output=target),
    ]
    if reference:
        steps += [
            measure(runs, "validate" + REFERENCE, size, str(archive)),
            measure(runs, "import" + REFERENCE, size, str(archive), str(target), output=target),
        ]
    archive_mb = (where / "export.tar.gz").stat().st_size / 2**20
    seeded = {
        "size": size,
        "records": records,
        "seed_seconds": round(seconds, 1),
        "archive_mb": round(archive_mb, 1),
    }
    return seeded, steps


def run_artifacts(artifacts: int, workdir: Path, runs: Runs) -> dict[str, Any]:
    """The export of the artifacts-heavy store, to a directory and to a `.tar.gz`."""
    where = workdir / f"artifacts-{artifacts}"
    where.mkdir(parents=True)
    counts, seconds = seed_artifacts(where / "source.db", artifacts)
    print(f"seeded {sum(counts.values()):,} records ({counts}) in {seconds:.1f} s", file=sys.stderr)
    exports = {
        "directory": measure(
            runs,
            "export",
            artifacts,
            str(where / "source.db"),
            str(where / "dir"),
            output=where / "dir",
        ),
        "archive": measure(
            runs,
            "export",
            artifacts,
            str(where / "source.db"),
            str(where / "export.tar.gz"),
            output=where / "export.tar.gz",
        ),
    }
    for form, step in exports.items():
        print(
            f"  export of {artifacts:,} artifacts to a {form:<9} {step.seconds:>6.2f} s "
            f"({step.records:,} records, {step.records_per_s:,}/s)  peak RSS "
            f"{step.peak_rss_mb:.1f} MB",
            file=sys.stderr,
        )
    return {
        "artifacts": artifacts,
        "store": counts,
        "seed_seconds": round(seconds, 1),
        "target_seconds": ARTIFACTS_TARGET_SECONDS,
        "archive_mb": round((where / "export.tar.gz").stat().st_size / 2**20, 1),
        **{form: asdict(step) for form, step in exports.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated record counts (default 100000,1000000)",
    )
    parser.add_argument(
        "--artifacts",
        type=int,
        default=50_000,
        help="artifacts in the artifacts-heavy store whose export is timed (0: none)",
    )
    parser.add_argument(
        "--repeats", type=int, default=Runs.repeats, help="measured runs per step (default 3)"
    )
    parser.add_argument(
        "--warmups", type=int, default=Runs.warmups, help="unmeasured runs first (default 1)"
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip validate-ref and import-ref (the reference paths, fast=False)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stores and exports")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    runs = Runs(max(1, args.repeats), max(0, args.warmups))
    load_before = os.getloadavg()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="dataops-bench-portable-"))
    seeded: list[dict[str, Any]] = []
    steps: list[Step] = []
    artifacts: dict[str, Any] | None = None
    try:
        if args.artifacts:
            artifacts = run_artifacts(args.artifacts, workdir, runs)
        for size in sizes:
            info, measured = run_size(size, workdir, runs, not args.no_reference)
            seeded.append(info)
            steps += measured
            for step in measured:
                print(
                    f"  {step.step:<13}{step.records:>10,} records {step.seconds:>8.1f} s "
                    f"{step.records_per_s:>9,}/s  peak RSS {step.peak_rss_mb:>7.1f} MB  "
                    f"CPU {step.cpu_seconds:.1f} s  load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    load = {"before": load_before, "after": os.getloadavg()}
    _report(seeded, steps, artifacts, workdir if args.keep else None, args.out, load)


def _report(
    seeded: list[dict[str, Any]],
    steps: list[Step],
    artifacts: dict[str, Any] | None,
    kept: Path | None,
    results: Path,
    load: dict[str, tuple[float, float, float]],
) -> None:
    print(
        f"\n{'step':<13}{'records':>10}{'seconds':>10}{'records/s':>12}{'peak RSS MB':>13}"
        f"{'CPU s':>8}"
    )
    for s in steps:
        print(
            f"{s.step:<13}{s.records:>10,}{s.seconds:>10.1f}{s.records_per_s:>12,}"
            f"{s.peak_rss_mb:>13.1f}{s.cpu_seconds:>8.1f}"
        )
    sizes = sorted({s.size for s in steps})
    ratios = {}
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for name in sorted({s.step for s in steps}):
            a = next(s for s in steps if s.step == name and s.size == small)
            b = next(s for s in steps if s.step == name and s.size == large)
            ratios[name] = round(b.peak_rss_mb / a.peak_rss_mb, 2)
        print(
            f"peak RSS ratio {large:,} / {small:,}: "
            + ", ".join(f"{k} {v}x" for k, v in ratios.items())
        )
    speedups: dict[str, float] = {}
    for s in steps:
        ref = next((r for r in steps if r.step == s.step + REFERENCE and r.size == s.size), None)
        if ref is not None:
            speedups[f"{s.step} {s.size}"] = round(s.records_per_s / ref.records_per_s, 2)
    if speedups:
        print(
            "records/s against the reference path: "
            + ", ".join(f"{k} {v}x" for k, v in speedups.items())
        )
    if artifacts is not None:
        for form in ("directory", "archive"):
            step = artifacts[form]
            print(
                f"export of a store with {artifacts['artifacts']:,} artifacts to a {form}: "
                f"{step['seconds']:.2f} s (target < {artifacts['target_seconds']:.0f} s)"
            )
    host = socket.gethostname().split(".")[0]
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"{dt.date.today().isoformat()}-{host}-portable.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "portable",
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "host": host,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "seeded": seeded,
                "steps": [asdict(s) for s in steps],
                "peak_rss_ratio_largest_to_smallest": ratios,
                "speedup_over_reference": speedups,
                "artifacts_export": artifacts,
                "workdir": str(kept) if kept else None,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        print(json.dumps(child(sys.argv[2], sys.argv[3:])))
    else:
        main()
