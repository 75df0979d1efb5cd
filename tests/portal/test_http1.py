"""`Http1Engine` against scripted HTTP servers on loopback: framing both ways, connection
reuse, and every way an engine can fail (the split deployment's end-to-end tests run it
against the real engine: `test_split.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from dataops.portal.broker import (
    EngineBusy,
    EngineRequest,
    EngineTimeout,
    EngineUnavailable,
    InvalidTarget,
)
from dataops.portal.http1 import Http1Engine

Handler = Callable[["Peer"], Awaitable[None]]


@dataclass
class Seen:
    """One request as the server read it."""

    head: list[bytes]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        for line in self.head[1:]:
            key, _, value = line.partition(b": ")
            if key.lower() == name:
                return value
        return None


@dataclass
class Peer:
    """The server's side of one connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int
    log: list[Seen]

    async def read_request(self) -> Seen | None:
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        head = raw[:-4].split(b"\r\n")
        seen = Seen(head, b"")
        length = seen.header(b"content-length")
        if length is not None:
            seen.body = await self.reader.readexactly(int(length))
        elif seen.header(b"transfer-encoding") == b"chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                seen.body += data[:-2]
        self.log.append(seen)
        return seen

    async def answer(
        self, status: int, body: bytes, *headers: bytes, chunked: bool = False
    ) -> None:
        lines = [b"HTTP/1.1 %d X" % status, b"content-type: application/json", *headers]
        if chunked:
            lines.append(b"transfer-encoding: chunked")
            half = len(body) // 2
            payload = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (body[:half], body[half:]))
            payload += b"0\r\n\r\n"
        else:
            lines.append(b"content-length: %d" % len(body))
            payload = body
        self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
        await self.writer.drain()


@dataclass
class Server:
    handler: Handler
    log: list[Seen] = field(default_factory=list)
    connections: int = 0
    url: str = ""

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(Peer(reader, writer, self.connections, self.log))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def keep_answering(peer: Peer) -> None:
    """A keep-alive engine: echoes each request's body, chunked for POST."""
    while (seen := await peer.read_request()) is not None:
        method = seen.head[0].split(b" ")[0]
        await peer.answer(200, b'{"got":"%b"}' % seen.body, chunked=method == b"POST")


def engine_request(
    method: str = "GET",
    raw_path: bytes = b"/api/things",
    query: bytes = b"",
    content_length: bytes | None = None,
    timeout: float = 5.0,
) -> EngineRequest:
    return EngineRequest(
        method=method,
        path=raw_path.decode(),
        raw_path=raw_path,
        query=query,
        headers=[(b"accept", b"application/json"), (b"x-request-id", b"rid-1")],
        content_length=content_length,
        timeout=timeout,
        request_id="rid-1",
    )


@dataclass
class Answer:
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def call(
    engine: Http1Engine, request: EngineRequest, pieces: list[bytes] | None = None
) -> Answer:
    parts = list(pieces or [b""])
    answer = Answer()

    async def receive() -> dict[str, Any]:
        body = parts.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        answer.messages.append(message)

    await engine.call(request, receive, send)
    return answer


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,  # what uvicorn[standard] runs the portal on
}
_loop = ["asyncio"]


@pytest.fixture(params=sorted(LOOPS), autouse=True)
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[None]:
    _loop[0] = request.param
    yield
    _loop[0] = "asyncio"


def run(handler: Handler, scenario: Callable[[Server], Awaitable[None]]) -> Server:
    """Start `handler` on a loopback port, run `scenario` against it (on the event loop
    of this test's parameter), stop it."""
    server = Server(handler)

    async def main() -> None:
        listener = await asyncio.start_server(server._accept, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        server.url = f"http://127.0.0.1:{port}"
        async with listener:
            await scenario(server)

    with asyncio.Runner(loop_factory=LOOPS[_loop[0]]) as runner:
        runner.run(main())
    return server


# ------------------------------------------------------------------ framing and reuse


def test_requests_and_answers_are_framed_and_the_connection_is_reused() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        first = await call(engine, engine_request(query=b"status=approved&limit=5"))
        second = await call(engine, engine_request("POST"), [b'{"a":1}'])
        await engine.aclose()
        assert (first.status, first.body) == (200, b'{"got":""}')
        assert (second.status, second.body) == (200, b'{"got":"{"a":1}"}')  # de-chunked
        assert first.messages[0]["headers"][0] == (b"content-type", b"application/json")
        assert first.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}

    server = run(keep_answering, scenario)
    assert server.connections == 1
    get, post = server.log
    assert get.head[0] == b"GET /api/things?status=approved&limit=5 HTTP/1.1"
    assert get.head[1] == f"host: {server.url[7:]}".encode()
    assert get.head[2:] == [
        b"accept: application/json",
        b"x-request-id: rid-1",
        b"content-length: 0",
    ]
    assert post.header(b"content-length") == b"7"


@pytest.mark.parametrize(
    ("declared", "pieces", "framing"),
    [
        (b"12", [b"abcd", b"efgh", b"ijkl"], (b"content-length", b"12")),
        (None, [b"abcdefghijkl"], (b"content-length", b"12")),
        (None, [b"abcd", b"", b"efgh", b"ijkl"], (b"transfer-encoding", b"chunked")),
    ],
)
def test_a_body_streams_with_the_framing_it_can_have(
    declared: bytes | None, pieces: list[bytes], framing: tuple[bytes, bytes]
) -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        answer = await call(engine, engine_request("POST", content_length=declared), pieces)
        await engine.aclose()
        assert answer.body == b'{"got":"abcdefghijkl"}'

    server = run(keep_answering, scenario)
    (seen,) = server.log
    assert seen.header(framing[0]) == framing[1]
    assert seen.body == b"abcdefghijkl"


def test_a_streamed_body_takes_a_new_connection() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        await call(engine, engine_request())
        await call(engine, engine_request("POST"), [b"ab", b"cd"])
        await call(engine, engine_request())  # the pool still holds the first connection
        await engine.aclose()

    assert run(keep_answering, scenario).connections == 2


def test_idle_connections_expire() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url, idle_seconds=0)
        await call(engine, engine_request())
        await call(engine, engine_request())
        await engine.aclose()

    assert run(keep_answering, scenario).connections == 2


def test_a_connection_the_engine_closes_is_not_reused() -> None:
    async def close_after_one(peer: Peer) -> None:
        await peer.read_request()
        await peer.answer(200, b"{}", b"connection: close")

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        for _ in range(3):
            assert (await call(engine, engine_request())).status == 200
        await engine.aclose()

    assert run(close_after_one, scenario).connections == 3


def test_a_head_answer_has_no_body() -> None:
    async def head(peer: Peer) -> None:
        await peer.read_request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
        await peer.writer.drain()
        await peer.reader.read()  # the connection stays open: the answer must not wait

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        answer = await call(engine, engine_request("HEAD", timeout=2))
        await engine.aclose()
        assert (answer.status, answer.body) == (200, b"")
        assert (b"content-length", b"10") in answer.messages[0]["headers"]

    run(head, scenario)


# ------------------------------------------------------------------ requests in flight


def held_until(gate: list[asyncio.Event]) -> Handler:
    """An engine that answers each request once `gate[0]` is set."""

    async def held(peer: Peer) -> None:
        while await peer.read_request() is not None:
            await gate[0].wait()
            await peer.answer(200, b"{}")

    return held


async def until_seen(server: Server, requests: int) -> None:
    async with asyncio.timeout(5):
        while len(server.log) < requests:
            await asyncio.sleep(0.01)


def test_requests_beyond_the_limit_wait_for_one_to_finish() -> None:
    gate: list[asyncio.Event] = []

    async def scenario(server: Server) -> None:
        gate.append(asyncio.Event())
        engine = Http1Engine(server.url, max_connections=2)
        calls = [asyncio.create_task(call(engine, engine_request())) for _ in range(3)]
        await until_seen(server, 2)
        await asyncio.sleep(0.1)
        assert len(server.log) == 2  # the third waits in the portal, not at the engine
        gate[0].set()
        answers = await asyncio.gather(*calls)
        await engine.aclose()
        assert [answer.status for answer in answers] == [200, 200, 200]

    server = run(held_until(gate), scenario)
    assert (len(server.log), server.connections) == (3, 2)  # the third reused one


def test_a_request_that_finds_no_place_in_time_is_busy_and_not_sent() -> None:
    gate: list[asyncio.Event] = []

    async def scenario(server: Server) -> None:
        gate.append(asyncio.Event())
        engine = Http1Engine(server.url, max_connections=1)
        first = asyncio.create_task(call(engine, engine_request()))
        await until_seen(server, 1)
        with pytest.raises(EngineBusy):
            await call(engine, engine_request("POST", timeout=0.2), [b'{"a":1}'])
        gate[0].set()
        assert (await first).status == 200
        assert (await call(engine, engine_request())).status == 200  # its place is free
        await engine.aclose()

    server = run(held_until(gate), scenario)
    assert [seen.head[0] for seen in server.log] == [b"GET /api/things HTTP/1.1"] * 2


def test_the_wait_for_a_place_counts_against_the_timeout() -> None:
    """The answer must start within the timeout of the call, the wait included: a
    request that waited 0.7 s of its 1 s for a place and then meets an engine that takes
    0.7 s to answer times out, though neither wait alone reaches 1 s."""
    gate: list[asyncio.Event] = []

    async def first_held_then_slow(peer: Peer) -> None:
        while await peer.read_request() is not None:
            if len(peer.log) == 1:
                await gate[0].wait()
            else:
                await asyncio.sleep(0.7)
            await peer.answer(200, b"{}")

    async def scenario(server: Server) -> None:
        gate.append(asyncio.Event())
        engine = Http1Engine(server.url, max_connections=1)
        first = asyncio.create_task(call(engine, engine_request()))
        await until_seen(server, 1)
        second = asyncio.create_task(call(engine, engine_request(timeout=1.0)))
        await asyncio.sleep(0.7)
        gate[0].set()
        assert (await first).status == 200
        with pytest.raises(EngineTimeout):
            await second
        await engine.aclose()

    server = run(first_held_then_slow, scenario)
    assert len(server.log) == 2  # the second was sent: it found a place in time


def test_a_failed_request_frees_its_place() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine("http://127.0.0.1:9", max_connections=1)  # nothing listens
        for _ in range(3):  # a place kept by a failure would make the second one busy
            with pytest.raises(EngineUnavailable):
                await call(engine, engine_request(timeout=1))

    run(keep_answering, scenario)


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        Http1Engine("http://127.0.0.1:9", max_connections=0)


# ------------------------------------------------------------------ failures


def test_an_engine_nobody_listens_to_is_unavailable() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine("http://127.0.0.1:9")  # the discard port: nothing listens
        with pytest.raises(EngineUnavailable):
            await call(engine, engine_request())

    run(keep_answering, scenario)


def test_an_engine_that_never_answers_is_a_timeout() -> None:
    async def silent(peer: Peer) -> None:
        await peer.read_request()
        await peer.reader.read()

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        with pytest.raises(EngineTimeout):
            await call(engine, engine_request(timeout=0.2))
        await engine.aclose()

    run(silent, scenario)


def test_an_engine_that_hangs_up_before_answering_is_unavailable() -> None:
    async def hang_up(peer: Peer) -> None:
        await peer.read_request()

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        with pytest.raises(EngineUnavailable):
            await call(engine, engine_request())
        await engine.aclose()

    run(hang_up, scenario)


def test_an_answer_cut_short_raises_after_it_started() -> None:
    async def cut(peer: Peer) -> None:
        await peer.read_request()
        peer.writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await peer.writer.drain()

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        with pytest.raises(EngineUnavailable, match="mid-answer"):
            await engine.call(engine_request(), receive, send)
        assert messages[0]["status"] == 200
        assert not any(m.get("more_body") is False for m in messages)  # never completed
        await engine.aclose()

    run(cut, scenario)


def test_an_engine_that_answers_before_reading_the_body_is_heard() -> None:
    """A 413 sent while the body still streams, then the connection closed: the client
    gets the 413, not a 502."""

    async def refuse(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await peer.answer(413, b'{"status":413}', b"connection: close")
        peer.writer.transport.abort()  # unread bytes: the kernel resets the connection

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        pieces = [b"x" * 65536] * 200  # 12.5 MiB, far more than the socket buffers hold
        answer = await call(engine, engine_request("POST", content_length=b"13107200"), pieces)
        await engine.aclose()
        assert (answer.status, answer.body) == (413, b'{"status":413}')

    run(refuse, scenario)


def test_an_engine_that_answers_and_stops_reading_is_heard() -> None:
    """The same answer from an engine that keeps the connection open but reads no more:
    not a timeout."""

    async def refuse_and_wait(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await peer.answer(413, b'{"status":413}')
        await asyncio.sleep(30)  # cancelled when the scenario ends

    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        pieces = [b"x" * 65536] * 200
        request = engine_request("POST", content_length=b"13107200", timeout=5)
        answer = await call(engine, request, pieces)
        await engine.aclose()
        assert (answer.status, answer.body) == (413, b'{"status":413}')

    run(refuse_and_wait, scenario)


def _stale_after_first(peer: Peer) -> Awaitable[None]:
    """The first connection answers once, then takes the next request and hangs up
    without a word (what a keep-alive connection the engine closed looks like); later
    connections answer normally."""

    async def handle() -> None:
        await peer.read_request()
        await peer.answer(200, b"{}")
        if peer.number == 1:
            await peer.read_request()
            peer.writer.transport.abort()
            return
        await keep_answering(peer)

    return handle()


def test_a_safe_request_on_a_stale_connection_is_sent_again() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        await call(engine, engine_request())
        answer = await call(engine, engine_request())
        await engine.aclose()
        assert answer.status == 200

    server = run(_stale_after_first, scenario)
    assert server.connections == 2
    assert [s.head[0].split(b" ")[0] for s in server.log] == [b"GET", b"GET", b"GET"]


def test_a_write_on_a_stale_connection_is_not_repeated() -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        await call(engine, engine_request())
        with pytest.raises(EngineUnavailable):
            await call(engine, engine_request("POST"), [b'{"title":"once"}'])
        await engine.aclose()

    server = run(_stale_after_first, scenario)
    assert [s.head[0].split(b" ")[0] for s in server.log] == [b"GET", b"POST"]
    assert server.connections == 1


@pytest.mark.parametrize("raw_path", [b"/api/a b", b"/api/a\r\nx-injected: 1", b"/api/\x00"])
def test_a_target_that_cannot_be_sent_is_refused(raw_path: bytes) -> None:
    async def scenario(server: Server) -> None:
        engine = Http1Engine(server.url)
        with pytest.raises(InvalidTarget):
            await call(engine, engine_request(raw_path=raw_path))

    assert run(keep_answering, scenario).connections == 0


@pytest.mark.parametrize("url", ["ftp://engine", "engine:8001", "http://"])
def test_an_engine_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="must be http"):
        Http1Engine(url)
