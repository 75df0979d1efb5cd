"""The fast pass's done tasks without a recorded proof: the proof rule the API uses,
with the export's evidence (`index.ExportEvidence`), as the reference checks run it.

Only the evidence the rule reads is indexed, and only when such a task exists: the
files and approved artifacts by task and bundle, and the bundles, from their files,
read again (every line of them is proven by then).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from dataops.domain.proof import evaluate
from dataops.portable.checking.index import ExportEvidence, ScratchIndex
from dataops.portable.format import SPECS, from_record
from dataops.portable.lines import parse_line, read_lines


def proofs_hold(root: Path, exported: list[str], tasks: BinaryIO, scratch: Path) -> bool:
    """Whether every done task of `tasks` (a line each) passes the proof rule, with the
    evidence of the export's files in `root`."""
    (scratch / "evidence.sqlite").unlink(missing_ok=True)  # (a pass before this one)
    index = ScratchIndex(scratch, "evidence.sqlite")
    try:
        for name in ("bundles", "files", "artifacts"):
            if name in exported:
                _add_evidence(index, name, root / SPECS[name].file_name)
        index.seal()
        evidence = ExportEvidence(index)
        for _, raw, newline, long_numbers in read_lines(tasks):
            assert raw is not None  # (lines the pass read whole)
            record = parse_line(raw, long_numbers=long_numbers, newline=newline)
            task = from_record(SPECS["tasks"], record)
            bundle = index.bundle(task.bundle_id) if task.bundle_id else None
            if not evaluate(task, bundle, evidence).can_complete:
                return False
        return True
    finally:
        index.close()


def _add_evidence(index: ScratchIndex, name: str, path: Path) -> None:
    """What `scan` indexes of each (valid) record of the entity file `path`."""
    spec = SPECS[name]
    with path.open("rb") as handle:
        for number, raw, newline, long_numbers in read_lines(handle):
            if raw is None or not raw.strip():
                continue  # (a proven file has neither)
            record = parse_line(raw, long_numbers=long_numbers, newline=newline)
            if name == "files":
                if isinstance(record.get("task_id"), str):
                    index.add_file(record["file_id"], record["task_id"])
            elif name == "artifacts":
                index.add_artifact(number, from_record(spec, record), raw)
            else:
                index.add_bundle(number, record["bundle_id"], raw)
