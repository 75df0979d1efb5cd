"""The embedded default metadata store: one SQLite file in WAL mode."""

from dataops.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
