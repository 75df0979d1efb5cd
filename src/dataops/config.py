"""Settings from the environment (CONTRACT §2), validated once at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dataops.domain.errors import ConfigurationError

ENVIRONMENTS = ("local", "test", "staging", "production")
LOCAL_ENVIRONMENTS = ("local", "test")
TEST_HASHING_VARIABLE = "DATAOPS_TEST_ONLY_CHEAP_PASSWORD_HASHING"
"""The test suite's knob (`services/passwords.py`): allowed only when DATAOPS_ENV is
local or test; set in any other environment, the settings are refused."""
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


SMTP_SCHEMES = {"smtp": 25, "smtps": 465}
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes (`DATAOPS_SMTP_URL`): `smtp://` is plain SMTP upgraded with
    STARTTLS when the server offers it (required outside local/test: `require_tls`),
    `smtps://` is TLS from the first byte. The password is never shown (`repr`)."""

    host: str
    port: int
    implicit_tls: bool
    require_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The URL without its password (for logs and start-up lines)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _smtp(raw: str | None, env: str, problems: list[str]) -> SmtpSettings | None:
    """`DATAOPS_SMTP_URL`, checked; problems never quote the URL (it may hold a password)."""
    if raw is None:
        return None
    name = "DATAOPS_SMTP_URL"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        problems.append(f"{name} must be smtp://[user:pass@]host[:port] or smtps://... (bad port)")
        return None
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        problems.append(f"{name} must be smtp://[user:pass@]host[:port] or smtps://... with a host")
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.append(f"{name} takes no path, query or fragment")
        return None
    if port == 0:
        problems.append(f"{name} has an invalid port")
        return None
    return SmtpSettings(
        host=parts.hostname,
        port=port or SMTP_SCHEMES[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        require_tls=env not in LOCAL_ENVIRONMENTS,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


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
    smtp: SmtpSettings | None = None
    """E-mail's SMTP server (`DATAOPS_SMTP_URL`); None: no e-mail is queued or sent."""
    mail_from: str | None = None
    portal_url: str | None = None
    """Where users reach the portal (`https://dataops.example.com`): e-mail links are
    absolute with it, `/work/...` paths without."""
    smtp_password_secret_name: str | None = None
    """A Secrets Manager secret holding the SMTP password (its name or ARN), read when the
    dispatcher starts: on AWS the URL carries no password."""
    aws_region: str | None = None
    """`AWS_REGION` (or `AWS_DEFAULT_REGION`): where the artifacts bucket is addressed."""

    @property
    def local_storage_allowed(self) -> bool:
        """Local-disk binaries and local-dev:// URIs only in local/test (CONTRACT §2)."""
        return self.env in LOCAL_ENVIRONMENTS and not self.on_lambda

    @property
    def blob_root(self) -> Path:
        return self.home / "blobs"

    @property
    def upload_origins(self) -> tuple[str, ...]:
        """The origins a browser sends upload bytes to besides the portal itself: the
        artifacts bucket's S3 endpoints, where presigned PUTs point (the portal's CSP
        `connect-src`). With `DATAOPS_S3_ENDPOINT` (path-style addressing) its origin;
        on AWS the bucket's virtual-hosted regional endpoint, and the global one that
        us-east-1 presigns with."""
        if self.blob_store != "s3" or not self.artifacts_bucket:
            return ()
        if self.s3_endpoint:
            parts = urlsplit(self.s3_endpoint)
            return (f"{parts.scheme}://{parts.netloc}",)
        bucket = self.artifacts_bucket
        origins = [f"https://{bucket}.s3.amazonaws.com"]
        if self.aws_region:
            origins.insert(0, f"https://{bucket}.s3.{self.aws_region}.amazonaws.com")
            if "." in bucket:  # not a valid TLS host name: S3 is then addressed by path
                origins.append(f"https://s3.{self.aws_region}.amazonaws.com")
        return tuple(origins)

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
        max_upload = _upload_limit(get("DATAOPS_MAX_UPLOAD_BYTES"), problems)
        interval = _scheduler_interval(get("DATAOPS_SCHEDULER_INTERVAL_SECONDS"), problems)
        outbox_interval = _seconds(
            get("DATAOPS_OUTBOX_INTERVAL_SECONDS"),
            "DATAOPS_OUTBOX_INTERVAL_SECONDS",
            DEFAULT_OUTBOX_INTERVAL,
            problems,
        )
        smtp = _smtp(get("DATAOPS_SMTP_URL"), env, problems)
        mail_from = get("DATAOPS_MAIL_FROM")
        portal_url = get("DATAOPS_PORTAL_URL")
        secret_name = get("DATAOPS_SMTP_PASSWORD_SECRET_NAME")
        problems += _mail_problems(smtp, mail_from, portal_url, secret_name)
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
            smtp=smtp,
            mail_from=mail_from.strip() if mail_from else None,
            smtp_password_secret_name=secret_name,
            portal_url=portal_url.rstrip("/") if portal_url else None,
            aws_region=get("AWS_REGION") or get("AWS_DEFAULT_REGION"),
        )
        problems += settings.durability_problems()
        if get(TEST_HASHING_VARIABLE) is not None and env not in LOCAL_ENVIRONMENTS:
            problems.append(
                f"{TEST_HASHING_VARIABLE} is for the test suite only (cheap password hashes); "
                "unset it"
            )
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


def _upload_limit(raw: str | None, problems: list[str]) -> int:
    if raw is None:
        return DEFAULT_MAX_UPLOAD_BYTES
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    problems.append("DATAOPS_MAX_UPLOAD_BYTES must be a positive whole number")
    return DEFAULT_MAX_UPLOAD_BYTES


def _scheduler_interval(raw: str | None, problems: list[str]) -> int:
    if raw is None:
        return DEFAULT_SCHEDULER_INTERVAL
    if raw.isascii() and raw.isdigit() and int(raw) <= MAX_SCHEDULER_INTERVAL:
        return int(raw)
    problems.append(
        f"DATAOPS_SCHEDULER_INTERVAL_SECONDS must be a whole number of seconds "
        f"from 0 (off) to {MAX_SCHEDULER_INTERVAL} (got {raw!r})"
    )
    return DEFAULT_SCHEDULER_INTERVAL


def _mail_problems(
    smtp: SmtpSettings | None,
    mail_from: str | None,
    portal_url: str | None,
    secret_name: str | None,
) -> list[str]:
    """What is wrong with the mail settings taken together."""
    problems = []
    if smtp is not None and mail_from is None:
        problems.append("DATAOPS_SMTP_URL needs DATAOPS_MAIL_FROM (the sender address)")
    if mail_from is not None and not _ADDRESS.fullmatch(mail_from.strip()):
        problems.append(f"DATAOPS_MAIL_FROM must be an e-mail address (got {mail_from!r})")
    if portal_url is not None:
        shape = urlsplit(portal_url)
        if shape.scheme not in ("https", "http") or not shape.netloc or shape.query:
            problems.append(
                f"DATAOPS_PORTAL_URL must be the portal's http(s) address, e.g. "
                f"https://dataops.example.com (got {portal_url!r})"
            )
    if secret_name is not None and smtp is None:
        problems.append("DATAOPS_SMTP_PASSWORD_SECRET_NAME needs DATAOPS_SMTP_URL")
    if secret_name is not None and smtp is not None and not smtp.username:
        problems.append(
            "DATAOPS_SMTP_PASSWORD_SECRET_NAME needs a user name in DATAOPS_SMTP_URL "
            "(smtp://user@host)"
        )
    return problems
