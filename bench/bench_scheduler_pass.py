"""What one recurring-work pass costs on SQLite, and whether it grows with the stored
tasks (issue 17: a pass over 1,000 enabled configs with 100k tasks in the store within
2 s; 10k vs 100k tasks within 1.5 times).

    .venv/bin/python bench/bench_scheduler_pass.py [--configs 1000] [--tasks 10000,100000]

For each task count, a fresh SQLite store in a temp dir holds that many tasks (one
template of 5 task definitions, instantiated by hand in bundles of 5) and `--configs`
enabled weekly recurring configs of that template with one lead day. Three passes are
timed (`time.perf_counter`):

- `due`: every config has one occurrence due: 1,000 bundles and 5,000 tasks made;
- `idle`: the same `now` again: nothing due, every config read and evaluated;
- `next-week`: a week later, one more occurrence each.

Writes bench/results/<YYYY-MM-DD>-<hostname>-scheduler-pass.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import tempfile
import time
from pathlib import Path

from dataops import runtime
from dataops.config import Settings
from dataops.domain.clock import parse_ts
from dataops.domain.codec import fields_from_dict
from dataops.domain.models import Template
from dataops.services import people, recurring, recurring_pass, workflow
from dataops.services.context import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
TASKS_PER_BUNDLE = 5


def _seed(home: Path, configs: int, tasks: int) -> Workspace:
    ws = runtime.build_workspace(
        Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_HOME": str(home)})
    )
    definitions = [
        {"refId": f"t{i}", "description": f"Step {i}", "offsetDays": i}
        for i in range(TASKS_PER_BUNDLE)
    ]
    template = workflow.create_template(
        ws,
        people.SYSTEM,
        fields_from_dict(Template, {"name": "Weekly", "taskDefinitions": definitions}),
    )
    anchor = dt.date(2024, 1, 1)
    for start in range(0, tasks // TASKS_PER_BUNDLE, 200):  # 200 bundles per unit of work
        with ws.store.unit_of_work(write=True) as uow:
            for offset in range(min(200, tasks // TASKS_PER_BUNDLE - start)):
                day = anchor + dt.timedelta(days=(start + offset) % 365)
                workflow.add_instance(uow, people.SYSTEM, template, f"Hand {start + offset}", day)
            uow.commit()
    for index in range(configs):
        recurring.create_config(
            ws,
            people.SYSTEM,
            {
                "template_id": template.id,
                "title": f"Series {index} #{{n}}",
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "start_date": "2026-01-06",
                "lead_days": 1,
            },
        )
    return ws


def _timed(ws: Workspace, moment: str) -> tuple[float, int]:
    start = time.perf_counter()
    result = recurring_pass.run_due(ws, parse_ts(moment))
    return time.perf_counter() - start, len(result.created)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--tasks", default="10000,100000", help="task counts, comma separated")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.tasks.split(",")]
    figures: dict[str, dict[str, float | int]] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory() as home:
            ws = _seed(Path(home), args.configs, size)
            due, made = _timed(ws, "2026-01-05T12:00:00Z")
            idle, _ = _timed(ws, "2026-01-05T12:00:00Z")
            week, week_made = _timed(ws, "2026-01-12T12:00:00Z")
            ws.store.close()
        figures[str(size)] = {
            "due_s": round(due, 3),
            "bundles_made": made,
            "idle_s": round(idle, 3),
            "next_week_s": round(week, 3),
            "next_week_made": week_made,
        }
        print(
            f"{size:>7} tasks, {args.configs} configs: due pass {due:.3f} s ({made} bundles), "
            f"idle pass {idle:.3f} s, next week {week:.3f} s ({week_made} bundles)"
        )
    first, last = figures[str(sizes[0])], figures[str(sizes[-1])]
    ratios = {
        key: round(float(last[key]) / float(first[key]), 2)
        for key in ("due_s", "idle_s", "next_week_s")
    }
    print(f"ratio {sizes[-1]} / {sizes[0]} tasks: {ratios}")
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{dt.date.today().isoformat()}-{host}-scheduler-pass.json"
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "configs": args.configs,
        "figures": figures,
        "ratios": ratios,
        "goal": {"due_pass_s": 2.0, "ratio": 1.5},
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
