"""Owner-only files and directories for what DataOps keeps on local disk (the SQLite
database, local-dev blobs): password hashes and users' files are nobody else's."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> None:
    """Create `path` and any missing parent, each 0700 whatever the umask; a directory
    that already exists is left as it is (it may be shared on purpose)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it first
        directory.chmod(PRIVATE_DIR)


def private_file(path: Path, *side_suffixes: str) -> None:
    """Create `path` 0600 if it is missing, and tighten it and its side files
    (`path` + each suffix) to 0600 when others could read them. A file this process may
    not chmod (someone else's) is left as it is."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in side_suffixes)):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_FILE)
        except (FileNotFoundError, PermissionError):
            continue
