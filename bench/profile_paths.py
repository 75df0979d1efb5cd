"""Profiles of the slowest request paths, saved as text under bench/results/.

1. pyinstrument, in process: the service call of each named operation, repeated on a
   seeded store (what one request spends in the services, the domain and the store).
2. py-spy, out of process: a real `dataops serve` under concurrent load (bench/loadgen),
   sampling whichever thread holds the GIL (event loop or thread pool); stacks summarised
   by function and by package (what limits requests/s of one uvicorn worker).

The profilers are not project dependencies; install them for the run only, outside the
project's environment, e.g.

    python3.11 -m pip install --target /tmp/bench-prof pyinstrument py-spy
    PYTHONPATH=/tmp/bench-prof .venv/bin/python bench/profile_paths.py

Writes bench/results/<YYYY-MM-DD>-<hostname>-profile-<name>.txt.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import loadgen
import servers
import workload
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactStatus, ArtifactType, TaskStatus
from dataops.domain.errors import ProofMissing
from dataops.services import artifact_reads, artifacts, tasks
from dataops.services.context import Workspace
from dataops.store.cursor import encode_cursor
from dataops.store.port import PageRequest
from loadgen import Request

SERVICE_OPS = ("complete-blocked", "proof-blocked", "list-by-status-page", "create-artifact")
LOAD_OPS = ("list-by-task", "get-artifact", "list-by-status-page")


def service_call(
    op: str, ws: Workspace, actor: Actor, seeded: workload.Seeded
) -> Callable[[int], None]:
    blocked = seeded.targets("blocked")
    write = seeded.targets("write")
    drafts = seeded.drafts

    def call(i: int) -> None:
        if op == "complete-blocked":
            task_id = blocked[i % len(blocked)]
            with contextlib.suppress(ProofMissing):
                tasks.update_task(ws, actor, task_id, {"status": TaskStatus.DONE}, None)
        elif op == "proof-blocked":
            tasks.proof_state(ws, blocked[i % len(blocked)])
        elif op == "list-by-status-page":
            start = (i * 997) % max(1, len(drafts) - 100)
            cursor = encode_cursor([drafts[start]])
            artifact_reads.list_artifacts(ws, {"status": "draft"}, PageRequest(100, cursor))
        elif op == "create-artifact":
            data = {
                "type": ArtifactType.REPORT,
                "title": f"Profile output {i}",
                "storage_uri": f"https://docs.example.org/profile/{i}",
                "task_id": write[i % len(write)],
                "status": ArtifactStatus.NEEDS_REVIEW,
            }
            artifacts.register_artifact(ws, actor, data)
        else:
            raise ValueError(op)

    return call


def pyinstrument_profile(call: Callable[[int], None], reps: int) -> tuple[str, float]:
    from pyinstrument import Profiler  # type: ignore[import-not-found]

    for i in range(20):  # warm-up
        call(i)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for i in range(reps):
        call(20 + i)
    profiler.stop()
    per_call_ms = (time.perf_counter() - started) * 1000 / reps
    text: str = profiler.output_text(unicode=False, color=False, show_all=False)
    return text, per_call_ms


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _package(frame: str) -> str:
    """A frame's package (py-spy names files relative to sys.path): `dataops.<module>`,
    else the top-level package or module (`starlette`, `asyncio`, `threading`...)."""
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    path = path.split("site-packages/", 1)[-1]
    if path.startswith("dataops/") or "/dataops/" in path:
        tail = path.split("dataops/", 1)[1]
        return "dataops." + tail.removesuffix(".py").replace("/", ".")
    if path.startswith("<frozen"):
        return "importlib (frozen)" if "importlib" in path else path
    return path.split("/", 1)[0].removesuffix(".py")


def summarise_stacks(raw: str, top: int = 40) -> str:
    """py-spy's collapsed stacks (`frame;frame;... count`) as tables: share of samples
    per function (inclusive and self) and per package of the innermost frame."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    dataops_inclusive: collections.Counter[str] = collections.Counter()
    stacks: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
        stacks[stack] += count
        packages[_package(frames[-1])] += count
        for package in {_package(f) for f in frames if "dataops" in _package(f)}:
            dataops_inclusive[package] += count
    if not total:
        return "no samples\n"

    def table(title: str, counter: collections.Counter[str], limit: int) -> list[str]:
        lines = [f"\n{title}", f"{'share':>7}  samples  where"]
        for name, count in counter.most_common(limit):
            lines.append(f"{100 * count / total:>6.1f}%  {count:>7}  {name}")
        return lines

    out = [f"{total} samples of the thread holding the GIL (py-spy --gil), any thread"]
    out += table("CPU by package of the innermost frame (self time):", packages, 30)
    out += table("dataops modules on the stack (inclusive):", dataops_inclusive, 25)
    out += table("functions, inclusive (on the stack):", inclusive, top)
    out += table("functions, self (innermost frame):", own, top)
    out += ["\nhottest stacks (innermost 10 frames, innermost last):"]
    for stack, count in stacks.most_common(15):
        frames = stack.split(";")[-10:]
        out.append(f"{100 * count / total:>6.1f}%  " + "\n         <- ".join(frames[::-1]))
    return "\n".join(out) + "\n"


def _py_spy(path: str | None) -> str:
    found = path or shutil.which("py-spy")
    if found is None:
        for entry in sys.path:
            candidate = Path(entry) / "bin" / "py-spy"
            if candidate.exists():
                return str(candidate)
        raise SystemExit("py-spy not found: install it (see the docstring) or pass --py-spy")
    return found


def load_profile(
    op: str,
    served: servers.Child,
    cookie: str,
    seeded: workload.Seeded,
    py_spy: str,
    seconds: float,
    concurrency: int,
    scratch: Path,
) -> tuple[str, dict[str, Any]]:
    read_tasks = seeded.tasks_by_role["read"]
    sample = seeded.sample_artifacts
    headers = (("cookie", f"dataops_session={cookie}"),)

    drafts = seeded.drafts

    def make(i: int) -> Request:
        if op == "list-by-task":
            task_id = read_tasks[i % len(read_tasks)]
            return Request("GET", f"/work/api/artifacts?taskId={task_id}", None, headers)
        if op == "list-by-status-page":
            cursor = encode_cursor([drafts[(i * 997) % max(1, len(drafts) - 100)]])
            target = f"/work/api/artifacts?status=draft&limit=100&cursor={cursor}"
            return Request("GET", target, None, headers)
        return Request("GET", f"/work/api/artifacts/{sample[i % len(sample)]}", None, headers)

    raw_path = scratch / f"{op}.raw"
    loadgen.run(served.base_url, make, concurrency=concurrency, seconds=2, warmup=0.5)
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(served.pid),
            "--rate",
            "250",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(raw_path),
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        result = loadgen.run(
            served.base_url, make, concurrency=concurrency, seconds=seconds, warmup=0
        )
    finally:
        spy.wait(timeout=seconds + 30)
    return raw_path.read_text(), result.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="artifacts (multiple of 1000)")
    parser.add_argument("--ops", default=",".join(SERVICE_OPS), help="service calls to profile")
    parser.add_argument("--reps", type=int, default=300, help="profiled calls per operation")
    parser.add_argument("--load-ops", default=",".join(LOAD_OPS), help="served paths under load")
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--py-spy", default=None, help="path of the py-spy binary")
    parser.add_argument("--out", type=Path, default=workload.RESULTS)
    args = parser.parse_args(argv)
    info = workload.host_info()
    stem = args.out / f"{info['date']}-{info['host']}-profile"
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-prof-")))
        env = workload.sqlite_env(home)
        ws, actor = workload.open_workspace(env)
        stack.callback(ws.store.close)
        print(f"... seeding {args.size} artifacts", file=sys.stderr, flush=True)
        seeded = workload.seed(ws, args.size, actor.id)
        for op in [o for o in args.ops.split(",") if o]:
            load = workload.load_average()
            text, per_call = pyinstrument_profile(service_call(op, ws, actor, seeded), args.reps)
            path = Path(f"{stem}-{op}.txt")
            head = (
                f"pyinstrument, in process: {op} (service call) x {args.reps} at {args.size} "
                f"artifacts, SQLite; {per_call:.2f} ms per call under the profiler; "
                f"load average {load}\n\n"
            )
            path.write_text(head + text)
            written.append(path)
            print(f"{op}: {per_call:.2f} ms per call -> {path}")
        load_ops = [o for o in args.load_ops.split(",") if o]
        if load_ops:
            py_spy = _py_spy(args.py_spy)
            served = stack.enter_context(
                servers.dataops(["serve"], {**os.environ, **env}, home / "serve.log")
            )
            client = servers.login(served.base_url, workload.ADMIN_EMAIL, workload.ADMIN_PASSWORD)
            cookie = client.cookies.get("dataops_session") or ""
            client.close()
            for op in load_ops:
                load = workload.load_average()
                raw, summary = load_profile(
                    op,
                    served,
                    cookie,
                    seeded,
                    py_spy,
                    args.load_seconds,
                    args.concurrency,
                    home,
                )
                path = Path(f"{stem}-serve-{op}.txt")
                head = (
                    f"py-spy, `dataops serve` (one uvicorn worker) under {args.concurrency} "
                    f"concurrent clients for {args.load_seconds:.0f} s: {op} at {args.size} "
                    f"artifacts, SQLite; {summary['rps']} req/s, p50 {summary['p50_ms']} ms "
                    f"while sampled at 250 Hz; load average {load}\n"
                )
                path.write_text(head + summarise_stacks(raw))
                written.append(path)
                print(f"serve {op}: {summary['rps']} req/s under py-spy -> {path}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
