"""A small closed-loop HTTP/1.1 load generator: N concurrent keep-alive connections on
one asyncio loop, each sending its next request as soon as the last answer is read, for a
fixed time or until the requests run out. HTTP is parsed with h11 (the parser under
httpx and uvicorn), so the generator costs little CPU per request and the server, not the
client, is what is measured. Loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import h11

MAX_SECONDS = 120.0  # no run goes on longer than this, whatever it is asked


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    body: Any = None  # JSON
    headers: tuple[tuple[str, str], ...] = ()
    expect: int = 200


MakeRequest = Callable[[int], Request | None]  # the i-th request, None when there are no more


@dataclass
class Result:
    concurrency: int
    seconds: float = 0.0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    exhausted: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else 0.0

        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": round(statistics.median(lat), 2) if lat else 0.0,
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "unexpected": self.unexpected,
            "errors": self.errors,
            "clientCpuSeconds": round(self.client_cpu_seconds, 2),
            "exhausted": self.exhausted,
        }


async def _worker(
    host: str,
    port: int,
    make: MakeRequest,
    numbers: Iterator[int],
    deadline: float,
    result: Result,
    record: bool,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    conn = h11.Connection(h11.CLIENT)
    try:
        while time.perf_counter() < deadline:
            request = make(next(numbers))
            if request is None:
                result.exhausted = True
                return
            body = b"" if request.body is None else json.dumps(request.body).encode()
            headers = [("host", f"{host}:{port}"), ("content-length", str(len(body)))]
            if request.body is not None:
                headers.append(("content-type", "application/json"))
            headers += list(request.headers)
            head = h11.Request(method=request.method, target=request.target, headers=headers)
            data = conn.send(head) or b""
            if body:
                data += conn.send(h11.Data(data=body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
            started = time.perf_counter()
            writer.write(data)
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await reader.read(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    conn.receive_data(chunk)
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            elapsed = (time.perf_counter() - started) * 1000
            conn.start_next_cycle()
            if record:
                result.requests += 1
                result.statuses[status] += 1
                result.unexpected += status != request.expect
                result.latencies_ms.append(elapsed)
    except (OSError, h11.ProtocolError):
        result.errors += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _run(
    base_url: str, make: MakeRequest, concurrency: int, seconds: float, warmup: float
) -> Result:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    numbers = itertools.count()
    result = Result(concurrency)
    if warmup > 0:
        until = time.perf_counter() + warmup
        scratch = Result(concurrency)
        await asyncio.gather(
            *(_worker(host, port, make, numbers, until, scratch, False) for _ in range(concurrency))
        )
        result.exhausted = scratch.exhausted
        if result.exhausted:
            return result
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + min(seconds, MAX_SECONDS)
    await asyncio.gather(
        *(_worker(host, port, make, numbers, deadline, result, True) for _ in range(concurrency))
    )
    result.seconds = time.perf_counter() - started
    result.client_cpu_seconds = time.process_time() - cpu
    return result


def run(
    base_url: str, make: MakeRequest, *, concurrency: int, seconds: float, warmup: float = 1.0
) -> Result:
    """Closed loop: `concurrency` connections for `seconds` (after `warmup` untimed)."""
    return asyncio.run(_run(base_url, make, concurrency, seconds, warmup))
