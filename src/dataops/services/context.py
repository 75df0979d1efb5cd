"""What every use case needs: the stores and the settings, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from dataops.blobs.port import BlobStore
from dataops.config import Settings
from dataops.store.port import MetadataStore


@dataclass(frozen=True)
class Workspace:
    store: MetadataStore
    blobs: BlobStore
    settings: Settings
