"""Without the `aws` extra (boto3 not importable), each AWS-backed setting fails at
start-up with the command that installs the extra, not with a ModuleNotFoundError; the
SQLite + local-dev defaults do not need it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dataops import cli, runtime
from dataops.config import Settings
from dataops.domain.errors import ConfigurationError
from dataops.portal.lambda_invoke import LambdaInvokeTransport

EXTRA = r"needs the aws extra: pip install 'dataops\[aws\]'"


@pytest.fixture
def without_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import boto3` raises ModuleNotFoundError, as on an install without the extra."""
    monkeypatch.setitem(sys.modules, "boto3", None)


def settings(tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env({"DATAOPS_ENV": "test", "DATAOPS_HOME": str(tmp_path), **extra})


@pytest.mark.parametrize(
    ("named", "build"),
    [
        (
            "DATAOPS_STORE=dynamodb",
            lambda tmp: runtime.build_store(settings(tmp, DATAOPS_STORE="dynamodb")),
        ),
        (
            "S3 storage",
            lambda tmp: runtime.build_blobs(
                settings(tmp, DATAOPS_BLOB_STORE="s3", DATAOPS_ARTIFACTS_BUCKET="bucket")
            ),
        ),
        (
            "WORK_ENGINE_PORTAL_SECRET_NAME",
            lambda tmp: runtime.configured_portal_secret(
                settings(tmp, WORK_ENGINE_PORTAL_SECRET_NAME="dataops/portal-secret")
            ),
        ),
        ("WORK_ENGINE_FUNCTION_NAME", lambda tmp: LambdaInvokeTransport("work-engine")),
    ],
)
def test_an_aws_setting_without_the_extra_names_the_extra(
    without_boto3: None, tmp_path: Path, named: str, build: Callable[[Path], object]
) -> None:
    with pytest.raises(ConfigurationError, match=f"{named}.* {EXTRA}"):
        build(tmp_path)


def test_the_cli_prints_the_install_command(
    without_boto3: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATAOPS_HOME", str(tmp_path))
    monkeypatch.setenv("DATAOPS_STORE", "dynamodb")
    with pytest.raises(SystemExit) as exited:
        cli.main(["users", "list"])
    assert exited.value.code != 0
    assert "dataops[aws]" in capsys.readouterr().err


def test_the_embedded_defaults_need_no_extra(without_boto3: None, tmp_path: Path) -> None:
    workspace = runtime.build_workspace(settings(tmp_path))
    assert type(workspace.store).__name__ == "SqliteStore"
    assert type(workspace.blobs).__name__ == "LocalDevBlobs"
