"""Settings from the environment (CONTRACT §2), validated once at start-up."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dataops.domain.errors import ConfigurationError

ENVIRONMENTS = ("local", "test", "staging", "production")
LOCAL_ENVIRONMENTS = ("local", "test")
STORES = ("sqlite", "dynamodb")
BLOB_STORES = ("local-dev", "s3", "disabled")
TABLE_ENTITIES = (
    "tasks",
    "bundles",
    "templates",
    "users",
    "files",
    "artifacts",
    "notifications",
    "audit_events",
    "sessions",
    # additions to CONTRACT §2 (entities the DynamoDB store also keeps in tables)
    "credentials",
    "api_tokens",
    "idempotency",
    "uploads",
    "login_throttles",
    "settings",
    "recurring_configs",
    "webhooks",
    "outbox",
)
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
DEFAULT_SCHEDULER_INTERVAL = 60
MAX_SCHEDULER_INTERVAL = 86_400
DEFAULT_OUTBOX_INTERVAL = 5
ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _flag(value: str | None, name: str, problems: list[str]) -> bool:
    if value is None or value == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    problems.append(f"{name} must be true or false (got {value!r})")
    return False


def _networks(value: str | None, name: str, problems: list[str]) -> tuple[ProxyNetwork, ...]:
    """A comma list of IP addresses and CIDR networks."""
    networks = []
    for part in (value or "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                problems.append(f"{name} must list IP addresses or CIDR networks (got {part!r})")
    return tuple(networks)


def _seconds(raw: str | None, name: str, default: int, problems: list[str]) -> int:
    """A whole number of seconds from 0 (off) to a day."""
    if raw is None:
        return default
    if raw.isascii() and raw.isdigit() and int(raw) <= MAX_SCHEDULER_INTERVAL:
        return int(raw)
    problems.append(
        f"{name} must be a whole number of seconds from 0 (off) to {MAX_SCHEDULER_INTERVAL} "
        f"(got {raw!r})"
    )
    return default


def _choice(value: str, name: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    if value not in allowed:
        problems.append(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


@dataclass(frozen=True)
class Settings:
    env: str = "local"
    home: Path = Path(".dataops")
    store: str = "sqlite"
    sqlite_path: Path = Path(".dataops/dataops.db")
    dynamodb_endpoint: str | None = None
    table_names: Mapping[str, str] = field(default_factory=dict)
    auto_create_tables: bool = False
    blob_store: str = "local-dev"
    artifacts_bucket: str | None = None
    s3_endpoint: str | None = None
    export_archive_bucket: str | None = None
    export_archive_prefix: str = "execution-exports"
    auth_mode: str = "portal"
    portal_secret: str | None = None
    portal_secret_name: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    """Proxies whose X-Forwarded-For names the client (the login throttle's address)."""
    on_lambda: bool = False
    scheduler_interval_seconds: int = DEFAULT_SCHEDULER_INTERVAL
    """Seconds between the recurring-work passes `dataops serve` runs (0: none)."""
    outbox_interval_seconds: int = DEFAULT_OUTBOX_INTERVAL
    """Seconds between the outbox dispatcher passes `dataops serve` runs (0: none)."""

    @property
    def local_storage_allowed(self) -> bool:
        """Local-disk binaries and local-dev:// URIs only in local/test (CONTRACT §2)."""
        return self.env in LOCAL_ENVIRONMENTS and not self.on_lambda

    @property
    def blob_root(self) -> Path:
        return self.home / "blobs"

    @property
    def secure_cookies(self) -> bool:
        return self.env not in LOCAL_ENVIRONMENTS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; ConfigurationError lists all problems at once."""
        env_vars = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = env_vars.get(name)
            return value if value else None

        env = _choice(get("DATAOPS_ENV") or "local", "DATAOPS_ENV", ENVIRONMENTS, problems)
        home = Path(get("DATAOPS_HOME") or ".dataops")
        store = _choice(get("DATAOPS_STORE") or "sqlite", "DATAOPS_STORE", STORES, problems)
        default_blobs = "local-dev" if env in LOCAL_ENVIRONMENTS else "disabled"
        blob_store = _choice(
            get("DATAOPS_BLOB_STORE") or default_blobs, "DATAOPS_BLOB_STORE", BLOB_STORES, problems
        )
        auth_mode = _choice(
            get("WORK_ENGINE_AUTH_MODE") or "portal", "WORK_ENGINE_AUTH_MODE", ("portal",), problems
        )
        max_upload = DEFAULT_MAX_UPLOAD_BYTES
        raw_max = get("DATAOPS_MAX_UPLOAD_BYTES")
        if raw_max is not None:
            if raw_max.isdigit() and int(raw_max) > 0:
                max_upload = int(raw_max)
            else:
                problems.append("DATAOPS_MAX_UPLOAD_BYTES must be a positive whole number")
        interval = DEFAULT_SCHEDULER_INTERVAL
        raw_interval = get("DATAOPS_SCHEDULER_INTERVAL_SECONDS")
        if raw_interval is not None:
            digits = raw_interval.isascii() and raw_interval.isdigit()
            if digits and int(raw_interval) <= MAX_SCHEDULER_INTERVAL:
                interval = int(raw_interval)
            else:
                problems.append(
                    f"DATAOPS_SCHEDULER_INTERVAL_SECONDS must be a whole number of seconds "
                    f"from 0 (off) to {MAX_SCHEDULER_INTERVAL} (got {raw_interval!r})"
                )
        outbox_interval = _seconds(
            get("DATAOPS_OUTBOX_INTERVAL_SECONDS"),
            "DATAOPS_OUTBOX_INTERVAL_SECONDS",
            DEFAULT_OUTBOX_INTERVAL,
            problems,
        )
        tables = {
            entity: get(f"DATAOPS_{entity.upper()}_TABLE") or f"dataops-{entity.replace('_', '-')}"
            for entity in TABLE_ENTITIES
        }
        settings = cls(
            env=env,
            home=home,
            store=store,
            sqlite_path=Path(get("DATAOPS_SQLITE_PATH") or home / "dataops.db"),
            dynamodb_endpoint=get("DATAOPS_DYNAMODB_ENDPOINT"),
            table_names=tables,
            auto_create_tables=_flag(
                get("DATAOPS_AUTO_CREATE_TABLES"), "DATAOPS_AUTO_CREATE_TABLES", problems
            ),
            blob_store=blob_store,
            artifacts_bucket=get("DATAOPS_ARTIFACTS_BUCKET"),
            s3_endpoint=get("DATAOPS_S3_ENDPOINT"),
            export_archive_bucket=get("DATAOPS_EXPORT_ARCHIVE_BUCKET"),
            export_archive_prefix=get("DATAOPS_EXPORT_ARCHIVE_PREFIX") or "execution-exports",
            auth_mode=auth_mode,
            portal_secret=get("WORK_ENGINE_PORTAL_SECRET"),
            portal_secret_name=get("WORK_ENGINE_PORTAL_SECRET_NAME"),
            admin_email=get("DATAOPS_ADMIN_EMAIL"),
            admin_password=get("DATAOPS_ADMIN_PASSWORD"),
            max_upload_bytes=max_upload,
            trusted_proxies=_networks(
                get("DATAOPS_TRUSTED_PROXIES"), "DATAOPS_TRUSTED_PROXIES", problems
            ),
            on_lambda=get("AWS_LAMBDA_FUNCTION_NAME") is not None,
            scheduler_interval_seconds=interval,
            outbox_interval_seconds=outbox_interval,
        )
        problems += settings.durability_problems()
        if problems:
            raise ConfigurationError("invalid settings: " + "; ".join(problems))
        return settings

    def durability_problems(self) -> list[str]:
        """Refuse configurations that would keep durable data on local disk where that is
        not allowed (outside local/test, or on Lambda)."""
        problems = []
        if self.blob_store == "local-dev" and not self.local_storage_allowed:
            where = "on AWS Lambda" if self.on_lambda else f"when DATAOPS_ENV={self.env}"
            problems.append(
                f"DATAOPS_BLOB_STORE=local-dev keeps binaries on local disk, which is not "
                f"allowed {where}; set DATAOPS_BLOB_STORE=s3 (with DATAOPS_ARTIFACTS_BUCKET) "
                f"or disabled"
            )
        if self.store == "sqlite" and self.on_lambda:
            problems.append(
                "DATAOPS_STORE=sqlite keeps metadata on Lambda local disk, which is not "
                "durable; set DATAOPS_STORE=dynamodb"
            )
        if self.blob_store == "s3" and not self.artifacts_bucket:
            problems.append("DATAOPS_BLOB_STORE=s3 needs DATAOPS_ARTIFACTS_BUCKET")
        if self.auto_create_tables and self.env not in LOCAL_ENVIRONMENTS:
            problems.append("DATAOPS_AUTO_CREATE_TABLES is honoured only in local/test")
        return problems
