"""Login throttling per account and per client address, kept in the metadata store so
that every portal process shares one count: the portal and engine of `dataops serve`,
several `dataops portal serve` processes, every warm Lambda container.

A sliding window of login attempts; past the limit, logins are refused with 429 and a
Retry-After until the window has room again. An attempt is counted BEFORE its password is
checked, in the same write that found the limit not reached (`attempt`), so concurrent
guesses cannot all pass the check before any of them is counted: at most the limit are
ever checked. A correct password then takes its attempt back (`succeeded`): it clears
the account's record, as a success always has, and removes its own entry from the
address's record, so an address counts only the attempts that failed (or are still
being checked).

Each key (the normalised email, the client address) has one `LoginThrottle` record,
`thr_` + the SHA-256 of its kind and value (no email or address is stored), holding the
times of its latest attempts: at most the limit, which is all that deciding and
Retry-After need. Counting is a versioned write of both records at once (one SQLite
transaction, one DynamoDB TransactWriteItems), retried when another process wrote a
record meanwhile; an attempt that still cannot be counted is refused, never checked
uncounted. A record whose attempts have all left the window has expired and is deleted
(`store.port.EXPIRING`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dataops.domain.accounts import LoginThrottle
from dataops.domain.clock import format_ts, now, parse_ts
from dataops.domain.errors import Conflict, VersionConflict
from dataops.services.common import EXPIRED_PER_WRITE
from dataops.store.port import MetadataStore, UnitOfWork

log = logging.getLogger(__name__)

_WRITES = 8
"""Versioned writes of one count before it is given up, each after a fresh read and a
random pause of up to 10 ms * 2**n. A write fails only when another process's write of
the record committed first (SQLite serialises writers, so only DynamoDB retries)."""


@dataclass(frozen=True)
class Attempt:
    """What `LoginLimiter.attempt` decided."""

    retry_after: int | None
    """Seconds until a login may be tried again: the attempt was refused, not counted."""
    at: str = ""
    """When the admitted attempt was counted (its entry in the records)."""


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
        """Seconds until a login may be tried again, or None when it may be tried now.
        Reads only: `attempt` decides and counts."""
        moment = self._clock()
        keys = self._keys(account, address)
        with self._store.unit_of_work() as uow:
            found = {r.id: r for r in uow.login_throttles.get_many([key for key, _ in keys])}
        return self._wait(keys, found, moment)

    def attempt(self, account: str, address: str) -> Attempt:
        """Count a login attempt before its password is checked: admitted (and counted on
        the account and the address) when both are under their limits, else refused with
        the wait. Deciding and counting are one write, so racing attempts are decided one
        after another and at most the limit are admitted per window."""
        moment = self._clock()
        at = format_ts(moment)
        keys = self._keys(account, address)
        for n in range(_WRITES):
            if n:
                time.sleep(random.uniform(0, 0.01 * 2**n))
            try:
                with self._store.unit_of_work(write=True) as uow:
                    found = {key: uow.login_throttles.get(key) for key, _ in keys}
                    wait = self._wait(keys, found, moment)
                    if wait is not None:
                        return Attempt(wait)
                    for key, limit in keys:
                        times = sorted([*self._recent(found[key], moment), moment])[-limit:]
                        self._write(uow, key, found[key], [format_ts(t) for t in times], moment)
                    uow.purge_expired("login_throttles", at, EXPIRED_PER_WRITE)
                    uow.commit()
                return Attempt(None, at)
            except (Conflict, VersionConflict):
                continue  # another process counted an attempt meanwhile: decide again
        log.warning("a login attempt was refused: %d conflicting writes to count it", _WRITES)
        return Attempt(1)

    def succeeded(self, account: str, address: str, at: str) -> None:
        """The attempt counted at `at` had the right password: clear the account's record
        and take the attempt off the address's. Best effort: a record another process
        changed meanwhile is left as it is (a failure counted meanwhile stands)."""
        moment = self._clock()
        (account_key, _), (address_key, _) = self._keys(account, address)
        try:
            with self._store.unit_of_work(write=True) as uow:
                changed = False
                record = uow.login_throttles.get(account_key)
                if record is not None and record.failures:
                    self._write(uow, account_key, record, [], moment)
                    changed = True
                record = uow.login_throttles.get(address_key)
                if record is not None and at in record.failures:
                    kept = list(record.failures)
                    kept.remove(at)
                    self._write(uow, address_key, record, kept, moment)
                    changed = True
                if changed:
                    uow.commit()
        except (Conflict, VersionConflict):
            pass

    def _write(
        self,
        uow: UnitOfWork,
        key: str,
        record: LoginThrottle | None,
        times: list[str],
        moment: datetime,
    ) -> None:
        """Add or update (versioned) the key's record with `times`; it expires when the
        newest of them leaves the window."""
        newest = parse_ts(times[-1]) if times else moment - self._window
        updated = LoginThrottle(id=key, failures=times, expires_at=format_ts(newest + self._window))
        if record is None:
            uow.login_throttles.add(updated)
        else:
            updated.version = record.version + 1
            uow.login_throttles.update(updated, record.version)

    def _wait(
        self,
        keys: list[tuple[str, int]],
        found: Mapping[str, LoginThrottle | None],
        moment: datetime,
    ) -> int | None:
        """Seconds until every key is under its limit at `moment`, or None when it is."""
        waits = []
        for key, limit in keys:
            recent = self._recent(found.get(key), moment)
            if len(recent) >= limit:
                leaves = recent[-limit] + self._window  # then fewer than `limit` are left
                waits.append(int((leaves - moment).total_seconds()) + 1)
        return max(waits) if waits else None

    def _keys(self, account: str, address: str) -> list[tuple[str, int]]:
        """(record ID, limit) of the account's and the address's records."""
        pairs = [("account", account.lower()), ("address", address)]
        return [(_record_id(kind, value), self._limits[kind]) for kind, value in pairs]

    def _recent(self, record: LoginThrottle | None, moment: datetime) -> list[datetime]:
        """The record's attempts still in the window at `moment`, oldest first (sorted:
        processes' clocks may differ a little, so they need not have been written in order)."""
        if record is None:
            return []
        start = moment - self._window
        return sorted(t for t in map(parse_ts, record.failures) if t > start)


def _record_id(kind: str, value: str) -> str:
    return "thr_" + hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()
