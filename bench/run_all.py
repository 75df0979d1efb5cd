"""Run the performance suite and judge it against the figures issue 8 asks for.

    .venv/bin/python bench/run_all.py                 # scale, throughput, profiles (~40 min)
    .venv/bin/python bench/run_all.py --quick         # small sizes, a smoke run (~4 min)
    .venv/bin/python bench/run_all.py --with-portable # also export/validate/import (+20 min)
    .venv/bin/python bench/run_all.py --summary-only  # judge the JSON files already written

Each benchmark runs as its own process and writes its own JSON; this prints one table of
targets and writes bench/results/<YYYY-MM-DD>-<hostname>.json (the file issue 8 names).
Profiles run only when pyinstrument and py-spy can be imported / found (see
profile_paths.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import workload

HERE = Path(__file__).resolve().parent
QUICK = {
    "bench_scale.py": [
        "--sizes",
        "1000,10000",
        "--dynamo-sizes",
        "1000",
        "--reps",
        "40",
        "--dynamo-reps",
        "6",
        "--dynamo-warmup",
        "2",
    ],
    "bench_throughput.py": ["--size", "10000", "--duration", "2", "--repeats", "1"],
    "profile_paths.py": ["--size", "10000", "--reps", "50", "--load-seconds", "3"],
    "bench_portable.py": ["--sizes", "10000,100000"],
}


def _run(script: str, extra: list[str], quick: bool) -> dict[str, Any]:
    argv = [sys.executable, str(HERE / script), *(QUICK[script] if quick else []), *extra]
    print(f"\n### {' '.join(argv[1:])}", flush=True)
    started = time.perf_counter()
    code = subprocess.call(argv)
    return {"script": script, "exit": code, "seconds": round(time.perf_counter() - started, 1)}


def _profilers() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None and (
        shutil.which("py-spy") is not None
        or any((Path(p) / "bin" / "py-spy").exists() for p in sys.path)
    )


def _load(out: Path, stem: str, suffix: str) -> dict[str, Any] | None:
    exact = out / f"{stem}-{suffix}.json"
    candidates = [exact] if exact.exists() else sorted(out.glob(f"*-{suffix}.json"))
    if not candidates:
        return None
    data: dict[str, Any] = json.loads(candidates[-1].read_text())
    data["_file"] = candidates[-1].name
    return data


def judge(out: Path, stem: str) -> list[dict[str, Any]]:
    """One row per figure of issue 8: what was measured, the target, met or not."""
    rows: list[dict[str, Any]] = []

    def row(figure: str, value: str, target: str, met: bool | None, source: str) -> None:
        rows.append(
            {"figure": figure, "value": value, "target": target, "met": met, "from": source}
        )

    scale = _load(out, stem, "scale")
    if scale:
        src = scale["_file"]
        for key, r in scale.get("ratios", {}).get("sqlite", {}).items():
            if r["target"]:
                row(
                    f"SQLite {key} p50 {r['to']}/{r['from']}",
                    f"{r['p50Ratio']}x",
                    "<= 1.5x",
                    r["withinLimit"],
                    src,
                )
        for op, entry in scale.get("dynamoItems", {}).items():
            values = "/".join(f"{v:g}" for v in entry["itemsRead"].values())
            sizes = "/".join(entry["itemsRead"])
            row(
                f"DynamoDB items read per {entry['per']}: {op} ({sizes})",
                values,
                "same at every size",
                entry["independentOfSize"],
                src,
            )
        for backend, results in scale.get("backends", {}).items():
            for result in results:
                wrong = sum(c["calls"] - c["ok"] for c in result["counts"].values())
                calls = sum(c["calls"] for c in result["counts"].values())
                row(
                    f"{backend} {result['size']}: wrong lists / proofs / completions",
                    f"{wrong} of {calls}",
                    "0",
                    wrong == 0 and not result["problems"],
                    src,
                )
    tput = _load(out, stem, "throughput")
    if tput:
        src = tput["_file"]
        for op, r in tput["throughput"].items():
            if "meetsRpsTarget" in r:
                row(
                    f"dataops serve {op} at {tput['size']}, {tput['concurrency']} clients",
                    f"{r['serve']['rps']} req/s",
                    ">= 500 req/s",
                    r["meetsRpsTarget"],
                    src,
                )
        # Issue 8 asks the broker overhead of `dataops serve` (portal and engine in one
        # process) against the engine alone; the split deployment (portal -> engine over
        # loopback HTTP, two processes) is reported beside it, not judged.
        for op, r in tput["throughput"].items():
            over = r["overhead"].get("serveVsEngine")
            row(
                f"broker overhead {op} (engine/serve req/s)",
                f"{over}x",
                "<= 1.3x",
                over is not None and over <= 1.3,
                src,
            )
        for op, r in tput["latencyOneClient"].items():
            over = r["overhead"].get("serveVsEngine")
            row(
                f"broker overhead {op} (serve/engine p50, 1 client)",
                f"{over}x",
                "<= 1.3x",
                over is not None and over <= 1.3,
                src,
            )
        for op, r in tput["throughput"].items():
            over = r["overhead"]["portalVsEngine"]
            row(f"split portal {op} (engine/portal req/s)", f"{over}x", "(reported)", None, src)
        for op, r in tput["latencyOneClient"].items():
            over = r["overhead"]["portalVsEngine"]
            row(
                f"split portal {op} (portal/engine p50, 1 client)",
                f"{over}x",
                "(reported)",
                None,
                src,
            )
    portable = _load(out, stem, "portable")  # bench_portable.py's file (run with --with-portable)
    if portable:
        src = portable["_file"]
        floors = {"export": 100_000, "validate": 200_000}
        for step in portable.get("steps", []):
            floor = floors.get(step["step"])
            row(
                f"{step['step']} at {step['size']} records",
                f"{step['records_per_s']} rec/s",
                f">= {floor} rec/s" if floor else "(no target)",
                step["records_per_s"] >= floor if floor else None,
                src,
            )
        for step, ratio in portable.get("peak_rss_ratio_largest_to_smallest", {}).items():
            row(f"{step} peak RSS largest/smallest", f"{ratio}x", "<= 1.3x", ratio <= 1.3, src)
    floor = _load(out, stem, "validate-floor")  # validate_floor.py's file: what limits validate
    if floor:
        summary = floor["summary"]
        budget = f"(budget {summary['budget_us_per_record']} us)"
        for stage, value in summary["us_per_record"].items():
            figure = f"validate CPU per record: {stage} (validate_floor.py)"
            row(figure, f"{value} us", budget, None, floor["_file"])
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'figure':<62}{'value':>14}  {'target':<20}met")
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['figure']:<62}{r['value']:>14}  {r['target']:<20}{met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--with-portable", action="store_true", help="also bench_portable.py")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--out", type=Path, default=workload.RESULTS)
    args = parser.parse_args(argv)
    stem = f"{dt.date.today().isoformat()}-{socket.gethostname()}"
    runs: list[dict[str, Any]] = []
    load_before = workload.load_average()
    if not args.summary_only:
        out = ["--out", str(args.out)]
        runs.append(_run("bench_scale.py", out, args.quick))
        runs.append(_run("bench_throughput.py", out, args.quick))
        if args.no_profile:
            pass
        elif _profilers():
            runs.append(_run("profile_paths.py", out, args.quick))
        else:
            print("\n### profiles skipped: pyinstrument / py-spy not found (profile_paths.py)")
        if args.with_portable:
            runs.append(_run("bench_portable.py", out, args.quick))
    rows = judge(args.out, stem)
    print_rows(rows)
    report = {
        "benchmark": "run_all",
        **workload.host_info(),
        "loadAverage": {"before": load_before, "after": workload.load_average()},
        "runs": runs,
        "figures": rows,
    }
    path = args.out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
