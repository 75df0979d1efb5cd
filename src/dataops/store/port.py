"""The metadata-store port. Every backend passes the same contract suite
(tests/contract/test_store_contract.py).

Atomicity: everything written through one `UnitOfWork` becomes visible together at
`commit()`, or not at all. Leaving the `with` block without `commit()` discards it.

Consistency: a decision made from records read in a write unit of work must still hold
when it commits. A backend that serialises write units (SQLite: BEGIN IMMEDIATE) gets
this for free; a backend that cannot (DynamoDB) must turn every `update` into a
condition on the version read and every `guard` into a condition check inside one
transaction, and raise `VersionConflict` when any of them fails.

Errors: backends raise only `dataops.domain.errors` classes across this port:
`Conflict` for a duplicate key on `add`, `VersionConflict` for a stale `update` or a
failed `guard`, `ValidationFailed` for a malformed cursor, `StorageUnavailable` when
the backend cannot be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from dataops.domain.accounts import (
    ApiToken,
    Credential,
    IdempotencyRecord,
    LoginThrottle,
    Session,
    User,
    WorkspaceSettings,
)
from dataops.domain.messages import AuditEvent, Notification, OutboxMessage, Webhook
from dataops.domain.models import (
    Artifact,
    Bundle,
    FileRecord,
    RecurringConfig,
    Task,
    Template,
    Upload,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50

EXPIRING = ("sessions", "idempotency", "login_throttles")
"""Entities whose records serve no purpose once their `expires_at` has passed (a session
is refused, an idempotency key is new again, a throttle's failures have left its
window), so a store does not keep them."""


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    descending: bool = False
    """The entity's order reversed (notifications: newest first); a cursor continues in
    the direction of the page it came from."""


@dataclass(frozen=True)
class Filters:
    """Equality filters by snake_case field name; None values are ignored. `since` and
    `through` bound the first field of the entity's list order (tasks: `date`), both
    inclusive: a range read of the same index, for entities whose order starts with a
    field other than the key."""

    values: Mapping[str, str | None] = field(default_factory=dict)
    since: str | None = None
    through: str | None = None

    def active(self) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if v is not None}

    def in_range(self, first_order_value: str | None) -> bool:
        """Whether a record whose first order value is this lies within the bounds."""
        value = first_order_value or ""
        if self.since is not None and value < self.since:
            return False
        return self.through is None or value <= self.through


StoredRow = tuple[str, bytes, int | None]
"""One record exactly as a backend stored it: (key, runtime JSON, version).

The JSON is the record's `codec.to_dict` form serialised by
`json.dumps(..., separators=(",", ":"), ensure_ascii=False)` (both backends write it so:
`sqlite/tables.py`, `dynamodb/tables.py`), as its UTF-8 bytes, never re-encoded; readers
may rely on that (the export does). `version` is the stored version of a versioned
entity, which wins over the JSON's as on every read; None for unversioned entities."""


@dataclass(frozen=True)
class StoredRecords:
    """Every record of one entity as stored, in batches (`UnitOfWork.stored`)."""

    batches: Iterator[list[StoredRow]]
    key_ordered: bool
    """True when the rows come in ascending key order (code point order, which is also
    UTF-8 byte order); False when the backend has no such order for the entity."""


@dataclass(frozen=True)
class SearchHit:
    """A record search found: its kind (`domain.search.KINDS`) and ID."""

    kind: str
    id: str


@dataclass(frozen=True)
class EncodedRecords:
    """Records of one entity as a store writes them (`MetadataStore.encode`); picklable."""

    entity: str
    rows: list[Any]


class Repository(Protocol[T]):
    """Records of one entity, keyed by their `id` (credentials: `user_id`)."""

    def get(self, record_id: str) -> T | None:
        """The record, or None."""

    def get_many(self, record_ids: Sequence[str]) -> list[T]:
        """The records that exist among `record_ids`, in that order (no scan)."""

    def add(self, record: T) -> None:
        """Insert; `Conflict` if the key exists."""

    def update(self, record: T, expected_version: int) -> None:
        """Replace the record stored at `expected_version`; the record must already carry
        `expected_version + 1`. `VersionConflict` if the stored version differs or the
        record is gone."""

    def find(self, filters: Filters, page: PageRequest) -> Page[T]:
        """Records matching every filter, in the entity's stable order (reversed with
        `page.descending`), through an index. Filters the backend has no index for are a
        programming error (ValueError)."""

    def count(self, filters: Filters) -> int:
        """How many committed records match `filters`, read through the same index as
        `find` (SQLite: COUNT over the index; DynamoDB: a Select=COUNT Query of the index,
        paged; never a scan). A unit's own uncommitted writes are not counted."""

    def cursor_after(self, record: T) -> str:
        """The cursor whose `find` page starts right after `record` in the entity's order:
        for a caller that stops part-way through a page it read (a list filtered further
        by the service), so the next page neither skips nor repeats a record."""


class Repositories(Protocol):
    """The repositories of a unit of work, one per entity, each named after its entity:
    declared here once, for the port and for both backends, whose units of work derive
    from this class and get every repository from `open_repositories`."""

    users: Repository[User]
    credentials: Repository[Credential]
    sessions: Repository[Session]
    api_tokens: Repository[ApiToken]
    idempotency: Repository[IdempotencyRecord]
    login_throttles: Repository[LoginThrottle]
    settings: Repository[WorkspaceSettings]
    uploads: Repository[Upload]
    templates: Repository[Template]
    recurring_configs: Repository[RecurringConfig]
    bundles: Repository[Bundle]
    tasks: Repository[Task]
    files: Repository[FileRecord]
    artifacts: Repository[Artifact]
    audit_events: Repository[AuditEvent]
    notifications: Repository[Notification]
    webhooks: Repository[Webhook]
    outbox: Repository[OutboxMessage]


ENTITIES: tuple[str, ...] = tuple(Repositories.__annotations__)
"""Every entity of the store (the names of the `Repositories`), in declaration order."""


def open_repositories(uow: Repositories, repository: Callable[[str], Repository[Any]]) -> None:
    """Give `uow` the repository of every entity, as `repository(entity)` makes it (the
    backends' units of work, which mypy therefore takes for abstract: they are built
    with `type: ignore[abstract]`)."""
    for entity in ENTITIES:
        setattr(uow, entity, repository(entity))


class UnitOfWork(Repositories, Protocol):
    @property
    def store(self) -> MetadataStore:
        """The store this unit of work belongs to."""

    def guard(self, entity: str, record_id: str, version: int) -> None:
        """Require that the record of `entity` is still at `version` when this unit
        commits (a condition check); `VersionConflict` otherwise."""

    def commit(self) -> None:
        """Make every write of this unit visible atomically."""

    def search(
        self, words: Sequence[str], kinds: Sequence[str], page: PageRequest
    ) -> Page[SearchHit]:
        """The records of `kinds` holding every one of `words` (`domain.search`), ordered
        by kind (in `KINDS` order) then by ID descending, through the search index that
        each write of a task, bundle or artifact keeps in the same transaction (no scan).
        `ValidationFailed` for a malformed cursor. As eventually consistent as `find`: a
        hit may name a record changed or gone since (the caller reads the records)."""

    def stored(self, entity: str, batch_size: int = MAX_PAGE_SIZE) -> StoredRecords:
        """Every committed record of `entity` as stored (`StoredRow`), for bulk readers
        that need no entity objects (the export), in batches of at most `batch_size`.

        Consistency is the unit's: on SQLite one read transaction, so everything the
        unit reads (`stored`, `stored_many`, `get`, `find`) is one snapshot; on DynamoDB a
        paged Query of the entity's constant-partition index, eventually consistent like
        `find`. The batches must be consumed before the unit ends. For read units: a
        unit's own uncommitted writes are not guaranteed to show, and DynamoDB refuses
        (RuntimeError) once the unit has buffered a write."""

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]:
        """The stored rows of the records among `keys` that exist, in no particular
        order, read by key (no scan; on DynamoDB strongly consistent). Same consistency
        and read-unit rule as `stored`."""

    def purge_expired(self, entity: str, before: str, limit: int) -> int:
        """Delete, with this write unit, up to `limit` records of `entity` (one of
        `EXPIRING`) whose `expires_at` is earlier than the timestamp `before`, oldest
        first, and say how many. A record that has not expired is never deleted. A
        backend whose database deletes expired records itself deletes none here and
        returns 0: DynamoDB, whose TTL on `expiresAtEpoch` removes them (within days of
        expiry; until then they are read and refused as expired)."""

    def add_encoded(self, encoded: EncodedRecords) -> None:
        """Insert records that `MetadataStore.encode` prepared, as `add` would insert
        each of them, in order (on SQLite in a few statements); `Conflict` if a key
        exists (then the unit must not commit)."""

    def bulk_insert(self, entity: str, *, rebuild_indexes: bool) -> AbstractContextManager[None]:
        """A context in which this write unit only inserts records of `entity`
        (`add_encoded`), so that a backend may write them faster: SQLite takes a bigger
        page cache and, with `rebuild_indexes` (the store must hold no record of
        `entity`: `Conflict` on entry otherwise), drops the table's secondary indexes on
        entry and builds each once on exit, in the unit's transaction (a rollback
        restores the empty table with its indexes; the schema after is the same).
        DynamoDB: no change."""

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back unless `commit()` ran."""


class StoredReader(Protocol):
    """The bulk reads of a unit of work (`stored`, `stored_many`): what the export reads."""

    def stored(self, entity: str, batch_size: int = MAX_PAGE_SIZE) -> StoredRecords: ...

    def stored_many(self, entity: str, keys: Sequence[str]) -> list[StoredRow]: ...


class MetadataStore(Protocol):
    name: str
    snapshot_reads: bool
    """True when everything one read unit of work reads is one snapshot (SQLite); False
    when reads are live (DynamoDB), so a reader that needs one instant across records
    must make it (the export: `portable/writing/snapshot.py`)."""
    atomic_write_limit: int | None
    """The most writes one unit of work commits atomically (None: any number). Beyond
    it a unit is refused, or, if it only inserts, sent in parts (not atomically)."""

    def unit_of_work(self, *, write: bool = False) -> UnitOfWork:
        """A unit of work; `write=True` for one that will commit changes."""

    def is_empty(self) -> bool:
        """True when the store holds no workflow records (users aside)."""

    def bulk_writes(self) -> AbstractContextManager[int | None]:
        """A block of bulk inserts (the import), by the calling thread alone; yields the
        most records one unit of work should insert (None: any number). SQLite writes
        with a rollback journal while nothing else has its file open; DynamoDB: no
        change (its units are bounded by `atomic_write_limit`)."""

    def encode(
        self, entity: str, records: Sequence[Any], data: Sequence[str | None] | None = None
    ) -> EncodedRecords:
        """`records` of `entity` in the form this store writes them, for
        `UnitOfWork.add_encoded`: pure (no I/O), so a bulk writer (the import) may
        encode in other processes while it writes. The rows are the backend's own.
        `data` (SQLite only): each record's stored JSON where the caller wrote it by a
        compiled codec (`domain.structs`); such a record has the entity's attributes but
        may be a struct."""

    def close(self) -> None: ...
