"""What `PRAGMA synchronous = FULL` costs a commit in WAL mode on this machine, against
NORMAL: one small insert per write transaction (BEGIN IMMEDIATE ... COMMIT), as a
session or audit write is. Alternates the modes in rounds so passing disk load falls on
both alike. Prints the figures and writes
bench/results/<YYYY-MM-DD>-<hostname>-sqlite-synchronous.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload

MODES = ("NORMAL", "FULL")


def commits(path: Path, mode: str, count: int) -> list[float]:
    """Milliseconds per commit of `count` one-row write transactions."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {mode}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data TEXT)")
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (data) VALUES (?)", ("x" * 300,))
        conn.execute("COMMIT")
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=300, help="commits per mode and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the database goes")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in range(args.rounds):
            for mode in MODES:
                timings[mode] += commits(Path(tmp) / f"{mode}-{n}.db", mode, args.commits)
    figures = {
        mode: {
            "commits": len(times),
            "p50_ms": round(percentile(times, 0.5), 3),
            "p95_ms": round(percentile(times, 0.95), 3),
            "mean_ms": round(sum(times) / len(times), 3),
        }
        for mode, times in timings.items()
    }
    for mode, figure in figures.items():
        print(
            f"{mode:7} p50 {figure['p50_ms']:.3f} ms  p95 {figure['p95_ms']:.3f} ms  "
            f"mean {figure['mean_ms']:.3f} ms  ({figure['commits']} commits)"
        )
    info = workload.host_info()
    result = {**info, "load_average": workload.load_average(), "modes": figures}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{info['date']}-{info['host']}-sqlite-synchronous.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
