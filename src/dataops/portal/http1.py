"""`Http1Engine`: the broker's connector to an engine at an `http://` (or `https://`) URL,
over HTTP/1.1 keep-alive connections of its own — `dataops portal serve --engine-url`.

Why not httpx (still used for the Lambda invoke transport): issue 8's profile of the
split deployment showed the portal spending about 1.3 ms of CPU per brokered request,
~96 % of it in httpx, httpcore and h11 (a pure-Python parser); this connector writes the
request itself on an asyncio protocol and parses the answer with httptools (llhttp in
C, the parser uvicorn uses).

- **Request**: `METHOD target HTTP/1.1`, `host`, the broker's headers unchanged, then
  the body streamed from the portal's `receive`: with the client's `content-length`
  when it declared one, with the length of a body that arrived in one piece, else
  chunked. A target holding a space or control byte is `InvalidTarget`.
- **Answer**: passed to `send` as it arrives (the body de-chunked; the broker keeps
  only its allow-listed headers). It must start within `request.timeout` of the call,
  the whole of it (waiting for a place, connecting, sending the request: as
  `AsgiEngine`), else `EngineTimeout`; each later read of the body gets the same
  timeout anew. A connection that fails
  before the answer starts is `EngineUnavailable`; after, the error is raised as it is
  and the response is cut short. An engine that answers before reading the whole body
  (a 413, say) is heard: a failed write stops the body and the answer is read.
- **Connections**: at most `max_connections` requests are in flight to the engine,
  each on a connection of its own (what httpx's pool allowed); a request beyond them
  waits for one to finish, up to `request.timeout`, then is `EngineBusy` (503) without
  being sent (what is left of the timeout after the wait is all the engine gets). A
  connection goes back to the idle pool only after a complete answer the engine let
  stay open; idle ones are kept at most `idle_seconds` (below uvicorn's 5 s
  keep-alive) and `max_idle` of them, and one that the engine has closed (end of file
  seen) is never reused. A streamed body always takes a new connection. A
  GET, HEAD or OPTIONS found on a reused connection the engine closed before any answer
  byte is sent again, once, on a new one; any other request is then 502 (it is not
  repeated: the engine might have acted on it).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Send

from dataops.portal.broker import (
    EngineBusy,
    EngineRequest,
    EngineTimeout,
    EngineUnavailable,
    InvalidTarget,
)

_BUFFERED = 1 << 20
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_NO_BODY_METHODS = frozenset({"HEAD"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Sent again on a new connection when a reused one was found closed (see above)."""


class _Connection(asyncio.Protocol):
    """One connection to the engine. Unlike asyncio's streams it hands out data that
    arrived before a reset (an engine that answered, then closed on an unread body);
    reading pauses while more than `_BUFFERED` bytes wait (a slow portal client)."""

    def __init__(self) -> None:
        self.reused = False
        self.idle_since = 0.0
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._closed = False
        self._reading_paused = False
        self._writing_paused = False
        self._wakeup: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is not a subclass of asyncio's classes).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _BUFFERED and not self._reading_paused:
            self._reading_paused = True
            self._live().pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._closed = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _wait(self) -> None:
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    def _live(self) -> asyncio.Transport:
        assert self._transport is not None
        return self._transport

    async def read(self) -> bytes:
        """What has arrived (waiting for something), b"" once the engine closed."""
        while not self._chunks:
            if self._closed:
                return b""
            await self._wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._reading_paused and not self._closed:
            self._reading_paused = False
            self._live().resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        """Send `data`, waiting while the socket's buffer is full; ConnectionError once
        the connection is closed, or when the engine answers while the buffer is full
        (it stopped reading the request: its answer is what counts)."""
        if self._closed or self._live().is_closing():
            raise ConnectionResetError("the engine closed the connection")
        self._live().write(data)
        while self._writing_paused:
            if self._closed or self._chunks:
                raise ConnectionResetError("the engine stopped reading the request")
            await self._wait()

    def usable(self) -> bool:
        return not self._closed and not self._live().is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


@dataclass
class _Answer:
    """httptools' callbacks: the status line and headers, body pieces, completion."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    headers_done: bool = False
    complete: bool = False
    keep_alive: bool = False
    parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = bool(self.parser.should_keep_alive())  # valid here (llhttp)


@dataclass(frozen=True)
class _Outgoing:
    """One request to send: its head (framing included), the body's first piece, and
    where the rest of the body comes from."""

    request: EngineRequest
    head: bytes
    first: Message
    chunked: bool
    receive: Receive
    deadline: float
    """The event loop's time by which the answer must have started."""


class _ReusedConnectionClosed(Exception):
    """A pooled connection the engine had closed: nothing was answered on it."""


async def _read_head(
    connection: _Connection, out: _Outgoing
) -> tuple[_Answer, httptools.HttpResponseParser]:
    """Read the answer on `connection` up to the end of its headers (by `out.deadline`):
    the answer so far and the parser that goes on reading it."""
    answer = _Answer()
    parser = answer.parser = httptools.HttpResponseParser(answer)
    try:
        async with asyncio.timeout_at(out.deadline):
            while not answer.headers_done:
                data = await connection.read()
                if not data:
                    if connection.reused:
                        raise _ReusedConnectionClosed()
                    raise EngineUnavailable(out.request.request_id)
                parser.feed_data(data)
    except TimeoutError:
        raise EngineTimeout(out.request.request_id) from None
    except httptools.HttpParserError as exc:
        raise EngineUnavailable(out.request.request_id) from exc
    return answer, parser


class Http1Engine:
    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 100,
        max_idle: int = 64,
        idle_seconds: float = 4.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the engine URL must be http://host[:port], not {base_url!r}")
        secure = parts.scheme == "https"
        self._address = (parts.hostname, parts.port or (443 if secure else 80))
        self._ssl = ssl.create_default_context() if secure else None
        self._host = parts.netloc.rpartition("@")[2].encode("idna")
        self._prefix = parts.path.rstrip("/").encode("latin-1")
        self._idle: list[_Connection] = []
        self._max_idle = min(max_idle, max_connections)
        self._in_flight = asyncio.Semaphore(max_connections)
        self._idle_seconds = idle_seconds

    async def call(self, request: EngineRequest, receive: Receive, send: Send) -> None:
        target = self._prefix + request.raw_path
        if request.query:
            target += b"?" + request.query
        if _BAD_TARGET.search(target):
            raise InvalidTarget(target[:200].decode("latin-1"))
        deadline = asyncio.get_running_loop().time() + request.timeout
        first = await receive()
        if first["type"] != "http.request":
            raise ClientDisconnect()
        whole = not first.get("more_body", False)
        chunked = not whole and request.content_length is None
        head = self._head(request, target, first, chunked)
        out = _Outgoing(request, head, first, chunked, receive, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                await self._in_flight.acquire()
        except TimeoutError:
            raise EngineBusy(request.request_id) from None
        try:
            await self._call(out, send, whole=whole)
        finally:
            self._in_flight.release()

    async def _call(self, out: _Outgoing, send: Send, *, whole: bool) -> None:
        request = out.request
        if whole:  # a streamed body takes a new connection: it could not be sent again
            pooled = self._pooled()
            if pooled is not None:
                try:
                    await self._exchange(pooled, out, send)
                    return
                except _ReusedConnectionClosed:
                    if request.method not in _SAFE_METHODS:
                        raise EngineUnavailable(request.request_id) from None
        connection = await self._connect(out)
        await self._exchange(connection, out, send)

    def _head(self, request: EngineRequest, target: bytes, first: Message, chunked: bool) -> bytes:
        """The request line and headers, with the body's framing: the client's declared
        length, else the length of a body that came whole, else chunked."""
        lines = [
            request.method.encode("ascii") + b" " + target + b" HTTP/1.1",
            b"host: " + self._host,
        ]
        lines += [name + b": " + value for name, value in request.headers]
        if request.content_length is not None:
            lines.append(b"content-length: " + request.content_length)
        elif chunked:
            lines.append(b"transfer-encoding: chunked")
        else:
            lines.append(b"content-length: " + str(len(first.get("body", b""))).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def _pooled(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable() and now - connection.idle_since < self._idle_seconds:
                connection.reused = True
                return connection
            connection.close()
        return None

    async def _connect(self, out: _Outgoing) -> _Connection:
        request = out.request
        host, port = self._address
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(out.deadline):
                _, connection = await loop.create_connection(_Connection, host, port, ssl=self._ssl)
        except TimeoutError:
            raise EngineTimeout(request.request_id) from None
        except OSError as exc:
            raise EngineUnavailable(request.request_id) from exc
        return connection

    async def _exchange(self, connection: _Connection, out: _Outgoing, send: Send) -> None:
        """One request and its answer on `connection`; the connection goes back to the
        pool only if the answer completed and the engine keeps it open."""
        keep = False
        try:
            keep = await self._send_and_answer(connection, out, send)
        finally:
            if keep and len(self._idle) < self._max_idle:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()

    async def _send_and_answer(self, connection: _Connection, out: _Outgoing, send: Send) -> bool:
        request = out.request
        body_sent = await self._send_request(connection, out)
        answer, parser = await _read_head(connection, out)
        status = parser.get_status_code()
        await send({"type": "http.response.start", "status": status, "headers": answer.headers})
        if request.method in _NO_BODY_METHODS:
            answer.complete = True  # a HEAD answer declares a length but has no body
            answer.body.clear()
        while True:
            for chunk in answer.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            answer.body.clear()
            if answer.complete:
                break
            async with asyncio.timeout(request.timeout):
                data = await connection.read()
            if not data:
                raise EngineUnavailable(f"the engine closed mid-answer ({request.request_id})")
            parser.feed_data(data)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return (
            body_sent
            and request.method not in _NO_BODY_METHODS
            and answer.keep_alive
            and connection.usable()
        )

    async def _send_request(self, connection: _Connection, out: _Outgoing) -> bool:
        """Write the request; False when the engine stopped reading it (a failed write:
        its answer, if any, is read next) or the body was not sent whole."""
        request, chunked = out.request, out.chunked
        message = out.first
        data = out.head
        try:
            async with asyncio.timeout_at(out.deadline):
                while True:
                    piece: bytes = message.get("body", b"")
                    if chunked and piece:
                        data += b"%x\r\n%b\r\n" % (len(piece), piece)
                    elif piece:
                        data += piece
                    more = message.get("more_body", False)
                    if chunked and not more:
                        data += b"0\r\n\r\n"
                    await connection.write(data)
                    if not more:
                        return True
                    message = await out.receive()
                    if message["type"] != "http.request":
                        raise ClientDisconnect()
                    data = b""
        except TimeoutError:
            raise EngineTimeout(request.request_id) from None
        except ConnectionError:
            if connection.reused and message is out.first:
                raise _ReusedConnectionClosed() from None
            return False  # the engine may have answered already (say, 413): read it

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
