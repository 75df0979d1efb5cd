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


def run(argv: Sequence[str], env: dict[str, str], stdin: str, stdout: str, stderr: str) -> None:
    """`python -m dataops <argv>` with exactly `env`: stdin read from the file `stdin`, its
    output to the files `stdout` and `stderr`; the exit code is this process's."""
    os.environ.clear()
    os.environ.update(env)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for fd, path, flags in (
        (0, stdin, os.O_RDONLY),
        (1, stdout, os.O_WRONLY),
        (2, stderr, os.O_WRONLY),
    ):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        cli.main(list(argv))  # raises SystemExit: multiprocessing makes its code the exit code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
