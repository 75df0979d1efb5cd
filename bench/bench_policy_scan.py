"""What the storage policy's scan costs per KB of input, at 1 KB and at 1 MB: every scan
must be linear in its input (issue 15 asks µs/KB at 1 MB ≤ 1.5 times the µs/KB at 1 KB).

    .venv/bin/python bench/bench_policy_scan.py [--repeats 5] [--out DIR]

Each input shape is a string built to 1 KB and to 1 MB; `secret_value_problem` (the one
scan every free-text field of every record goes through, signed URLs, user information,
secret values, percent-decoded forms) is timed on it (`time.perf_counter`, the median of
`--repeats` runs, more calls per run at 1 KB). The shapes are ordinary text and the
adversarial ones that made a scan quadratic (many starts of a pattern that fails late)
or that probe each pattern's unbounded runs. For comparison the old user-information
pattern (`_USERINFO` before issue 15) is timed on the shape that stalled the server, at
1 KB and 64 KB only (at 1 MB it would take minutes). Writes
bench/results/<YYYY-MM-DD>-<hostname>-policy-scan.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from dataops.domain.policy import check_free_form
from dataops.domain.secret_scan import secret_value_problem

RESULTS = Path(__file__).resolve().parent / "results"
KB = 1024
MB = 1024 * 1024
LIMIT = 1.5
OLD_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s?#@:]*:[^/\s?#@]*@")

SHAPES: dict[str, Callable[[int], str]] = {
    "prose": lambda n: ("The episode notes are ready for review. " * (n // 40 + 1))[:n],
    "letters then @ (the stall)": lambda n: "a" * (n - 1) + "@",
    "url then @": lambda n: "https://" + "a" * (n - 9) + "@",
    "scheme starts a:": lambda n: ("a:" * n)[:n],
    "many ://": lambda n: ("a://" * n)[:n],
    "query names ?a": lambda n: ("?" + "a" * (n - 1))[:n],
    "jwt starts eyJ-": lambda n: ("eyJ-" * n)[:n],
    "sk- starts": lambda n: ("sk-" * n)[:n],
    "bearer spaces": lambda n: ("Bearer " + " " * n)[:n],
    "base64 run": lambda n: ("Ab1/" * n)[:n],
    "base64 words": lambda n: ("Ab1+Cd2/Ef3 " * n)[:n],
    "percent escapes": lambda n: ("%41" * n)[:n],
    "private key dashes": lambda n: ("-----BEGIN " + "A" * n)[:n],
}


def _per_kb(function: Callable[[str], object], text: str, repeats: int) -> float:
    """Median µs per KB of `function(text)`."""
    calls = max(1, MB // len(text) // 16)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            function(text)
        runs.append((time.perf_counter() - start) / calls)
    return statistics.median(runs) * 1e6 / (len(text) / KB)


def measure(repeats: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for name, build in SHAPES.items():
        small = _per_kb(secret_value_problem, build(KB), repeats)
        large = _per_kb(secret_value_problem, build(MB), repeats)
        figures[name] = {
            "us_per_kb_1kb": round(small, 3),
            "us_per_kb_1mb": round(large, 3),
            "ratio": round(large / small, 3),
        }
    free_form = {"steps": [SHAPES["prose"](200), {"note": SHAPES["base64 words"](200)}]}
    figures["check_free_form (small object)"] = {
        "us_per_call": round(_per_kb(lambda _: check_free_form(free_form, "v"), "x" * KB, 5), 3)
    }
    return figures


def measure_old(repeats: int) -> dict[str, float]:
    build = SHAPES["url then @"]
    return {
        f"us_per_kb_{size // KB}kb": round(
            _per_kb(OLD_USERINFO.search, build(size), max(1, repeats // 2)), 1
        )
        for size in (KB, 16 * KB, 64 * KB)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    figures = measure(max(args.repeats, 1))
    old = measure_old(max(args.repeats, 1))
    width = max(map(len, SHAPES))
    print(f"{'shape':<{width}}  µs/KB at 1 KB  µs/KB at 1 MB  ratio (≤ {LIMIT})")
    worst = 0.0
    for name in SHAPES:
        row = figures[name]
        worst = max(worst, row["ratio"])
        print(
            f"{name:<{width}}  {row['us_per_kb_1kb']:>13.3f}  {row['us_per_kb_1mb']:>13.3f}"
            f"  {row['ratio']:>5.2f}"
        )
    print(f"worst ratio {worst:.2f} ({'met' if worst <= LIMIT else 'NOT met'})")
    print(f"old user-information pattern, 'url then @': {old} (µs/KB; quadratic)")
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{dt.date.today().isoformat()}-{host}-policy-scan.json"
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "load_average": os.getloadavg(),
        "repeats": args.repeats,
        "limit_ratio": LIMIT,
        "worst_ratio": worst,
        "shapes": figures,
        "old_userinfo_pattern": old,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
