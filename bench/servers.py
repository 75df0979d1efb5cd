"""Child processes the benchmarks start on loopback: `dataops serve`, `dataops engine
serve`, `dataops portal serve` and a moto server. Each is stopped by its own PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

HOST = "127.0.0.1"
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fixed test credentials, not a secret
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


class Child:
    """A child process on a free loopback port, healthy before the constructor returns."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        log: Path,
        *,
        health: str,
        headers: Mapping[str, str] | None = None,
        port: int | None = None,
        wait_seconds: float = 120.0,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log
        self._log = log.open("w")
        command = [arg.replace("{port}", str(self.port)) for arg in argv]
        self.process = subprocess.Popen(
            command, env=dict(env), stdout=self._log, stderr=subprocess.STDOUT
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"{command[:4]} exited: {log.read_text()[-2000:]}")
            try:
                httpx.get(self.base_url + health, headers=dict(headers or {}), timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{command[:4]} did not answer within {wait_seconds:.0f} s")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # by PID, this child only
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def dataops(
    command: list[str], env: Mapping[str, str], log: Path, *, port: int | None = None
) -> Child:
    """`dataops serve` / `dataops portal serve` (health: /work/health) on loopback."""
    argv = [sys.executable, "-m", "dataops", *command, "--host", HOST, "--port", "{port}"]
    return Child(argv, env, log, health="/work/health", port=port)


def engine(env: Mapping[str, str], log: Path, secret: str) -> Child:
    """`dataops engine serve` alone (portal auth: every request needs the trusted headers)."""
    argv = [sys.executable, "-m", "dataops", "engine", "serve", "--host", HOST, "--port", "{port}"]
    trusted = {"x-portal-auth": "true", "x-portal-secret": secret}
    return Child(argv, env, log, health="/api/health", headers=trusted)


def moto(log: Path) -> Child:
    argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", "{port}"]
    return Child(argv, {**os.environ, **AWS_TEST_ENV}, log, health="/moto-api/")


def login(base_url: str, email: str, password: str) -> httpx.Client:
    """An httpx client holding a portal session cookie."""
    client = httpx.Client(base_url=base_url, timeout=120)
    response = client.post("/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return client
