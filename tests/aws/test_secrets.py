"""The portal secret from Secrets Manager (WORK_ENGINE_PORTAL_SECRET_NAME), through the moto
server over real HTTP; read once per container."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from dataops import lambda_handlers, runtime
from dataops.config import Settings
from dataops.domain.errors import ConfigurationError
from tests.aws.support import function_url_event

if TYPE_CHECKING:
    from tests.moto_server import MotoServer

GENERATED = "Qm9vayBndWVzdHMgYW5kIHJlY29yZCBlcGlzb2Rlcw"  # what GenerateSecretString gives


@pytest.fixture
def secrets(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A Secrets Manager client on the moto server; boto3 in this process (the code under
    test) finds it through botocore's AWS_ENDPOINT_URL_SECRETS_MANAGER."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint)
    return boto3.client("secretsmanager", endpoint_url=moto.endpoint)


def secret_name() -> str:
    return f"dataops-test/work-engine/portal-secret-{uuid.uuid4().hex[:8]}"


def settings_with(name: str, tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATAOPS_ENV": "test",
            "DATAOPS_HOME": str(tmp_path),
            "WORK_ENGINE_PORTAL_SECRET_NAME": name,
            **extra,
        }
    )


def test_the_secret_is_read_from_secrets_manager(secrets: Any, tmp_path: Path) -> None:
    name = secret_name()
    secrets.create_secret(Name=name, SecretString=GENERATED)
    assert runtime.configured_portal_secret(settings_with(name, tmp_path)) == GENERATED


def test_an_explicit_secret_wins_over_the_name(secrets: Any, tmp_path: Path) -> None:
    name = secret_name()
    secrets.create_secret(Name=name, SecretString=GENERATED)
    explicit = "explicit-secret-0123456789"
    settings = settings_with(name, tmp_path, WORK_ENGINE_PORTAL_SECRET=explicit)
    assert runtime.configured_portal_secret(settings) == explicit


def test_a_missing_secret_names_the_setting(secrets: Any, tmp_path: Path) -> None:
    name = secret_name()
    with pytest.raises(ConfigurationError) as refused:
        runtime.configured_portal_secret(settings_with(name, tmp_path))
    message = str(refused.value)
    assert "WORK_ENGINE_PORTAL_SECRET_NAME" in message
    assert "ResourceNotFoundException" in message
    assert name in message


def test_a_short_secret_is_refused_without_echoing_it(secrets: Any, tmp_path: Path) -> None:
    name = secret_name()
    secrets.create_secret(Name=name, SecretString="short-value")
    with pytest.raises(ConfigurationError, match="at least 16 characters") as refused:
        runtime.configured_portal_secret(settings_with(name, tmp_path))
    assert "short-value" not in str(refused.value)


def test_a_binary_secret_is_refused(secrets: Any, tmp_path: Path) -> None:
    name = secret_name()
    secrets.create_secret(Name=name, SecretBinary=b"\x00" * 32)
    with pytest.raises(ConfigurationError, match="no string value"):
        runtime.configured_portal_secret(settings_with(name, tmp_path))


def test_an_unreachable_secrets_manager_is_a_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto: MotoServer
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ConfigurationError, match="WORK_ENGINE_PORTAL_SECRET_NAME"):
        runtime.configured_portal_secret(settings_with(secret_name(), tmp_path))


def test_the_engine_function_reads_the_secret_once_per_container(
    secrets: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = secret_name()
    secrets.create_secret(Name=name, SecretString=GENERATED)
    for key, value in {
        "DATAOPS_ENV": "test",
        "DATAOPS_HOME": str(tmp_path),
        "WORK_ENGINE_PORTAL_SECRET_NAME": name,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WORK_ENGINE_PORTAL_SECRET", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    lambda_handlers._engine.cache_clear()
    try:
        trusted = {"x-portal-auth": "true", "x-portal-secret": GENERATED}
        event = function_url_event("GET", "/api/health", headers=trusted)
        assert lambda_handlers.engine_handler(event, None)["statusCode"] == 200
        # Rotated (or deleted) afterwards: this warm container keeps the value it read.
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        assert lambda_handlers.engine_handler(event, None)["statusCode"] == 200
        wrong = {"x-portal-auth": "true", "x-portal-secret": "x" * len(GENERATED)}
        refused = function_url_event("GET", "/api/health", headers=wrong)
        assert lambda_handlers.engine_handler(refused, None)["statusCode"] == 401
        # A cold container reads it again, and the deleted secret stops it starting.
        lambda_handlers._engine.cache_clear()
        with pytest.raises(ConfigurationError, match="WORK_ENGINE_PORTAL_SECRET_NAME"):
            lambda_handlers.engine_handler(event, None)
    finally:
        lambda_handlers._engine.cache_clear()
