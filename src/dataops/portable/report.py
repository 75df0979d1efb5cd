"""What the validator found: every problem, located by entity, line and field.

A report keeps the first `MAX_PROBLEMS_KEPT` problems and counts the others, up to
`MAX_PROBLEMS`; there the validation stops (`stopped`), so an export broken on every
line is refused in a moment, and memory stays bounded, whatever the export holds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO

MAX_PROBLEMS_KEPT = 1_000
"""Problems kept in a report (printed, in the JSON); beyond them, only counted."""
MAX_PROBLEMS = 10_000
"""Problems counted at most: the validation stops at this many (`Report.stopped`)."""


def size_text(size: int) -> str:
    """`size` bytes as a reader would say it: 16 GiB, 64 MiB, 1,000 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size:,} bytes"


@dataclass(frozen=True)
class Problem:
    """One finding. `entity` is an entity name, or `manifest` / `archive` / `export`;
    `line` is 1-based within the entity file."""

    entity: str
    message: str
    line: int | None = None
    field: str | None = None

    def text(self) -> str:
        where = self.entity
        if self.line is not None:
            where += f" line {self.line}"
        if self.field is not None:
            where += f" field {self.field}"
        return f"{where}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "line": self.line,
            "field": self.field,
            "message": self.message,
        }


@dataclass
class Report:
    path: str
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    entity_counts: dict[str, int] = field(default_factory=dict)
    """Records found per exported entity file."""
    relationships: dict[str, int] = field(default_factory=dict)
    """The relationship graph: `"<entity>.<field> -> <target>"` → number of edges."""
    invalid_lines: dict[str, set[int]] = field(default_factory=dict)
    """Per entity, the lines that have at least one problem."""
    stopped: bool = False
    """`MAX_PROBLEMS` were found: the validation stopped there, and the rest of the
    export was not checked."""
    warnings: list[Problem] = field(default_factory=list)
    """What was accepted but reported: each legacy shape mapped (`portable.legacy`)."""
    more_warnings: int = 0
    legacy: bool = False
    """The export is in the earlier system's layout (mapped to today's before checking)."""
    legacy_shapes: dict[str, int] = field(default_factory=dict)
    """`<entity>.<field>` → records of each legacy shape mapped."""

    @property
    def valid(self) -> bool:
        return not self.problems and not self.more_problems

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.more_problems

    def add(self, problem: Problem) -> None:
        """Keep or count `problem`; once `stopped`, nothing more is added."""
        if self.stopped:
            return
        if problem.line is not None:
            self.invalid_lines.setdefault(problem.entity, set()).add(problem.line)
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
        else:
            self.more_problems += 1
        self.stopped = self.problem_count >= MAX_PROBLEMS

    @property
    def warnings_total(self) -> int:
        return len(self.warnings) + self.more_warnings

    def warn(self, problem: Problem) -> None:
        """Keep or count a warning (it does not make the export invalid)."""
        if len(self.warnings) < MAX_PROBLEMS_KEPT:
            self.warnings.append(problem)
        else:
            self.more_warnings += 1

    def lines(self) -> list[str]:
        """The readable report, one problem (or warning) a line."""
        out = [p.text() for p in self.problems]
        if self.more_problems:
            out.append(f"... and {self.more_problems} more problems")
        if self.stopped:
            out.append(
                f"validation stopped after {MAX_PROBLEMS:,} problems: the rest of the export "
                "was not checked"
            )
        out += [f"warning: {w.text()}" for w in self.warnings]
        if self.more_warnings:
            out.append(f"... and {self.more_warnings} more warnings")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "valid": self.valid,
            "problem_count": self.problem_count,
            "problems": [p.as_json() for p in self.problems],
            "more_problems": self.more_problems,
            "stopped": self.stopped,
            "entity_counts": dict(self.entity_counts),
            "relationships": dict(self.relationships),
            "legacy": self.legacy,
            "legacy_shapes": dict(self.legacy_shapes),
            "warning_count": self.warnings_total,
            "warnings": [w.as_json() for w in self.warnings],
        }


class Progress:
    """A one-line counter on a terminal, redrawn at most five times a second; the
    export's ("exporting"), and the validation's and import's (`doing`, `did`)."""

    def __init__(
        self, stream: TextIO | None, doing: str = "exporting", did: str = "exported"
    ) -> None:
        self._stream = stream
        self._shown = 0.0
        self._doing = doing
        self._did = did

    def update(self, entity: str, count: int, *, force: bool = False) -> None:
        if self._stream is None:
            return
        moment = time.monotonic()
        if force or moment - self._shown >= 0.2:
            self._shown = moment
            self._stream.write(f"\r\033[K{self._doing} {entity}: {count:,} records")
            self._stream.flush()

    def done(self, total: int) -> None:
        if self._stream is not None:
            self._stream.write(f"\r\033[K{self._did} {total:,} records\n")
            self._stream.flush()
