"""What every use case needs: the stores and the settings, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from dataops.blobs.port import BlobStore
from dataops.config import Settings
from dataops.services import mail
from dataops.store.port import MetadataStore

LOCAL_READ_STORES = frozenset({"sqlite"})
"""Metadata stores (by `MetadataStore.name`) whose reads are local calls that never wait."""


@dataclass(frozen=True)
class Workspace:
    store: MetadataStore
    blobs: BlobStore
    settings: Settings

    def __post_init__(self) -> None:
        if self.settings.smtp is not None:  # e-mail is queued only when it can be sent
            mail.enable(self.store, self.settings.portal_url)

    @property
    def local_reads(self) -> bool:
        """True when a bounded read of the metadata store (a record by key, a page, a proof
        check) is a local call of a fraction of a millisecond that does not wait for
        writers, so the HTTP edges may run it on their event loop instead of handing it to
        the thread pool. SQLite in WAL mode: readers never wait for the writer. Not a
        network store (DynamoDB): a request there must never block the loop. Writes always
        go to the thread pool (SQLite's writer lock can be held by another process)."""
        return self.store.name in LOCAL_READ_STORES
