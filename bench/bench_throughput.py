"""Throughput through `dataops serve` at 100k artifacts with concurrent clients, and the
broker's overhead: the same requests sent to a split deployment's portal (portal ->
engine over loopback HTTP) and straight to its engine (with the trusted headers).

    .venv/bin/python bench/bench_throughput.py                 # 100k artifacts, 16 clients
    .venv/bin/python bench/bench_throughput.py --size 10000 --duration 3 --repeats 1

Prints a table and writes bench/results/<YYYY-MM-DD>-<hostname>-throughput.json. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
import servers
import workload
from loadgen import Request

READ_OPS = ("list-by-task", "get-artifact", "proof")
OPS = (*READ_OPS, "create-artifact", "complete")
PATHS = ("serve", "portal", "engine")
RPS_TARGET = 500
RPS_OPS = ("list-by-task", "get-artifact")
OVERHEAD_LIMIT = 1.3


@dataclass
class Target:
    """Where requests go and how they authenticate."""

    name: str
    base_url: str
    prefix: str
    headers: tuple[tuple[str, str], ...]
    pids: list[int]


def _log(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def requests_for(
    op: str, path: Target, seeded: workload.Seeded, pool: list[str]
) -> loadgen.MakeRequest:
    """The i-th request of `op` on `path`: reads rotate over every task (or sampled
    artifact) of their role; completions take fresh tasks from `pool` until it runs out."""
    read_tasks = seeded.tasks_by_role["read"]
    write_tasks = seeded.tasks_by_role["write"]
    sample = seeded.sample_artifacts
    p, h = path.prefix, path.headers

    def make(i: int) -> Request | None:
        if op == "list-by-task":
            return Request(
                "GET", f"{p}/artifacts?taskId={read_tasks[i % len(read_tasks)]}", None, h
            )
        if op == "get-artifact":
            return Request("GET", f"{p}/artifacts/{sample[i % len(sample)]}", None, h)
        if op == "proof":
            return Request("GET", f"{p}/tasks/{read_tasks[i % len(read_tasks)]}/proof", None, h)
        if op == "create-artifact":
            body = {
                "type": "report",
                "title": f"Load output {i}",
                "storageUri": f"https://docs.example.org/load/{path.name}/{i}",
                "taskId": write_tasks[i % len(write_tasks)],
                "status": "needs-review",
            }
            return Request("POST", f"{p}/artifacts", body, h, 201)
        if i >= len(pool):
            return None
        return Request("PATCH", f"{p}/tasks/{pool[i]}", {"status": "done"}, h)

    return make


def measure(
    path: Target,
    make: loadgen.MakeRequest,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    cpu = [servers.cpu_seconds(pid) for pid in path.pids]
    result = loadgen.run(
        path.base_url, make, concurrency=concurrency, seconds=seconds, warmup=warmup
    )
    summary = result.summary()
    used = [servers.cpu_seconds(pid) - before for pid, before in zip(path.pids, cpu, strict=True)]
    wall = max(result.seconds + warmup, 1e-9)
    summary["serverCpuPercent"] = [round(100 * u / wall, 1) for u in used]
    summary["clientCpuPercent"] = round(
        100 * result.client_cpu_seconds / max(result.seconds, 1e-9), 1
    )
    summary["loadAverage"] = workload.load_average()
    return summary


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-tput-")))
        env = workload.sqlite_env(home)
        ws, actor = workload.open_workspace(env)
        stack.callback(ws.store.close)
        _log(f"seeding {args.size} artifacts")
        seeded = workload.seed(ws, args.size, actor.id)
        _log(f"  seeded in {seeded.seconds:.1f} s")
        secret = secrets.token_urlsafe(32)
        child_env = {**os.environ, **env, "WORK_ENGINE_PORTAL_SECRET": secret}
        serve = stack.enter_context(servers.dataops(["serve"], child_env, home / "serve.log"))
        engine = stack.enter_context(servers.engine(child_env, home / "engine.log", secret))
        portal = stack.enter_context(
            servers.dataops(
                ["portal", "serve", "--engine-url", engine.base_url], child_env, home / "portal.log"
            )
        )
        cookies = {}
        for name, child in (("serve", serve), ("portal", portal)):
            client = servers.login(child.base_url, workload.ADMIN_EMAIL, workload.ADMIN_PASSWORD)
            cookies[name] = client.cookies.get("dataops_session") or ""
            client.close()
        trusted = (
            ("x-portal-auth", "true"),
            ("x-portal-secret", secret),
            ("x-user-id", actor.id),
            ("x-user-email", actor.email),
            ("x-user-role", actor.role.value),
        )
        paths = {
            "serve": Target(
                "serve",
                serve.base_url,
                "/work/api",
                (("cookie", f"dataops_session={cookies['serve']}"),),
                [serve.pid],
            ),
            "portal": Target(
                "portal",
                portal.base_url,
                "/work/api",
                (("cookie", f"dataops_session={cookies['portal']}"),),
                [portal.pid, engine.pid],
            ),
            "engine": Target("engine", engine.base_url, "/api", trusted, [engine.pid]),
        }
        # completions need fresh tasks: one disjoint slice per path and repeat
        fresh = [t for role in ("complete", "read", "write") for t in seeded.tasks_by_role[role]]
        ops = [op for op in OPS if op in args.ops.split(",")]
        chosen = [name for name in PATHS if name in args.paths.split(",")]
        slots = len(chosen) * args.repeats
        per_slot = len(fresh) // slots
        pools = [fresh[i * per_slot : (i + 1) * per_slot] for i in range(slots)]
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            op: {p: [] for p in chosen} for op in ops
        }
        latency: dict[str, dict[str, list[dict[str, Any]]]] = {
            op: {p: [] for p in chosen} for op in ops if op != "complete"
        }
        started = time.perf_counter()
        for repeat in range(args.repeats):
            order = chosen if repeat % 2 == 0 else chosen[::-1]
            for op in ops:
                for name in order:
                    pool = pools.pop() if op == "complete" else []
                    make = requests_for(op, paths[name], seeded, pool)
                    warmup = 0.2 if op == "complete" else args.warmup
                    summary = measure(paths[name], make, args.concurrency, args.duration, warmup)
                    summary["poolSize"] = len(pool) if op == "complete" else None
                    runs[op][name].append(summary)
                    _log(
                        f"  {op:<16}{name:<8}c={args.concurrency}: {summary['rps']:>7.1f} req/s"
                        f"  p50 {summary['p50_ms']} ms  server CPU {summary['serverCpuPercent']}%"
                    )
            for op in latency:
                for name in order:
                    make = requests_for(op, paths[name], seeded, [])
                    summary = measure(paths[name], make, 1, args.latency_duration, 0.3)
                    latency[op][name].append(summary)
        seconds = time.perf_counter() - started
    return summarise(args, seeded, runs, latency, seconds)


def _ratio(row: dict[str, Any], top: str, bottom: str, key: str) -> float | None:
    if top not in row or bottom not in row or not row[bottom][key]:
        return None
    return round(row[top][key] / row[bottom][key], 2)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def summarise(
    args: argparse.Namespace,
    seeded: workload.Seeded,
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    latency: dict[str, dict[str, list[dict[str, Any]]]],
    seconds: float,
) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for op, by_path in runs.items():
        row: dict[str, Any] = {}
        for name, done in by_path.items():
            row[name] = {
                "rps": _median(done, "rps"),
                "p50_ms": _median(done, "p50_ms"),
                "p95_ms": _median(done, "p95_ms"),
                "unexpected": sum(r["unexpected"] + r["errors"] for r in done),
                "serverCpuPercent": [
                    round(statistics.median(r["serverCpuPercent"][k] for r in done), 1)
                    for k in range(len(done[0]["serverCpuPercent"]))
                ],
                "clientCpuPercent": _median(done, "clientCpuPercent"),
                "exhausted": any(r["exhausted"] for r in done),
            }
        row["overhead"] = {
            "portalVsEngine": _ratio(row, "engine", "portal", "rps"),
            "serveVsEngine": _ratio(row, "engine", "serve", "rps"),
        }
        if op in RPS_OPS and "serve" in row:
            row["meetsRpsTarget"] = row["serve"]["rps"] >= RPS_TARGET
        table[op] = row
    single: dict[str, dict[str, Any]] = {}
    for op, by_path in latency.items():
        row = {name: {"p50_ms": _median(done, "p50_ms")} for name, done in by_path.items()}
        row["overhead"] = {
            "portalVsEngine": _ratio(row, "portal", "engine", "p50_ms"),
            "serveVsEngine": _ratio(row, "serve", "engine", "p50_ms"),
        }
        single[op] = row
    return {
        "benchmark": "bench_throughput",
        **workload.host_info(),
        "size": seeded.size,
        "seedSeconds": round(seeded.seconds, 1),
        "concurrency": args.concurrency,
        "durationSeconds": args.duration,
        "repeats": args.repeats,
        "measureSeconds": round(seconds, 1),
        "throughput": table,
        "latencyOneClient": single,
        "raw": {"throughput": runs, "latencyOneClient": latency},
    }


def print_report(report: dict[str, Any]) -> None:
    c = report["concurrency"]
    print(
        f"\n== throughput at {report['size']} artifacts, {c} clients, median of "
        f"{report['repeats']} x {report['durationSeconds']} s (req/s; p50 ms; server CPU %)"
    )
    rows = report["throughput"]
    paths = [p for p in PATHS if any(p in row for row in rows.values())]
    heads = "".join(f"{p:>26}" for p in paths)
    print(f"{'operation':<16}{heads}   engine/portal  engine/serve")
    for op, row in rows.items():
        cells = "".join(
            f"{row[p]['rps']:>9.1f}{row[p]['p50_ms']:>7.1f}"
            f"{'+'.join(f'{x:.0f}' for x in row[p]['serverCpuPercent']):>10}"
            for p in paths
        )
        flags = []
        if "meetsRpsTarget" in row:
            flags.append(f">= {RPS_TARGET}: {'yes' if row['meetsRpsTarget'] else 'NO'}")
        if any(row[p]["exhausted"] for p in paths):
            flags.append("pool of fresh tasks ran out")
        if any(row[p]["unexpected"] for p in paths):
            flags.append("UNEXPECTED STATUSES")
        over = row["overhead"]
        print(
            f"{op:<16}{cells}{_x(over['portalVsEngine']):>15}{_x(over['serveVsEngine']):>13}  "
            + "; ".join(flags)
        )
    print(f"\n== one client (sequential): p50 ms; broker overhead (limit {OVERHEAD_LIMIT}x)")
    heads = "".join(f"{p:>10}" for p in paths)
    print(f"{'operation':<16}{heads}  portal/engine  serve/engine")
    for op, row in report["latencyOneClient"].items():
        cells = "".join(f"{row[p]['p50_ms']:>10.2f}" for p in paths)
        over = row["overhead"]
        print(f"{op:<16}{cells}{_x(over['portalVsEngine']):>15}{_x(over['serveVsEngine']):>14}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="artifacts (multiple of 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds first")
    parser.add_argument("--repeats", type=int, default=3, help="runs per operation and path")
    parser.add_argument("--latency-duration", type=float, default=2.0, help="one-client runs")
    parser.add_argument("--ops", default=",".join(OPS), help="a subset of " + ",".join(OPS))
    parser.add_argument("--paths", default=",".join(PATHS), help="a subset of serve,portal,engine")
    parser.add_argument("--out", type=Path, default=workload.RESULTS)
    args = parser.parse_args(argv)
    if args.size < 1000 or args.size % 1000:
        parser.error("--size must be a multiple of 1000")
    if not 1 <= args.concurrency <= 64 or not 0 < args.duration <= loadgen.MAX_SECONDS:
        parser.error("--concurrency 1..64 and --duration up to 120 s")
    load_before = workload.load_average()
    report = run(args)
    report["loadAverage"] = {"before": load_before, "after": workload.load_average()}
    print_report(report)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{report['date']}-{report['host']}-throughput.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path} (load average {report['loadAverage']})")
    rows = report["throughput"].values()
    unexpected = sum(row[p]["unexpected"] for row in rows for p in PATHS if p in row)
    return 0 if unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
