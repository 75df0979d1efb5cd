"""How many API calls each page of the operator UI makes, and how long Home takes to
show its lanes, at two workspace sizes: real Chromium (Playwright) against a real
`dataops serve` on SQLite seeded by `workload.seed` (1k artifacts / 100 tasks and 100k
artifacts / 10k tasks by default).

    .venv/bin/python bench/bench_pages.py
    .venv/bin/python bench/bench_pages.py --sizes 1000 --loads 3
    .venv/bin/python bench/bench_pages.py --src /tmp/before/src --name pages-before

`--src` serves from another source tree (PYTHONPATH of the server only; the store is
seeded by this tree): how the figures were taken before a change.

For each page a fresh load of its URL (a new document, as when a link is opened in a
new tab) in a logged-in browser context, repeated `--loads` times: the requests to the
engine API (`/work/api/*`) until the network is idle, and the milliseconds from the
navigation to the page being rendered (its heading shown and no "Loading…" left in it)
and to the network being idle (Playwright's networkidle: 500 ms without a request; that
wait is subtracted). Prints a table and writes bench/results/<date>-<host>-<name>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import servers
import workload

CHROMIUM = Path(os.environ.get("DATAOPS_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
IDLE_MS = 500  # Playwright's networkidle quiet period
RENDERED = (
    "() => { const h = document.querySelector('main h1');"
    " return Boolean(h) && !document.querySelector('main .loading, main [aria-busy=\"true\"]'); }"
)
GOAL_CALLS = 6
GOAL_HOME_MS = 1000


def pages(seeded: workload.Seeded) -> dict[str, str]:
    bundle = seeded.bundles_by_role["blocked"][0]
    return {
        "home": "/work/overview",
        "bundle": f"/work/bundles/{bundle}",
        "my-work": "/work/my-work",
        "review": "/work/review",
        "artifact": f"/work/artifacts/{seeded.sample_artifacts[0]}",
        "bundles": "/work/bundles",
        "task": f"/work/tasks/{seeded.tasks_by_role['blocked'][0]}",
        "templates": "/work/templates",
        "all-artifacts": "/work/artifacts",
        "search": "/work/search?q=episode",
        "people": "/work/admin/users",
    }


def load(page: Any, base_url: str, path: str) -> dict[str, Any]:
    calls: list[str] = []

    def seen(request: Any) -> None:
        url = re.sub(r"^https?://[^/]+", "", request.url)
        if url.startswith(("/work/api/", "/auth/")):
            calls.append(url)

    page.on("request", seen)
    try:
        started = time.perf_counter()
        page.goto(base_url + path, wait_until="commit")
        page.wait_for_function(RENDERED, timeout=120_000)
        rendered = time.perf_counter()
        page.wait_for_load_state("networkidle", timeout=120_000)
        idle = time.perf_counter()
    finally:
        page.remove_listener("request", seen)
    api = [c for c in calls if c.startswith("/work/api/")]
    return {
        "rendered_ms": (rendered - started) * 1000,
        "idle_ms": max((idle - started) * 1000 - IDLE_MS, (rendered - started) * 1000),
        "api_calls": len(api),
        "all_calls": len(calls),
        "calls": [c.split("?")[0] for c in api],
        "full_calls": api,
    }


def measure(base_url: str, targets: dict[str, str], loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(base_url + "/work/login")
        page.get_by_label("Email").fill(workload.ADMIN_EMAIL)
        page.get_by_label("Password").fill(workload.ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out").wait_for(timeout=120_000)
        for name, path in targets.items():
            load(page, base_url, path)  # warm-up: server caches, bytecode, browser cache
            runs = [load(page, base_url, path) for _ in range(loads)]
            results[name] = {
                "path": path,
                "rendered_ms_p50": statistics.median(r["rendered_ms"] for r in runs),
                "idle_ms_p50": statistics.median(r["idle_ms"] for r in runs),
                "api_calls": max(r["api_calls"] for r in runs),
                "all_calls": max(r["all_calls"] for r in runs),
                "rendered_ms_runs": [round(r["rendered_ms"], 1) for r in runs],
                "calls": runs[-1]["calls"],
                "full_calls": runs[-1]["full_calls"],
            }
        browser.close()
    return results


def run_size(size: int, loads: int, src: str | None) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dataops-pages-")))
        env = workload.sqlite_env(home)
        ws, actor = workload.open_workspace(env)
        print(f"seeding {size} artifacts", file=sys.stderr)
        seeded = workload.seed(ws, size, actor.id)
        ws.store.close()
        served_env = {**os.environ, **env}
        if src:
            served_env["PYTHONPATH"] = src
        served = servers.dataops(["serve"], served_env, home / "serve.log")
        stack.callback(served.stop)
        figures = measure(served.base_url, pages(seeded), loads)
        return {
            "artifacts": size,
            "tasks": seeded.tasks,
            "pages": figures,
            "api_ms_p50": api_times(served.base_url, figures, loads * 2),
        }


def api_times(base_url: str, figures: dict[str, Any], reps: int) -> dict[str, float]:
    """The server's side of Home and the bundle page: each API call they made, timed
    alone over HTTP (p50 of `reps`), so the browser's share can be told apart."""
    client = servers.login(base_url, workload.ADMIN_EMAIL, workload.ADMIN_PASSWORD)
    times: dict[str, float] = {}
    try:
        for page in ("home", "bundle"):
            for url in figures[page]["full_calls"]:
                samples = []
                for _ in range(reps + 1):
                    started = time.perf_counter()
                    client.get(url).raise_for_status()
                    samples.append((time.perf_counter() - started) * 1000)
                times[f"{page} {url.split('?')[0]}"] = round(statistics.median(samples[1:]), 1)
    finally:
        client.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--src", default=None, help="serve from this source tree")
    parser.add_argument("--name", default="pages")
    parser.add_argument("--out", default=str(workload.RESULTS))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    before = workload.load_average()
    results = [run_size(size, args.loads, args.src) for size in sizes]
    report = {
        "host": workload.host_info(),
        "load_average": {"before": before, "after": workload.load_average()},
        "served_from": args.src or "this tree",
        "goal": {"api_calls_max": GOAL_CALLS, "home_rendered_ms_max": GOAL_HOME_MS},
        "sizes": results,
    }
    print(
        f"{'artifacts':>9} {'tasks':>6}  {'page':<9} {'api':>4} {'all':>4} "
        f"{'rendered ms':>11} {'idle ms':>8}"
    )
    for result in results:
        for name, figures in result["pages"].items():
            print(
                f"{result['artifacts']:>9} {result['tasks']:>6}  {name:<9} "
                f"{figures['api_calls']:>4} {figures['all_calls']:>4} "
                f"{figures['rendered_ms_p50']:>11.0f} {figures['idle_ms_p50']:>8.0f}"
            )
    for result in results:
        for call, ms in result["api_ms_p50"].items():
            print(
                f"{result['artifacts']:>9} {result['tasks']:>6}  server alone: {call} {ms:.1f} ms"
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    path = out / f"{stamp}-{workload.host_info()['host']}-{args.name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
