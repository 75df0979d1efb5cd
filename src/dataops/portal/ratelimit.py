"""Login throttling per account and per client address (in process memory).

A sliding window of failed attempts; past the limit, logins are refused with 429 and a
Retry-After until the window has room again. On Lambda each warm container keeps its own
window, so the effective limit there is per container.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

_MAX_KEYS = 10_000


class LoginLimiter:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, account: str, address: str) -> int | None:
        """Seconds until a login may be tried again, or None when it may be tried now."""
        now = self._clock()
        with self._lock:
            waits = []
            for kind, key in (("account", account.lower()), ("address", address)):
                window = self._prune((kind, key), now)
                if len(window) >= self._limits[kind]:
                    waits.append(int(window[0] + self._window - now) + 1)
            return max(waits) if waits else None

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:  # bound memory under a spray of accounts
                for key in list(self._failures):
                    self._prune(key, now)
            for key in (("account", account.lower()), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(("account", account.lower()), None)

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        window = self._failures.get(key, deque())
        while window and window[0] <= now - self._window:
            window.popleft()
        if not window:
            self._failures.pop(key, None)
        return window
