"""What the validator found: every problem, located by entity, line and field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_PROBLEMS = 100_000
"""Problems kept in a report; beyond that they are only counted (`more_problems`)."""


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

    @property
    def valid(self) -> bool:
        return not self.problems and not self.more_problems

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.more_problems

    def add(self, problem: Problem) -> None:
        if problem.line is not None:
            self.invalid_lines.setdefault(problem.entity, set()).add(problem.line)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems += 1

    def lines(self) -> list[str]:
        """The readable report, one problem a line."""
        out = [p.text() for p in self.problems]
        if self.more_problems:
            out.append(f"... and {self.more_problems} more problems")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "valid": self.valid,
            "problem_count": self.problem_count,
            "problems": [p.as_json() for p in self.problems],
            "entity_counts": dict(self.entity_counts),
            "relationships": dict(self.relationships),
        }
