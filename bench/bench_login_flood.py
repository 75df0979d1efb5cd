"""Does a flood of bogus logins stop the writes of a logged-in operator?

Starts a real `dataops serve` (a child process on 127.0.0.1, a temp DATAOPS_HOME, SQLite),
logs in an operator, and times sequential `PATCH /work/api/tasks/{id}` calls: first with
no load, then while another process keeps `--concurrency` bogus logins in flight (unknown
emails, so each costs the server a full argon2 hash, bounded by `--flood-total` attempts
and `--flood-seconds`). With `--spread` (the default) the server trusts 127.0.0.1 as a
proxy (DATAOPS_TRUSTED_PROXIES) and every bogus login names another X-Forwarded-For
address, as a distributed flood would: the per-address throttle then never refuses one,
and every attempt reaches the hash. `--no-spread` sends them all from one address.

Prints the figures and writes bench/results/<YYYY-MM-DD>-<hostname>-login-flood.json.
Loopback only; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers
import workload

ADMIN = ("admin@example.com", "admin-password-1")
OPERATOR = ("operator@example.com", "operator-password-1")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(times: list[float], statuses: Counter[int]) -> dict[str, Any]:
    return {
        "requests": len(times),
        "p50_ms": round(percentile(times, 0.5), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def patches(client: httpx.Client, task_id: str, count: int) -> dict[str, Any]:
    """`count` sequential PATCHes of the task, each timed."""
    times: list[float] = []
    statuses: Counter[int] = Counter()
    for n in range(count):
        start = time.perf_counter()
        response = client.patch(f"/work/api/tasks/{task_id}", json={"description": f"edit {n}"})
        times.append((time.perf_counter() - start) * 1000)
        statuses[response.status_code] += 1
    return summary(times, statuses)


async def _flood(
    base_url: str,
    concurrency: int,
    total: int,
    seconds: float,
    spread: bool,
    stop: Any,
    out: Any,
) -> None:
    deadline = time.monotonic() + seconds
    sent = 0
    statuses: Counter[int] = Counter()
    times: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < total and time.monotonic() < deadline and not stop.is_set():
            n = sent
            sent += 1
            headers = {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
            body = {"email": f"nobody-{n}@example.com", "password": "not-the-password"}
            start = time.perf_counter()
            try:
                response = await client.post(
                    "/auth/login", json=body, headers=headers if spread else None
                )
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1  # type: ignore[index]
            times.append((time.perf_counter() - start) * 1000)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    out.put(summary(times, statuses) if times else {"requests": 0})


def flood(
    base_url: str,
    concurrency: int,
    total: int,
    seconds: float,
    spread: bool,
    stop: Any,
    out: Any,
) -> None:
    """The flood, in a process of its own (its client work takes no time from ours),
    until `stop` is set, `total` logins were sent or `seconds` have passed."""
    asyncio.run(_flood(base_url, concurrency, total, seconds, spread, stop, out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=200, help="timed PATCHes per phase")
    parser.add_argument("--concurrency", type=int, default=80, help="bogus logins in flight")
    parser.add_argument("--flood-total", type=int, default=20000, help="at most this many")
    parser.add_argument("--flood-seconds", type=float, default=120.0, help="at most this long")
    parser.add_argument("--spread", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--label", default="", help="added to the JSON name (e.g. before)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            **os.environ,
            "DATAOPS_ENV": "test",
            "DATAOPS_HOME": str(home),
            "DATAOPS_ADMIN_EMAIL": ADMIN[0],
            "DATAOPS_ADMIN_PASSWORD": ADMIN[1],
            "DATAOPS_TRUSTED_PROXIES": "127.0.0.1" if args.spread else "",
        }
        with servers.dataops(["serve"], env, home / "serve.log") as server:
            admin = servers.login(server.base_url, *ADMIN)
            try:
                created = admin.post(
                    "/work/api/users",
                    json={
                        "email": OPERATOR[0],
                        "name": "Operator",
                        "role": "operator",
                        "password": OPERATOR[1],
                    },
                )
                created.raise_for_status()
            finally:
                admin.close()
            operator = servers.login(server.base_url, *OPERATOR)
            try:
                task = operator.post(
                    "/work/api/tasks", json={"description": "Publish", "date": "2026-12-01"}
                )
                task.raise_for_status()
                task_id = task.json()["id"]
                patches(operator, task_id, 20)  # warm-up
                quiet = patches(operator, task_id, args.patches)
                print(f"no load:     {quiet}")
                results: Any = multiprocessing.Queue()
                stop = multiprocessing.Event()
                flooder = multiprocessing.Process(
                    target=flood,
                    args=(
                        server.base_url,
                        args.concurrency,
                        args.flood_total,
                        args.flood_seconds,
                        args.spread,
                        stop,
                        results,
                    ),
                )
                load_before = workload.load_average()
                flooder.start()
                time.sleep(1.0)  # the flood is under way
                loaded = patches(operator, task_id, args.patches)
                print(f"login flood: {loaded}")
                stop.set()
                logins = results.get(timeout=args.flood_seconds + 60)
                flooder.join(timeout=args.flood_seconds + 60)
                if flooder.is_alive():
                    flooder.terminate()  # this child only, by its handle
                    flooder.join()
                print(f"the flood:   {logins}")
            finally:
                operator.close()

    info = workload.host_info()
    result = {
        **info,
        "load_average_before": load_before,
        "load_average_after": workload.load_average(),
        "settings": {
            "patches": args.patches,
            "concurrency": args.concurrency,
            "flood_total": args.flood_total,
            "flood_seconds": args.flood_seconds,
            "spread": args.spread,
        },
        "patch_no_load": quiet,
        "patch_during_flood": loaded,
        "flood_logins": logins,
        "goal": "PATCH p95 <= 50 ms during the flood",
        "goal_met": loaded["p95_ms"] <= 50,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    label = f"-{args.label}" if args.label else ""
    out = args.out / f"{info['date']}-{info['host']}-login-flood{label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"goal (p95 <= 50 ms during the flood) met: {result['goal_met']}; wrote {out}")


if __name__ == "__main__":
    main()
