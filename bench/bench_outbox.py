"""What the webhook outbox costs on SQLite (issue 18): how fast one dispatcher delivers,
and what writing an event adds to the change that causes it.

    .venv/bin/python bench/bench_outbox.py [--events 2000] [--approvals 300]

- `throughput`: a fresh SQLite store in a temp dir with one endpoint (every §8 event) on a
  local HTTP receiver (a threaded `http.server` on 127.0.0.1 answering 200, in this
  process); `--events` bundles are made (one `bundle.created` message each), then one
  dispatcher (`scheduler.dispatch_until_idle`, what `dataops outbox run --once` runs, the
  real `HttpSender`) delivers them all, timed with `time.perf_counter`: events/s. The
  receiver must have got each message exactly once, each signed.
- `approval`: two fresh SQLite stores, one with no endpoint and one with one enabled
  endpoint subscribed to `artifact.status-changed` (no dispatcher running: the event is
  only written, in the approval's transaction). `--approvals` artifacts registered in
  each, then approved through the service (`artifact_review.review_artifact`), alternating
  between the two stores, each approval timed: p50 and p95 per store, and the ratio of
  the p50s (issue 18's goal: at most 1.2x).

Writes bench/results/<YYYY-MM-DD>-<hostname>-outbox.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from dataops import runtime
from dataops.config import Settings
from dataops.delivery import HttpSender
from dataops.domain.accounts import Actor
from dataops.domain.enums import ArtifactType, Role
from dataops.domain.messages import OutboxMessage
from dataops.domain.webhooks import EVENTS
from dataops.scheduler import dispatch_until_idle
from dataops.services import artifact_review, artifacts, people, webhooks, workflow
from dataops.services.context import Workspace
from dataops.store.port import Filters, PageRequest

RESULTS = Path(__file__).resolve().parent / "results"


class _Receiver:
    """A local webhook receiver: counts the `webhook-id`s it gets, answers 200."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.unsigned = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
            disable_nagle_algorithm = True  # the answer in one segment, no delayed-ACK wait

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    receiver.ids[self.headers.get("webhook-id", "")] += 1
                    receiver.unsigned += not self.headers.get("webhook-signature")
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _workspace(home: Path) -> tuple[Workspace, Actor]:
    ws = runtime.build_workspace(
        Settings.from_env(
            {
                "DATAOPS_ENV": "test",
                "DATAOPS_HOME": str(home),
                "DATAOPS_OUTBOX_INTERVAL_SECONDS": "0",
            }
        )
    )
    admin = people.add_user(
        ws, people.SYSTEM, "admin@example.com", "Admin", Role.ADMIN, "bench-password-1"
    )
    return ws, Actor(admin.id, admin.email, admin.role, admin.name)


def throughput(events: int, receiver: _Receiver) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        ws, admin = _workspace(Path(home))
        hook = webhooks.create_webhook(ws, admin, {"url": receiver.url, "events": list(EVENTS)})
        for n in range(events):
            workflow.create_bundle(ws, admin, {"title": f"Bundle {n}"})
        sender = HttpSender(public_only=False)
        try:
            start = time.perf_counter()
            result = dispatch_until_idle(ws, sender=sender)
            elapsed = time.perf_counter() - start
        finally:
            sender.close()
        left = [m for m in _log(ws, hook.webhook.id, events + 10) if m.status != "delivered"]
        ws.store.close()
    twice = sum(1 for count in receiver.ids.values() if count > 1)
    if len(result.delivered) != events or len(receiver.ids) != events or twice or left:
        raise SystemExit(
            f"throughput: {len(result.delivered)} delivered, {len(receiver.ids)} received, "
            f"{twice} twice, {len(left)} still pending (expected {events} once each)"
        )
    if receiver.unsigned:
        raise SystemExit(f"throughput: {receiver.unsigned} deliveries without a signature")
    return {
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed, 1),
    }


def _log(ws: Workspace, webhook_id: str, limit: int) -> list[OutboxMessage]:
    """An endpoint's messages (its delivery log), up to `limit`."""
    with ws.store.unit_of_work() as uow:
        return uow.outbox.find(Filters({"target_id": webhook_id}), PageRequest(limit)).items


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def approval(approvals: int, receiver: _Receiver) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as plain_home, tempfile.TemporaryDirectory() as hook_home:
        stores: dict[str, tuple[Workspace, Actor, list[str]]] = {}
        for name, home in (("without", plain_home), ("with", hook_home)):
            ws, admin = _workspace(Path(home))
            if name == "with":
                hook_id = webhooks.create_webhook(
                    ws, admin, {"url": receiver.url, "events": ["artifact.status-changed"]}
                ).webhook.id
            ids = [
                artifacts.register_artifact(
                    ws,
                    admin,
                    {
                        "type": ArtifactType.REPORT,
                        "title": f"Report {n}",
                        "storage_uri": f"https://example.com/r{n}.pdf",
                    },
                ).id
                for n in range(approvals + 20)
            ]
            stores[name] = (ws, admin, ids)
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for n in range(approvals + 20):
            order = ("without", "with") if n % 2 else ("with", "without")
            for name in order:
                ws, admin, ids = stores[name]
                start = time.perf_counter()
                artifact_review.review_artifact(ws, admin, ids[n], artifacts.ReviewAction.APPROVE)
                if n >= 20:  # the first 20 warm up
                    timings[name].append(time.perf_counter() - start)
        ws_with = stores["with"][0]
        log = _log(ws_with, hook_id, approvals + 50)
        queued = sum(1 for m in log if m.status == "pending")
        for ws, _, _ in stores.values():
            ws.store.close()
    if queued != approvals + 20:
        raise SystemExit(f"approval: {queued} events queued, expected {approvals + 20}")
    figures: dict[str, Any] = {"approvals": approvals, "queued_with": queued}
    for name, samples in timings.items():
        figures[name] = {
            "p50_ms": round(statistics.median(samples) * 1000, 3),
            "p95_ms": round(_pct(samples, 0.95) * 1000, 3),
        }
    figures["ratio_p50"] = round(figures["with"]["p50_ms"] / figures["without"]["p50_ms"], 3)
    figures["ratio_p95"] = round(figures["with"]["p95_ms"] / figures["without"]["p95_ms"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--approvals", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    receiver = _Receiver()
    try:
        moved = throughput(args.events, receiver)
        print(
            f"throughput: {moved['events']} events delivered by one dispatcher in "
            f"{moved['seconds']:.2f} s: {moved['events_per_s']:.0f} events/s (SQLite, 127.0.0.1)"
        )
        cost = approval(args.approvals, receiver)
    finally:
        receiver.stop()
    print(
        f"approval ({cost['approvals']} each): without a webhook p50 "
        f"{cost['without']['p50_ms']:.2f} ms, p95 {cost['without']['p95_ms']:.2f} ms; "
        f"with one subscribed endpoint p50 {cost['with']['p50_ms']:.2f} ms, "
        f"p95 {cost['with']['p95_ms']:.2f} ms; ratio p50 {cost['ratio_p50']:.2f}x, "
        f"p95 {cost['ratio_p95']:.2f}x (goal <= 1.2x)"
    )
    host = socket.gethostname().split(".")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{dt.date.today().isoformat()}-{host}-outbox.json"
    document = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "throughput": moved,
        "approval": cost,
        "goal": {"approval_ratio_p50": 1.2},
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
