"""The layout's import rules, read from the source: the engine and the portal are peers
that talk only over HTTP or invoke, so neither imports the other (what both need lives
in modules neither owns, e.g. `http_problems.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dataops

SOURCE = Path(dataops.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports, anywhere in it (also inside
    functions), as an absolute name: for `from a import b` both `a` and `a.b`, since `b`
    may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(importer: str, forbidden: str) -> list[str]:
    """`module imports name` for each import of `forbidden` by a module of `importer`."""
    found = []
    for path in sorted((SOURCE.parent / importer.replace(".", "/")).rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in sorted(imported(path.read_text(), package)):
            if _within(name, forbidden):
                found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [("dataops.portal", "dataops.engine"), ("dataops.engine", "dataops.portal")],
)
def test_the_portal_and_the_engine_do_not_import_each_other(importer: str, forbidden: str) -> None:
    assert violations(importer, forbidden) == []
    assert violations(importer, importer), "the scan reads the package's own imports"


def test_the_scan_sees_every_form_of_import() -> None:
    source = (
        "import dataops.engine.app\n"
        "from dataops import engine\n"
        "from ..engine import routing\n"
        "from . import broker\n"
        "def later():\n"
        "    from dataops.engine.deps import read\n"
    )
    found = imported(source, "dataops.portal")
    assert {name for name in found if _within(name, "dataops.engine")} == {
        "dataops.engine",
        "dataops.engine.app",
        "dataops.engine.deps",
        "dataops.engine.deps.read",
        "dataops.engine.routing",
    }
    assert "dataops.portal.broker" in found
