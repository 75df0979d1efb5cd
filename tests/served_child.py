"""What a `ServedPortal` runs: `dataops serve` in a process forked from a forkserver that
has imported the app once (`tests.conftest.ServedPortal`), so a served portal starts in
the time its workspace takes rather than the interpreter's and the app's imports."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import uvicorn  # noqa: F401  (imported once, in the forkserver)

from dataops import cli, runtime  # noqa: F401  (the same)


def serve(argv: Sequence[str], env: dict[str, str], log_path: str) -> None:
    """`dataops <argv>` with exactly `env`, its output (stdout and stderr) to `log_path`."""
    os.environ.clear()
    os.environ.update(env)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    cli.main(list(argv))
