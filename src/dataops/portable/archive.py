"""`.tar.gz` exports: written reproducibly while the export runs, read defensively.

An archive holds the export's files at its root (`manifest.json`, `<entity>.jsonl`;
a leading `./` is accepted). Reading never trusts member names: only regular files
with one of those plain names are copied out, to paths built here; links, devices,
directories, absolute or `..` names (archives inside the archive too) are reported and
skipped. A truncated or corrupt archive is a reported problem, never an exception.

Reading never trusts sizes either: the archive is decompressed as a stream, and reading
stops, with a problem naming the limit, at the first of
- `MAX_ARCHIVE_BYTES` decompressed (a real export of a million records is about 1 GB);
- a decompressed size more than `MAX_RATIO` times the compressed bytes read so far, once
  past `RATIO_FLOOR` (gzip compresses exports 5 to 30 times; a zip bomb about 1000);
- `MAX_MEMBERS` members (an export has one per entity file, and its manifest);
- a pax or GNU long-name header above `MAX_HEADER_BYTES`, or a sparse member (tar reads
  both whole into memory; an export has neither).
Whatever follows the tar's end must be zero padding.

Writing (`ArchiveWriter`) compresses each entity file while it is produced, so the
compression overlaps the export instead of following it, and no uncompressed copy is
ever written. A tar header holds its file's size, which is known only at the end, so the
archive is a multi-member gzip file (RFC 1952 §2.2; gzip, tar and Python read it as one
stream): per file, one member with its tar header and one with its data, compressed
while written into a scratch file; then the manifest and the end-of-archive blocks. The
uncompressed stream is a POSIX (pax) tar like `tarfile` writes. Same input, same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from isal import igzip, isal_zlib

from dataops.portable.format import MANIFEST, is_entity_file_name
from dataops.portable.report import Problem, size_text

ARCHIVE_SUFFIX = ".tar.gz"
GZIP_LEVEL = 3
"""zlib level of the archive's members; see ArchiveWriter."""
_COPY_CHUNK = 1 << 20

MAX_ARCHIVE_BYTES = 16 << 30
"""Bytes an archive may decompress to (16 GiB): 16 times a million-record export."""
MAX_RATIO = 200
"""Decompressed bytes per compressed byte an archive may reach, past `RATIO_FLOOR`."""
RATIO_FLOOR = 64 << 20
"""Decompressed bytes (64 MiB) before the ratio counts: small files compress freely."""
MAX_MEMBERS = 1_000
"""Members an archive may hold (tar keeps each one's header in memory)."""
MAX_HEADER_BYTES = 1 << 20
"""Size of a pax or GNU long-name header (1 MiB; tar reads it whole)."""
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_LONG_NAMES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_NAME_SHOWN = 100
_ISAL_ERROR = cast("type[Exception]", isal_zlib.error)  # a class (typeshed: an instance)


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIX)


class ArchiveMember:
    """One file of the archive, compressed as it is written (`write`, then `close`)."""

    def __init__(self, name: str, scratch: Path, mtime: int, level: int) -> None:
        self.name = name
        self.scratch = scratch
        self.size = 0
        self._raw = scratch.open("xb")
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._raw, mtime=mtime, compresslevel=level
        )

    def write(self, data: bytes) -> None:
        self._gzip.write(data)
        self.size += len(data)

    def close(self) -> None:
        """Pad the data to whole tar blocks and end its gzip member."""
        self._gzip.write(tarfile.NUL * (-self.size % tarfile.BLOCKSIZE))
        self._gzip.close()
        self._raw.close()


class ArchiveWriter:
    """An export archive assembled from members compressed while the export runs.

    `member(name)` opens one file (compressed into a hidden scratch file, in whichever
    process writes it); `write(target, files, manifest)` packs the files, then the
    manifest.

    GZIP_LEVEL 3: on the export's records (bench_portable's 100k store, 70 MB of JSON
    lines) zlib compresses at about 530 MB/s to 4.5% at level 3, 210 MB/s to 3.4% at
    level 6 (zlib's default) and 600 MB/s to 5.0% at level 1. Compression shares the two
    cores with the encoding, so level 6 would cost the export about a fifth of its
    throughput for an archive a quarter smaller; levels 1 to 3 cost about the same, and
    3 compresses best of them."""

    def __init__(self, scratch: Path, mtime: int, level: int = GZIP_LEVEL) -> None:
        self._scratch = scratch
        self._mtime = mtime
        self._level = level

    def member(self, name: str) -> ArchiveMember:
        """The next file, compressed into a scratch file (in any process)."""
        return ArchiveMember(name, self._scratch_path(name), self._mtime, self._level)

    def write(self, target: Path, files: list[tuple[str, int]], manifest: bytes) -> None:
        """Pack the closed members `files` (name, uncompressed size), in that order, then
        `manifest`, into `target` (created: private data, readable by the owner only, as
        the directory form)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        with os.fdopen(os.open(target, flags, 0o600), "wb") as raw:
            offset = 0
            for name, size in files:
                header = _header(name, size, self._mtime)
                raw.write(self._compressed(header))
                with self._scratch_path(name).open("rb") as data:
                    shutil.copyfileobj(data, raw, _COPY_CHUNK)
                offset += len(header) + size + (-size % tarfile.BLOCKSIZE)
            pad = tarfile.NUL * (-len(manifest) % tarfile.BLOCKSIZE)
            last = _header(MANIFEST, len(manifest), self._mtime) + manifest + pad
            offset += len(last) + 2 * tarfile.BLOCKSIZE
            # Like tarfile: two zero blocks end the archive, padded to a whole record.
            end = tarfile.NUL * (2 * tarfile.BLOCKSIZE + (-offset % tarfile.RECORDSIZE))
            raw.write(self._compressed(last + end))
            raw.flush()
            os.fsync(raw.fileno())

    def _scratch_path(self, name: str) -> Path:
        return self._scratch / f".{name}.gz"

    def _compressed(self, data: bytes) -> bytes:
        return gzip.compress(data, compresslevel=self._level, mtime=self._mtime)


def _header(name: str, size: int, mtime: int) -> bytes:
    """The tar header block(s) of one regular file, as tarfile writes them (pax)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


class ArchiveLimit(Exception):
    """The archive goes beyond a reading limit; the message names it."""


class _Decompressed(io.RawIOBase):
    """The archive's tar stream, decompressed as read, forward only, within the limits
    (`fast`: with ISA-L's gzip, about four times zlib's speed; else the stdlib's)."""

    def __init__(self, raw: BinaryIO, fast: bool = False) -> None:
        super().__init__()
        self._raw = raw
        reader: Any = igzip.GzipFile if fast else gzip.GzipFile  # (isal: untyped calls)
        self._gzip: BinaryIO = reader(fileobj=raw, mode="rb")
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._gzip.read(_COPY_CHUNK if size < 0 else min(size, _COPY_CHUNK))
        if size > _COPY_CHUNK and len(data) == _COPY_CHUNK:  # tar asks for whole blocks
            data += self.read(size - _COPY_CHUNK)
        self._position += len(data)
        self._check()
        return data

    def tell(self) -> int:
        return self._position

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Forward only (tar skips members this way): what is skipped is still read."""
        if whence != io.SEEK_SET or offset < self._position:
            raise io.UnsupportedOperation("the archive is read forward only")
        while self._position < offset:
            if not self.read(min(offset - self._position, _COPY_CHUNK)):
                break
        return self._position

    def _check(self) -> None:
        size = self._position
        if size > MAX_ARCHIVE_BYTES:
            raise ArchiveLimit(
                f"the archive decompresses to more than {size_text(MAX_ARCHIVE_BYTES)} "
                "(the limit of an export archive); not read further"
            )
        if size > RATIO_FLOOR and size > MAX_RATIO * self._raw.tell():
            raise ArchiveLimit(
                f"the archive decompresses to more than {MAX_RATIO} times its compressed "
                f"size past its first {size_text(RATIO_FLOOR)} (the limit of an export "
                "archive: a compression bomb?); not read further"
            )


class _Header(tarfile.TarInfo):
    """A member's header, refused before tar reads an oversized or sparse header whole
    (`_proc_member` is tarfile's documented hook for subclasses)."""

    def _proc_member(self, archive: Any) -> Any:
        if self.type in (*_EXTENDED, *_LONG_NAMES) and self.size > MAX_HEADER_BYTES:
            raise ArchiveLimit(
                f"a tar header of {self.size:,} bytes exceeds {size_text(MAX_HEADER_BYTES)} "
                "(the limit of an export archive); not read further"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveLimit(_SPARSE)
        parent: Any = super()  # typeshed does not list tar's hooks
        return parent._proc_member(archive)

    def _proc_gnusparse_10(self, next: Any, pax_headers: Any, archive: Any) -> None:
        raise ArchiveLimit(_SPARSE)  # its map is read whole, from the member's data


_SPARSE = "a member is a sparse file (an export holds plain files); not read further"


def _shown(name: str) -> str:
    """A member name for a message: at most `_NAME_SHOWN` characters of it."""
    if len(name) <= _NAME_SHOWN:
        return repr(name)
    return f"{name[:_NAME_SHOWN]!r}… ({len(name):,} characters)"


def _member_name(member: tarfile.TarInfo) -> str | None:
    """The plain file name a member may be extracted as, or None (a problem)."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    if name == MANIFEST or is_entity_file_name(name):
        return name
    return None


def extract_archive(archive: Path, into: Path, *, fast: bool = True) -> list[Problem]:
    """Copy the export files of `archive` into the empty directory `into` (`fast`:
    decompressed with ISA-L, about four times zlib's speed; an archive with any problem
    is then read again with the stdlib's gzip, so both readings report the same words:
    ISA-L reads ahead further and words its errors differently)."""
    if fast:
        try:
            problems = _extract(archive, into, fast=True)
        except _ISAL_ERROR:
            problems = [Problem("archive", "corrupt")]  # worded by the stdlib's reading
        if not problems:
            return problems
        for path in into.iterdir():
            path.unlink()
    return _extract(archive, into, fast=False)


def extract_archive_fast(
    archive: Path, into: Path, on_file: Callable[[str], None]
) -> list[Problem]:
    """`extract_archive`'s first reading alone (ISA-L), calling `on_file(name)` as each
    file is whole; problems (or ISA-L's error) are reported, not read again: the caller
    then extracts with `extract_archive` into an empty directory."""
    try:
        return _extract(archive, into, fast=True, on_file=on_file)
    except _ISAL_ERROR:
        return [Problem("archive", "corrupt")]


def _extract(
    archive: Path, into: Path, *, fast: bool, on_file: Callable[[str], None] | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    current: Path | None = None
    try:
        with archive.open("rb") as raw:
            stream = _Decompressed(raw, fast)
            with tarfile.TarFile(fileobj=stream, tarinfo=_Header) as tar:
                for count, member in enumerate(tar, 1):
                    tar.members.clear()  # type: ignore[attr-defined] # else kept, every one
                    if count > MAX_MEMBERS:
                        raise ArchiveLimit(
                            f"the archive has more than {MAX_MEMBERS:,} members (the limit of an "
                            "export archive); not read further"
                        )
                    if member.name in (".", "./") and member.isdir():
                        continue
                    name = _member_name(member)
                    if not member.isfile() or member.sparse is not None or name is None:
                        plain = member.isfile() and member.sparse is None
                        kind = "a regular file" if plain else "not a regular file"
                        message = f"member {_shown(member.name)} ({kind}) is not an export file"
                        problems.append(Problem("archive", f"{message}; skipped"))
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
                    if on_file is not None:
                        on_file(name)
            _expect_end(stream, problems)
    except ArchiveLimit as exc:
        problems.append(Problem("archive", str(exc)))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        problems.append(Problem("archive", f"the archive is truncated or corrupt: {exc}"))
    if current is not None:
        current.unlink(missing_ok=True)
    return problems


def _expect_end(stream: _Decompressed, problems: list[Problem]) -> None:
    """After the tar's end, only zero padding (and the end of the gzip stream)."""
    try:
        while data := stream.read(_COPY_CHUNK):
            if data.strip(tarfile.NUL):
                break
        else:
            return
    except (OSError, EOFError, zlib.error, _ISAL_ERROR):
        pass  # not gzip data: garbage after the archive's last gzip member
    problems.append(Problem("archive", "the archive holds data after its end; not read"))
