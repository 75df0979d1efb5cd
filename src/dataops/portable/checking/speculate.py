"""The fast pass over an archive while it is extracted.

An export archive holds its entity files in the order the fast pass reads them (users
first, audit events last) and its manifest last. So the validator need not wait for
the whole archive: a thread extracts it while the fast pass checks each entity file as
soon as it is whole (`fast.prove_export`'s `ready`). What the pass finds is only a
guess until the manifest is read: the validator uses it when the archive had no
problem, the export is in today's layout and the manifest lists exactly the files the
pass read (`Speculation.covers`); else it checks the extracted files as always.

The worker processes are forked before the thread starts (the pass asks for its first
file only once they run), so no worker inherits the extraction half-done.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from dataops.portable.archive import extract_archive_fast
from dataops.portable.checking.fast import FAST_CHUNK, Proven, prove_export
from dataops.portable.checking.hashes import ORDER
from dataops.portable.checking.parallel import available_cores
from dataops.portable.format import SPECS, EntitySpec
from dataops.portable.report import Problem, Progress

SPECULATE_BYTES = 1 << 20
"""Archives this large (compressed; exports compress 5 to 30 times) are checked by one
process per core while extracted."""


def speculate(
    path: Path, root: Path, workers: int | None, chunk_bytes: int | None, shown: Progress
) -> Speculation | None:
    """Extract the archive `path` into `root` while the fast pass checks its files;
    None when the archive has a problem: `root` is then emptied, for `extract_archive`
    to read it again and word its problems."""
    if workers is None:
        workers = available_cores() if path.stat().st_size >= SPECULATE_BYTES else 1
    speculation = Speculation(path, root, workers, min(chunk_bytes or FAST_CHUNK, FAST_CHUNK))
    speculation.run(shown)
    if not speculation.problems:
        return speculation
    shutil.rmtree(root)
    root.mkdir()
    return None


class Speculation:
    """Extract `archive` into the empty directory `root` while proving its entity files
    (`workers` processes, chunks of `target` bytes)."""

    def __init__(self, archive: Path, root: Path, workers: int, target: int) -> None:
        self._archive = archive
        self._root = root
        self._workers = workers
        self._target = target
        self._specs: list[EntitySpec] = [SPECS[name] for name in ORDER]
        self._arrived = {spec.file_name: threading.Event() for spec in self._specs}
        self._whole: set[str] = set()
        self._thread = threading.Thread(target=self._extract, name="extract", daemon=True)
        self._failure: BaseException | None = None
        self.problems: list[Problem] = []
        self.proven: Proven | None = None

    def run(self, progress: Progress) -> None:
        """Extract and prove; `problems` holds the archive's problems (then the caller
        extracts again, with `extract_archive`), `proven` the pass's result."""
        try:
            self.proven = prove_export(
                self._root,
                self._specs,
                self._workers,
                self._target,
                progress,
                self._ready,
                scratch=self._root.parent,
            )
        finally:
            self._start()  # (when the pass stopped before its first file)
            self._thread.join()
        if self._failure is not None:
            raise self._failure
        if self.problems:
            self.proven = None

    def covers(self, names: list[str]) -> bool:
        """Whether the pass read exactly the entity files `names` (then `proven` is the
        fast pass's answer for them)."""
        return not self.problems and sorted(names) == sorted(spec.name for spec in self._specs)

    def _start(self) -> None:
        if self._thread.ident is None:
            self._thread.start()

    def _ready(self, file_name: str) -> bool:
        self._start()
        self._arrived[file_name].wait()
        return file_name in self._whole

    def _arrive(self, name: str) -> None:
        if name in self._arrived:
            self._whole.add(name)
            self._arrived[name].set()

    def _extract(self) -> None:
        try:
            self.problems = extract_archive_fast(self._archive, self._root, self._arrive)
        except BaseException as exc:
            self._failure = exc
        finally:
            for event in self._arrived.values():
                event.set()  # (a file that never came: the pass stops waiting)
