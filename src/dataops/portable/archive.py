"""`.tar.gz` exports: written reproducibly, read defensively.

An archive holds the export's files at its root (`manifest.json`, `<entity>.jsonl`;
a leading `./` is accepted). Reading never trusts member names: only regular files
with one of those plain names are copied out, to paths built here; links, devices,
directories, absolute or `..` names are reported and skipped. A truncated or corrupt
archive is a reported problem, never an exception.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import zlib
from pathlib import Path

from dataops.portable.format import MANIFEST, is_entity_file_name
from dataops.portable.report import Problem

ARCHIVE_SUFFIX = ".tar.gz"
_COPY_CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIX)


def write_archive(
    directory: Path, names: list[str], target: Path, mtime: int, manifest: bytes
) -> None:
    """Pack the entity files `names` from `directory`, then the manifest, into `target`
    (the same bytes for the same input)."""
    # Private data: readable by the owner only (the directory form is created 0700).
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in names:
                path = directory / name
                with path.open("rb") as handle:
                    tar.addfile(_member(name, path.stat().st_size, mtime), handle)
            tar.addfile(_member(MANIFEST, len(manifest), mtime), io.BytesIO(manifest))
        raw.flush()
        os.fsync(raw.fileno())


def _member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


def _member_name(member: tarfile.TarInfo) -> str | None:
    """The plain file name a member may be extracted as, or None (a problem)."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    if name == MANIFEST or is_entity_file_name(name):
        return name
    return None


def extract_archive(archive: Path, into: Path) -> list[Problem]:
    """Copy the export files of `archive` into the empty directory `into`."""
    problems: list[Problem] = []
    current: Path | None = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if member.name in (".", "./") and member.isdir():
                    continue
                name = _member_name(member)
                if not member.isfile() or name is None:
                    kind = "a regular file" if member.isfile() else "not a regular file"
                    problems.append(
                        Problem(
                            "archive",
                            f"member {member.name!r} ({kind}) is not an export file; skipped",
                        )
                    )
                    continue
                target = into / name
                if target.exists():
                    problems.append(Problem("archive", f"member {name!r} appears twice"))
                    continue
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isfile() members always have data
                    continue
                current = target
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, _COPY_CHUNK)
                current = None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        if current is not None:
            current.unlink(missing_ok=True)
        problems.append(Problem("archive", f"the archive is truncated or corrupt: {exc}"))
    return problems
