"""Login throttling per account and per client address, kept in the metadata store so
that every portal process shares one count: the portal and engine of `dataops serve`,
several `dataops portal serve` processes, every warm Lambda container.

A sliding window of failed attempts; past the limit, logins are refused with 429 and a
Retry-After until the window has room again. Each key (the normalised email, the client
address) has one `LoginThrottle` record, `thr_` + the SHA-256 of its kind and value (no
email or address is stored), holding the times of its latest failures: at most the
limit, which is all that deciding and Retry-After need. A failure is a versioned write,
retried when another process wrote the record meanwhile, so concurrent failures all
count. A record whose failures have all left the window has expired and is deleted
(`store.port.EXPIRING`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from dataops.domain.clock import format_ts, now, parse_ts
from dataops.domain.errors import Conflict, VersionConflict
from dataops.domain.models import LoginThrottle
from dataops.services.common import EXPIRED_PER_WRITE
from dataops.store.port import MetadataStore

log = logging.getLogger(__name__)

_ATTEMPTS = 8
"""Versioned writes of one failure before it is given up, each after a fresh read and a
random pause of up to 10 ms * 2**attempt. A write fails only when another process's write
of the record committed first, so with up to 8 failures racing for one account each is
counted."""


class LoginLimiter:
    def __init__(
        self,
        store: MetadataStore,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_seconds: float = 900.0,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self._store = store
        self._limits = {"account": per_account, "address": per_address}
        self._window = timedelta(seconds=window_seconds)
        self._clock = clock

    def retry_after(self, account: str, address: str) -> int | None:
        """Seconds until a login may be tried again, or None when it may be tried now."""
        moment = self._clock()
        keys = self._keys(account, address)
        with self._store.unit_of_work() as uow:
            found = {r.id: r for r in uow.login_throttles.get_many([key for key, _ in keys])}
        waits = []
        for key, limit in keys:
            recent = self._recent(found.get(key), moment)
            if len(recent) >= limit:
                leaves = recent[-limit] + self._window  # then fewer than `limit` are left
                waits.append(int((leaves - moment).total_seconds()) + 1)
        return max(waits) if waits else None

    def failed(self, account: str, address: str) -> None:
        moment = self._clock()
        keys = self._keys(account, address)
        for attempt in range(_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            try:
                with self._store.unit_of_work(write=True) as uow:
                    for key, limit in keys:
                        record = uow.login_throttles.get(key)
                        recent = sorted([*self._recent(record, moment), moment])[-limit:]
                        updated = LoginThrottle(
                            id=key,
                            failures=[format_ts(t) for t in recent],
                            expires_at=format_ts(moment + self._window),
                        )
                        if record is None:
                            uow.login_throttles.add(updated)
                        else:
                            updated.version = record.version + 1
                            uow.login_throttles.update(updated, record.version)
                    uow.purge_expired("login_throttles", format_ts(moment), EXPIRED_PER_WRITE)
                    uow.commit()
                return
            except (Conflict, VersionConflict):
                continue  # another process counted a failure meanwhile: read again
        log.warning("a failed login was not counted: %d conflicting writes", _ATTEMPTS)

    def succeeded(self, account: str) -> None:
        """A correct password clears the account's failures (not the address's)."""
        ((key, _),) = self._keys(account, None)
        try:
            with self._store.unit_of_work(write=True) as uow:
                record = uow.login_throttles.get(key)
                if record is None or not record.failures:
                    return
                cleared = LoginThrottle(key, [], format_ts(self._clock()), record.version + 1)
                uow.login_throttles.update(cleared, record.version)
                uow.commit()
        except (Conflict, VersionConflict):
            pass  # a failure was counted meanwhile: it stands

    def _keys(self, account: str, address: str | None) -> list[tuple[str, int]]:
        """(record ID, limit) of the account's and the address's records."""
        pairs = [("account", account.lower())]
        if address is not None:
            pairs.append(("address", address))
        return [(_record_id(kind, value), self._limits[kind]) for kind, value in pairs]

    def _recent(self, record: LoginThrottle | None, moment: datetime) -> list[datetime]:
        """The record's failures still in the window at `moment`, oldest first (sorted:
        processes' clocks may differ a little, so they need not have been written in order)."""
        if record is None:
            return []
        start = moment - self._window
        return sorted(t for t in map(parse_ts, record.failures) if t > start)


def _record_id(kind: str, value: str) -> str:
    return "thr_" + hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()
