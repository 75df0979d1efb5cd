"""`dataops export --to-s3`: the archive lands in the export bucket (moto server, real
HTTP) under a key without private data, and what landed validates."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from dataops import runtime
from dataops.demo import load_demo
from dataops.domain.errors import ConfigurationError
from dataops.portable.checking.validate import validate_export
from dataops.portable.writing.offsite import archive_key
from tests.conftest import make_settings
from tests.moto_server import MotoServer


def _run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dataops", "export", *args],
        env={**os.environ, "DATAOPS_ENV": "test", "DATAOPS_HOME": str(home), **env},
        text=True,
        capture_output=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_export_to_s3_uploads_a_valid_archive(tmp_path: Path, moto: MotoServer) -> None:
    ws = runtime.build_workspace(make_settings(tmp_path))
    runtime.bootstrap_admin(ws)
    load_demo(ws)
    ws.store.close()
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    result = _run(
        tmp_path, "--to-s3", DATAOPS_EXPORT_ARCHIVE_BUCKET=bucket, DATAOPS_S3_ENDPOINT=moto.endpoint
    )
    assert result.returncode == 0, result.stderr
    uri = result.stdout.strip()
    match = re.fullmatch(
        rf"s3://{bucket}/execution-exports/test/(\d{{4}}-\d{{2}}-\d{{2}})/"
        r"dataops-execution-[0-9t\-z]+\.tar\.gz",
        uri,
    )
    assert match, uri
    key = uri.removeprefix(f"s3://{bucket}/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    archive = tmp_path / "downloaded.tar.gz"
    archive.write_bytes(body)
    report = validate_export(archive)
    assert report.valid, report.lines()
    assert f"sha256:{hashlib.sha256(body).hexdigest()}" in result.stderr
    assert "ada" not in key.lower()  # no titles or names in the key


def test_export_to_s3_needs_the_bucket_setting(tmp_path: Path) -> None:
    result = _run(tmp_path, "--to-s3")
    assert result.returncode == 2
    assert "DATAOPS_EXPORT_ARCHIVE_BUCKET" in result.stderr


def test_export_needs_out_or_to_s3(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 2
    assert "--to-s3" in result.stderr


def test_archive_key_refuses_a_prefix_that_makes_a_bad_key() -> None:
    manifest = {"generated_at": "2026-11-25T18:00:00.000Z"}
    assert archive_key("execution-exports", "production", manifest) == (
        "execution-exports/production/2026-11-25/dataops-execution-2026-11-25t18-00-00-000z.tar.gz"
    )
    with pytest.raises(ConfigurationError, match="DATAOPS_EXPORT_ARCHIVE_PREFIX"):
        archive_key("../Exports", "production", manifest)
