"""Start-up wiring: one explicit factory per port, chosen from the validated settings."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from starlette.types import ASGIApp

from dataops.aws_extra import require_aws
from dataops.blobs.local import DisabledBlobs, LocalDevBlobs
from dataops.blobs.port import BlobStore
from dataops.config import Settings
from dataops.domain.enums import Role
from dataops.domain.errors import ConfigurationError
from dataops.engine.app import create_engine_app
from dataops.portal.app import create_portal_app
from dataops.portal.connectors import AsgiEngine
from dataops.services import passwords, people
from dataops.services.context import Workspace
from dataops.store.port import MetadataStore

STORES = ("sqlite", "dynamodb")
BLOB_STORES = ("local-dev", "s3", "disabled")


def build_store(settings: Settings) -> MetadataStore:
    if settings.store == "sqlite":
        from dataops.store.sqlite import SqliteStore

        return SqliteStore(settings.sqlite_path)
    if settings.store == "dynamodb":
        from dataops.store.dynamodb import DynamoStore

        require_aws("DATAOPS_STORE=dynamodb")
        return DynamoStore(settings)
    raise ConfigurationError(
        f"DATAOPS_STORE={settings.store} is not available in this build "
        f"(known: {', '.join(STORES)})"
    )


def build_reading_store(settings: Settings, scratch: Path) -> MetadataStore:
    """The configured store for a run that writes nothing (`import --dry-run`): where
    the SQLite file does not exist yet, an empty store in the private directory
    `scratch` instead, so such a run creates no database file (nor DATAOPS_HOME)."""
    if settings.store == "sqlite" and not settings.sqlite_path.exists():
        from dataops.store.sqlite import SqliteStore

        return SqliteStore(scratch / "empty.db")
    return build_store(settings)


def build_blobs(settings: Settings) -> BlobStore:
    if settings.blob_store == "local-dev":
        return LocalDevBlobs(settings.blob_root, allowed=settings.local_storage_allowed)
    if settings.blob_store == "s3":
        from dataops.blobs.s3 import S3Blobs

        if not settings.artifacts_bucket:
            raise ConfigurationError("DATAOPS_BLOB_STORE=s3 needs DATAOPS_ARTIFACTS_BUCKET")
        return S3Blobs(
            settings.artifacts_bucket,
            endpoint_url=settings.s3_endpoint,
            region=settings.aws_region,
        )
    if settings.blob_store == "disabled":
        return DisabledBlobs()
    raise ConfigurationError(
        f"DATAOPS_BLOB_STORE={settings.blob_store} is not available in this build "
        f"(known: {', '.join(BLOB_STORES)})"
    )


def build_archive_blobs(settings: Settings) -> BlobStore:
    """The S3 bucket `dataops export --to-s3` uploads to (DATAOPS_EXPORT_ARCHIVE_BUCKET)."""
    from dataops.blobs.s3 import S3Blobs

    if not settings.export_archive_bucket:
        raise ConfigurationError("--to-s3 needs DATAOPS_EXPORT_ARCHIVE_BUCKET")
    return S3Blobs(settings.export_archive_bucket, endpoint_url=settings.s3_endpoint)


def build_workspace(settings: Settings) -> Workspace:
    return Workspace(store=build_store(settings), blobs=build_blobs(settings), settings=settings)


def portal_secret(settings: Settings) -> str:
    """The shared secret: configured, or generated for this process (`serve`)."""
    return settings.portal_secret or secrets.token_urlsafe(32)


MIN_SECRET_LENGTH = 16


def configured_portal_secret(settings: Settings) -> str:
    """The secret a split deployment shares: WORK_ENGINE_PORTAL_SECRET, else the Secrets
    Manager secret WORK_ENGINE_PORTAL_SECRET_NAME names (read once, at start-up: a Lambda
    container builds its app once and keeps it, so the value is cached per container).
    Refuses to start without one."""
    if settings.portal_secret:
        if len(settings.portal_secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError("WORK_ENGINE_PORTAL_SECRET must be at least 16 characters")
        return settings.portal_secret
    if settings.portal_secret_name:
        value = secret_from_secrets_manager(settings.portal_secret_name)
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"the Secrets Manager secret {settings.portal_secret_name!r} "
                f"(WORK_ENGINE_PORTAL_SECRET_NAME) must be at least 16 characters"
            )
        return value
    raise ConfigurationError(
        "portal auth mode needs a shared secret: set WORK_ENGINE_PORTAL_SECRET (the same value "
        "for the portal and the engine) or WORK_ENGINE_PORTAL_SECRET_NAME (a Secrets Manager "
        "secret both can read)"
    )


def secret_from_secrets_manager(
    name: str, setting: str = "WORK_ENGINE_PORTAL_SECRET_NAME", what: str = "portal secret"
) -> str:
    """The SecretString of a Secrets Manager secret (endpoint override: botocore's
    AWS_ENDPOINT_URL_SECRETS_MANAGER). Failures are a ConfigurationError naming `setting`;
    the value never appears in a message."""
    require_aws(setting)
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
        BotoCoreError,
        ClientError,
    )

    try:
        response = boto3.client("secretsmanager").get_secret_value(SecretId=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ConfigurationError(
            f"could not read the {what} {name!r} from Secrets Manager ({code}); check "
            f"{setting} and the secretsmanager:GetSecretValue permission"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"Secrets Manager could not be reached for {setting} ({type(exc).__name__})"
        ) from None
    value = response.get("SecretString")
    if not isinstance(value, str):
        raise ConfigurationError(
            f"the Secrets Manager secret {name!r} ({setting}) has no string value"
        )
    return value


@dataclass(frozen=True)
class Admin:
    email: str
    password: str | None  # set only when it was generated and must be shown once


def bootstrap_admin(workspace: Workspace) -> Admin | None:
    """Create the first admin when there are no users yet."""
    if people.has_users(workspace):
        return None
    settings = workspace.settings
    email = settings.admin_email or "admin@dataops.local"
    generated = settings.admin_password is None
    password = settings.admin_password or passwords.generate()
    people.add_user(workspace, people.SYSTEM, email, "Admin", Role.ADMIN, password)
    return Admin(email, password if generated else None)


def build_single_process(workspace: Workspace) -> ASGIApp:
    """Portal in front of an in-process engine, called directly as ASGI: `dataops serve`."""
    secret = portal_secret(workspace.settings)
    engine = create_engine_app(workspace, secret, log_requests=False)  # the portal logs it
    return create_portal_app(workspace, AsgiEngine(engine), secret)


def fail(message: str) -> NoReturn:
    print(f"dataops: {message}", file=sys.stderr)
    raise SystemExit(2)
