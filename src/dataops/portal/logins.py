"""`POST /auth/login` behind the route: the throttle, the bounded password-hash pool and
the client address the throttle counts by.

A login costs an argon2 hash: tens of milliseconds of CPU (and 64 MiB) that hold no lock
(`services.auth.login` checks the password outside any transaction). Hashes run on a pool
of their own, `HashPool`: a thread per core but one (at least one), a short queue in
front of them, and a lower CPU priority (nice 10, Linux). They never run on the thread
pool that serves the portal's and the engine's synchronous work, so a flood of logins
cannot take the threads every write needs, a core is left to the requests, and the
requests win the CPU when they compete for it. A login that finds the queue full is
answered at once with 503 and `Retry-After: 1` (and is not counted by the
throttle): queueing without bound would only grow the wait of every login behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from dataops.config import ProxyNetwork
from dataops.services import auth
from dataops.services.context import Workspace
from dataops.services.ratelimit import LoginLimiter

_T = TypeVar("_T")
QUEUED_PER_WORKER = 8
"""Logins that may wait per hash worker; the rest are answered 503 at once."""


class LoginRefused(Exception):
    """A login answered without checking its password: `status` with `Retry-After`."""

    def __init__(self, status: int, slug: str, title: str, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title = status, slug, title
        self.detail, self.retry_after = detail, retry_after


class HashPool:
    """A bounded pool for password hashing: `workers` threads (default: one per core but
    one, at least one: a core is left to the requests, as argon2 itself runs a hash on
    several threads) and at most `queued` calls waiting for one (default 8 per worker)."""

    def __init__(self, workers: int | None = None, queued: int | None = None) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 1) - 1)
        self._slots = threading.BoundedSemaphore(
            self.workers + (QUEUED_PER_WORKER * self.workers if queued is None else queued)
        )
        self._executor = ThreadPoolExecutor(
            self.workers, thread_name_prefix="dataops-hash", initializer=_lower_priority
        )

    def reserve(self) -> bool:
        """Take a place for one call (`run` gives it back), or False when all are taken."""
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give back a place `reserve` took for a call that will not be `run`."""
        self._slots.release()

    async def run(self, call: Callable[..., _T], *args: object) -> _T:
        """Run `call` on a hash worker, in the place `reserve` took; the place is given
        back when the call ends or is dropped unstarted."""
        try:
            future: Future[_T] = self._executor.submit(call, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


HASH_NICENESS = 10
"""How much lower the hash workers' CPU priority is (Linux `nice`, per thread; argon2's
own threads inherit it): a core the requests need goes to them first."""


def _lower_priority() -> None:
    """Give the calling hash worker (and the threads argon2 starts from it) a lower CPU
    priority. Best effort: where threads have no priority of their own, nothing changes."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class Logins:
    """Log in: the throttle admits and counts the attempt, the hash pool checks the
    password (`services.auth.login`), a success takes the attempt back."""

    def __init__(self, workspace: Workspace, limiter: LoginLimiter, pool: HashPool) -> None:
        self._ws = workspace
        self._limiter = limiter
        self._pool = pool

    async def login(self, email: str, password: str, address: str) -> auth.NewSession:
        """The new session, or Unauthorized (wrong email or password), or LoginRefused
        (429: too many attempts; 503: too many logins being checked at once)."""
        if not self._pool.reserve():
            raise LoginRefused(
                503,
                "login-busy",
                "Too many logins at once",
                "too many logins are being checked at once; try again in 1 s",
                1,
            )
        try:
            account = " ".join(email.split()).lower()  # the account auth.login looks up
            counted = await run_in_threadpool(self._limiter.attempt, account, address)
            if counted.retry_after is not None:
                wait = counted.retry_after
                raise LoginRefused(
                    429,
                    "too-many-logins",
                    "Too many login attempts",
                    f"too many failed logins; try again in {wait} s",
                    wait,
                )
        except BaseException:
            self._pool.release()
            raise
        session = await self._pool.run(auth.login, self._ws, email, password)
        await run_in_threadpool(self._limiter.succeeded, account, address, counted.at)
        return session


def client_address(scope: Scope, trusted: Sequence[ProxyNetwork]) -> str:
    """The address the throttle counts a request by: the direct peer, unless the peer is
    a trusted proxy (DATAOPS_TRUSTED_PROXIES); then the right-most X-Forwarded-For address
    that is not a trusted proxy (each proxy appends the address it heard from, so entries
    left of it may be anything the client sent). The peer it is when X-Forwarded-For is
    missing or an entry on the way is not an address: a trusted proxy always appends a
    valid one."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    values = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-forwarded-for"]
    hops = [hop.strip() for hop in ",".join(values).split(",") if hop.strip()]
    chosen = peer
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer
        chosen = str(address)
        if not any(address in network for network in trusted):
            return chosen
    return chosen  # every hop is a trusted proxy: the left-most


def _trusted(peer: str, trusted: Sequence[ProxyNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted)
