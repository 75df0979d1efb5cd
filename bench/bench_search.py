"""What search (`services/search.search`, issue 19) costs on SQLite as artifacts grow, and
what keeping the FTS5 index costs a write.

    .venv/bin/python bench/bench_search.py [--sizes 1000,50000] [--reps 200]

For each size, a fresh SQLite store in a temp dir holds that many artifacts whose titles
and descriptions draw words from a 2,000-word vocabulary (Zipf-like: word k is used about
1/k as often), plus one artifact holding the rare word "quokka". Timed
(`time.perf_counter`, median and p95 of `--reps` calls, first page of 50):

- `rare`: "quokka" (one hit);
- `common`: the most used word (hits in most records; the first page of many);
- `two-words`: the two most used words together (AND);
- `seed-per-record`: seconds per artifact written while seeding (500 per unit of
  work), which includes the FTS5 row of each.

Writes bench/results/<YYYY-MM-DD>-<hostname>-search.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path

from dataops import runtime
from dataops.config import Settings
from dataops.domain.clock import now_ts
from dataops.domain.enums import ArtifactType, StorageProvider
from dataops.domain.models import Artifact
from dataops.services import search
from dataops.services.context import Workspace
from dataops.store.port import PageRequest

RESULTS = Path(__file__).resolve().parent / "results"
VOCABULARY = [f"w{k}" for k in range(1, 2001)]
WEIGHTS = [1 / k for k in range(1, 2001)]
BATCH = 500


def _seed(home: Path, size: int) -> tuple[Workspace, float]:
    ws = runtime.build_workspace(
        Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)})
    )
    rng = random.Random(19)
    stamp = now_ts()
    started = time.perf_counter()
    for start in range(0, size, BATCH):
        with ws.store.unit_of_work(write=True) as uow:
            for n in range(start, min(start + BATCH, size)):
                title = " ".join(rng.choices(VOCABULARY, WEIGHTS, k=4))
                if n == size // 2:
                    title += " quokka"
                uow.artifacts.add(
                    Artifact(
                        id=f"art_{n:08d}",
                        type=ArtifactType.REPORT,
                        title=title,
                        description=" ".join(rng.choices(VOCABULARY, WEIGHTS, k=12)),
                        storage_uri=f"https://docs.example.com/{n}",
                        storage_provider=StorageProvider.EXTERNAL_URL,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
            uow.commit()
    return ws, (time.perf_counter() - started) / size


def _time(ws: Workspace, q: str, reps: int) -> dict[str, float]:
    for _ in range(10):
        search.search(ws, q, None, PageRequest(limit=50))
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        search.search(ws, q, None, PageRequest(limit=50))
        samples.append(time.perf_counter() - started)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,50000")
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    figures: dict[str, dict[str, object]] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            ws, per_record = _seed(Path(home), size)
            row: dict[str, object] = {"seed_per_record_ms": round(per_record * 1000, 4)}
            for name, q in (("rare", "quokka"), ("common", "w1"), ("two-words", "w1 w2")):
                row[name] = _time(ws, q, args.reps)
            ws.store.close()
        figures[str(size)] = row
        print(f"{size:>7} artifacts: {json.dumps(row)}")
    RESULTS.mkdir(exist_ok=True)
    name = f"{dt.date.today().isoformat()}-{socket.gethostname()}-search.json"
    (RESULTS / name).write_text(json.dumps({"sizes": figures}, indent=2) + "\n")
    print(f"wrote bench/results/{name}")


if __name__ == "__main__":
    main()
