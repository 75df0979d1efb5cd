"""Storage policy and redaction rules (dataops.domain.policy), against CONTRACT §5."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dataops.domain.enums import StorageProvider as P
from dataops.domain.errors import FieldError
from dataops.domain.policy import (
    MAX_DEPTH,
    MAX_METADATA_BYTES,
    check_checksum,
    check_free_form,
    check_metadata,
    check_storage_uri,
    infer_provider,
    nesting_depth,
    provider_conflict,
)
from dataops.domain.secret_scan import is_secret_key, secret_value_problem, signed_url_problem

HEX64 = "0123456789abcdef" * 4

# --- provider inference: scheme and host, case-insensitive, hosts not substrings ---------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key.pdf", P.S3),
        ("S3://bucket/key.pdf", P.S3),
        ("local-dev://files/abc", P.LOCAL_DEV),
        ("LOCAL-DEV://files/abc", P.LOCAL_DEV),
        ("https://github.com/org/repo/blob/main/README.md", P.GITHUB),
        ("https://GitHub.com/x", P.GITHUB),
        ("HTTPS://GITHUB.COM/x", P.GITHUB),
        ("https://gist.github.com/u/1", P.GITHUB),
        ("https://raw.githubusercontent.com/o/r/main/f.txt", P.GITHUB),
        ("https://www.dropbox.com/s/abc/f.pdf?rlkey=xyz&dl=0", P.DROPBOX),
        ("https://dl.dropboxusercontent.com/s/abc/f.pdf", P.DROPBOX),
        ("https://drive.google.com/file/d/1abc/view?usp=sharing", P.GOOGLE_DRIVE),
        ("https://docs.google.com/document/d/1abc/edit", P.GOOGLE_DRIVE),
        ("HTTPS://DRIVE.GOOGLE.COM/file/d/1", P.GOOGLE_DRIVE),
        ("https://example.com/report.pdf", P.EXTERNAL_URL),
        ("http://example.com/report.pdf", P.EXTERNAL_URL),
        ("https://www.youtube.com/watch?v=abc", P.EXTERNAL_URL),
        # look-alike hosts: the provider's name is a substring but not the host
        ("https://notgithub.com.evil.io/x", P.EXTERNAL_URL),
        ("https://github.com.evil.io/x", P.EXTERNAL_URL),
        ("https://evilgithub.com/x", P.EXTERNAL_URL),
        ("https://example.com/github.com/x", P.EXTERNAL_URL),
        ("https://example.com/?next=https://github.com/x", P.EXTERNAL_URL),
        ("https://dropbox.com.evil.io/s/x", P.EXTERNAL_URL),
        ("https://drive.google.com.evil.io/file/d/1", P.EXTERNAL_URL),
        ("https://google.com/drive", P.EXTERNAL_URL),
        ("ftp://example.com/x", P.UNKNOWN),
        ("javascript:alert(1)", P.UNKNOWN),
        ("file:///etc/passwd", P.UNKNOWN),
    ],
)
def test_infer_provider(uri: str, expected: P) -> None:
    assert infer_provider(uri) == expected


@pytest.mark.parametrize(
    ("uri", "explicit"),
    [
        ("s3://bucket/key", P.S3),
        ("S3://bucket/key", P.S3),
        ("local-dev://files/a", P.LOCAL_DEV),
        ("https://example.com/a", P.EXTERNAL_URL),
        ("https://github.com/o/r", P.GITHUB),
        ("https://www.dropbox.com/s/a/f", P.DROPBOX),
        ("https://drive.google.com/file/d/1", P.GOOGLE_DRIVE),
        # external-url is a fair (less specific) label for any http(s) share link
        ("https://github.com/o/r", P.EXTERNAL_URL),
        ("https://www.dropbox.com/s/a/f", P.EXTERNAL_URL),
        ("https://docs.google.com/document/d/1", P.EXTERNAL_URL),
    ],
)
def test_provider_agreeing_with_uri(uri: str, explicit: P) -> None:
    assert provider_conflict(uri, explicit) is None


@pytest.mark.parametrize(
    ("uri", "explicit"),
    [
        ("s3://bucket/key", P.EXTERNAL_URL),  # would skip the checksum rule (REFERENCE §10.9)
        ("s3://bucket/key", P.GITHUB),
        ("s3://bucket/key", P.LOCAL_DEV),
        ("https://example.com/a", P.S3),
        ("https://example.com/a", P.LOCAL_DEV),
        ("https://example.com/a", P.GITHUB),
        ("https://notgithub.com.evil.io/x", P.GITHUB),
        ("https://github.com/o/r", P.DROPBOX),
        ("https://www.dropbox.com/s/a/f", P.GOOGLE_DRIVE),
        ("local-dev://files/a", P.S3),
        ("local-dev://files/a", P.EXTERNAL_URL),
    ],
)
def test_provider_contradicting_uri(uri: str, explicit: P) -> None:
    problem = provider_conflict(uri, explicit)
    assert problem is not None
    assert explicit.value in problem


# --- storage URIs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/key.pdf",
        "s3://bucket/deep/key/file.mp3",
        "https://example.com/a.pdf",
        "http://example.com/a.pdf",
        "local-dev://files/fil_01",
        "https://www.dropbox.com/scl/fi/abc/f.pdf?rlkey=xyz123&dl=0",
        "https://drive.google.com/file/d/1abc/view?usp=sharing",
        "https://drive.google.com/file/d/1abc/view?resourcekey=0-xyz",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://example.com/search?q=token+budget&page=2",
        "https://github.com/org/repo/blob/main/signature.md",
    ],
)
def test_storage_uri_accepted(uri: str) -> None:
    assert check_storage_uri(uri) == []


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "   ",
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "ftp://example.com/a.pdf",
        "mailto:someone@example.com",
        "/reports/q1.pdf",
        "reports/q1.pdf",
        "//example.com/a.pdf",
        "https://",
        "https:///path-only",
        " https://example.com/a.pdf",
        "https://example.com/a.pdf ",
        "https://example.com/q1 report.pdf",
        "https://example.com/a\n.pdf",
        "s3://bucket",
        "s3://bucket/",
        "local-dev://",
        "local-dev:///etc/passwd",
        "local-dev://files/../../etc/passwd",
        "local-dev://files\\..\\x",
        "https://example.com/" + "a" * 2100,
        # signed, tokenised or credential-carrying
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab12",
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAEXAMPLE%2F20260101",
        "https://user:pass@example.com/a.pdf",
        "https://example.com/a.pdf?token=abc",
    ],
)
def test_storage_uri_refused(uri: str) -> None:
    errors = check_storage_uri(uri)
    assert len(errors) == 1
    assert errors[0].field == "storageUri"
    assert errors[0].message


def test_storage_uri_error_names_the_given_path() -> None:
    assert [e.field for e in check_storage_uri("javascript:x", "bundleLinks[0].url")] == [
        "bundleLinks[0].url"
    ]


# --- signed / tokenised URLs ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc",
        "https://b.s3.amazonaws.com/k?x-amz-signature=abc",
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAEXAMPLE",
        "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=abc",
        "https://storage.googleapis.com/b/o?X-Goog-Signature=abc",
        "https://d1.cloudfront.net/k.pdf?Expires=1&Signature=abc&Key-Pair-Id=K",
        "https://acct.blob.core.windows.net/c/k.pdf?sv=2022-11-02&sig=abc%3D",
        "https://example.com/k.pdf?token=abc",
        "https://example.com/k.pdf?TOKEN=abc",
        "https://example.com/k.pdf?access_token=abc",
        "https://example.com/callback#access_token=abc",
        "https://maps.googleapis.com/api?key=AIzaSyExample",
        "https://example.com/k?jwt=eyJhbGciOi",
        "https://user:pass@example.com/k.pdf",
        "https://user:@example.com/k.pdf",
        "see https://example.com/a?sig=1 for the draft",
        "first https://ok.example.com/a then https://example.com/b?token=x",
    ],
)
def test_signed_or_tokenised_url_detected(text: str) -> None:
    assert signed_url_problem(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "https://www.dropbox.com/scl/fi/abc/f.pdf?rlkey=xyz123&dl=0",
        "https://www.dropbox.com/s/abc/f.pdf?dl=1",
        "https://drive.google.com/file/d/1abc/view?usp=sharing",
        "https://drive.google.com/file/d/1abc/view?usp=drive_link&resourcekey=0-x",
        "https://docs.google.com/document/d/1abc/edit?tab=t.0",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
        "https://youtu.be/dQw4w9WgXcQ?si=abc",
        "https://example.com/?tokens=5&keyword=signature",
        "https://example.com/page?monkey=1&designation=x",
        "https://github.com/org/repo/blob/main/signature.md",
        "https://example.com/@someone",
        "mail someone@example.com about the token budget",
        "a plain sentence with the words token, sig and signature",
        "",
    ],
)
def test_stable_share_links_allowed(text: str) -> None:
    assert signed_url_problem(text) is None


# --- secret-like keys ----------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "accessToken",
        "access_token",
        "api_key",
        "apiKey",
        "APIKey",
        "x-api-key",
        "X-API-Key",
        "clientSecret",
        "client_secret",
        "password",
        "Password",
        "db_password",
        "secret",
        "token",
        "refreshToken",
        "sessionToken",
        "privateKey",
        "private_key",
        "secretKey",
        "awsSecretAccessKey",
        "sessionId",
        "signedUrl",
        "authorization",
        "cookie",
        "credentials",
    ],
)
def test_secret_like_keys_flagged(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "secretary",
        "tokens",
        "promptTokens",
        "completionTokens",
        "maxTokens",
        "total_tokens",
        "tokenCount",
        "token_count",
        "tokenUsage",
        "tokenizer",
        "keyboard",
        "keynote",
        "monkey",
        "author",
        "passage",
        "description",
        "sessions",
        "title",
    ],
)
def test_ordinary_keys_not_flagged(key: str) -> None:
    assert not is_secret_key(key)


# --- metadata ------------------------------------------------------------------------


def _size(metadata: dict[str, Any]) -> int:
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _fields(errors: list[FieldError]) -> list[str]:
    return [e.field for e in errors]


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"episode": 12, "guests": ["Ann", "Bo"], "nested": {"ok": True, "n": 1.5}},
        {"promptTokens": 1200, "tokenCount": 5, "secretary": "Ann", "keyboard": "qwerty"},
        {"share": "https://www.dropbox.com/scl/fi/a/f.pdf?rlkey=x&dl=0"},
        {"note": "a" * 4000},
    ],
)
def test_metadata_accepted(metadata: Any) -> None:
    assert check_metadata(metadata) == []


@pytest.mark.parametrize("metadata", [[], ["a"], "text", 5, True])
def test_metadata_must_be_an_object(metadata: Any) -> None:
    assert _fields(check_metadata(metadata)) == ["metadata"]


def test_metadata_limit_counts_utf8_bytes_not_characters() -> None:
    metadata = {"note": "€" * 1500}  # 1,511 characters, 4,511 bytes
    assert len(json.dumps(metadata, ensure_ascii=False)) < MAX_METADATA_BYTES
    assert _size(metadata) > MAX_METADATA_BYTES
    assert _fields(check_metadata(metadata)) == ["metadata"]


def test_metadata_limit_boundary() -> None:
    base = {"note": ""}
    at_limit = {"note": "a" * (MAX_METADATA_BYTES - _size(base))}
    assert _size(at_limit) == MAX_METADATA_BYTES
    assert check_metadata(at_limit) == []
    over = {"note": at_limit["note"] + "a"}
    assert _fields(check_metadata(over)) == ["metadata"]


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"apiKey": "x"}, "metadata.apiKey"),
        ({"a": {"b": {"clientSecret": "x"}}}, "metadata.a.b.clientSecret"),
        ({"items": [{"apiKey": "x"}]}, "metadata.items[0].apiKey"),
        ({"items": [[{"password": "x"}]]}, "metadata.items[0][0].password"),
        ({"note": "AKIAIOSFODNN7EXAMPLE"}, "metadata.note"),
        ({"keys": ["-----BEGIN PRIVATE KEY-----\nMIIEv"]}, "metadata.keys[0]"),
        ({"k": "-----BEGIN RSA PRIVATE KEY-----"}, "metadata.k"),
        ({"gh": "ghp_" + "a" * 36}, "metadata.gh"),
        ({"h": "Bearer abcdefghijklmnopqrstuvwx"}, "metadata.h"),
        ({"link": "https://example.com/x?access_token=abc"}, "metadata.link"),
        ({"links": ["https://user:pass@example.com/x"]}, "metadata.links[0]"),
    ],
)
def test_metadata_secrets_found_at_any_depth(metadata: dict[str, Any], field: str) -> None:
    assert field in _fields(check_metadata(metadata))


# --- checksums -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sha256:" + HEX64, "sha256:" + "0" * 64, "sha256:" + "f" * 64])
def test_checksum_accepted(value: str) -> None:
    assert check_checksum(value) == []


@pytest.mark.parametrize(
    "value",
    [
        "",
        "md5:" + "a" * 32,
        "sha1:" + "a" * 40,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "g" * 64,
        "sha256:",
        HEX64,
        "sha256 " + HEX64,
        " sha256:" + HEX64,
        "sha256:" + HEX64 + " ",
        "sha256:" + HEX64 + "\n",  # `$` alone would accept a trailing newline
        "SHA256:" + HEX64,
        # canonical lowercase form (what the server itself writes): upper case is refused
        "sha256:" + HEX64.upper(),
    ],
)
def test_checksum_refused(value: str) -> None:
    assert _fields(check_checksum(value)) == ["checksum"]


# --- issue 15: every secret form, in every field, percent-encoded too --------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    "text",
    [
        # signed-URL parameter names percent-encoded (the server decodes them)
        "https://b.s3.amazonaws.com/k?X%2DAmz%2DSignature=abc",
        "https://b.s3.amazonaws.com/k?x%2damz%2dcredential=abc",
        "https://example.com/x?%74oken=abc",
        "https://example.com/x?%2574oken=abc",  # encoded twice
        "https://example.com/x%3Ftoken%3Dabc",
        # any user information in a URL, with or without a colon
        "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r.git",
        "https://oauth2@example.com/x",
        "see https://user:pass@example.com/x",
        # other clouds' signed URLs
        "https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4&X-Goog-Signature=ab",
        "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2026&sp=r&sig=abc%3D",
    ],
)
def test_encoded_and_userinfo_forms_detected(text: str) -> None:
    assert signed_url_problem(text) is not None
    assert secret_value_problem(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "ASIAIOSFODNN7EXAMPLE",
        "key AKIAIOSFODNN7EXAMPLE here",
        AWS_SECRET,
        f"aws secret: {AWS_SECRET}",
        f'"{AWS_SECRET}"',
        "dop_" + "x1Y2z3" * 7,
        "token dop_Zm9vYmFyYmF6cXV4cXV1eA",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234567890-abcdef",
        "sk-abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
        "Authorization: Bearer abcdefghijklmnop1234",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "%41KIAIOSFODNN7EXAMPLE",  # percent-encoded
    ],
)
def test_secret_values_detected(text: str) -> None:
    assert secret_value_problem(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Episode 42: the founders of ASIA-Pacific podcasts",
        "commit 0123456789abcdef0123456789abcdef01234567 fixes it",  # a git SHA: no upper case
        "https://github.com/Org/Repo/commit/0123456789abcdef0123456789abcdef01234567",
        "https://github.com/OrgName/RepoName/blob/main/docs/ReadmeFile1",
        "sha256:" + HEX64,
        "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz012345/view",
        "art_01JABCDEFGHJKMNPQRSTVWXYZ12",
        "the dop_ prefix names DataOps tokens",
        "Bearer bonds",
        "email me at ops@example.com",
        "https://medium.com/@author/post",
        "50% done, 100%",
        "price=5 & tax=1",
        "https://www.dropbox.com/s/abc/f.pdf?rlkey=xyz&dl=0",
    ],
)
def test_ordinary_text_is_not_a_secret(text: str) -> None:
    assert secret_value_problem(text) is None


def test_every_free_text_field_is_scanned_with_one_policy() -> None:
    from dataops.domain.enums import ArtifactType
    from dataops.domain.models import Artifact, Task
    from dataops.domain.rules import artifact_errors, task_errors

    artifact = Artifact(
        "art_1",
        ArtifactType.REPORT,
        f"key {AWS_SECRET}",
        "https://example.com/a",
        P.EXTERNAL_URL,
        "t",
        "t",
        description="ASIAIOSFODNN7EXAMPLE",
        tags=["ok", "dop_" + "a1B2" * 10],
    )
    fields = {e.field for e in artifact_errors(artifact)}
    assert {"title", "description", "tags[1]"} <= fields
    task = Task(
        "tsk_1",
        "Send it",
        "2026-01-02",
        "t",
        "t",
        comment="ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        external_status="sk-abcdefghijklmnopqrstuvwxyz",
    )
    fields = {e.field for e in task_errors(task)}
    assert {"comment", "externalStatus"} <= fields


# --- issue 15: free-form values have a depth and a size -------------------------------------


def _nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_metadata_depth_limit() -> None:
    assert check_metadata(_nested(MAX_DEPTH)) == []
    assert [e.message for e in check_metadata(_nested(MAX_DEPTH + 1))] == [
        f"must be nested at most {MAX_DEPTH} levels deep"
    ]


def test_depth_of_any_value_is_counted_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):  # far beyond Python's recursion limit
        deep = [deep]
    assert nesting_depth(deep, 32) == 33  # it stops counting past the limit
    assert check_free_form({"v": deep}, "validation")[0].field == "validation"
    assert nesting_depth({"a": [1, {"b": []}]}, 32) == 4
    assert nesting_depth("text", 32) == 0


def test_free_form_size_limit() -> None:
    assert check_free_form("x" * 19_000, "validation") == []
    errors = check_free_form("x" * 20_001, "validation")
    assert [e.field for e in errors] == ["validation"]
    assert "at most 20000 bytes" in errors[0].message


def test_free_form_secrets_keys_and_values() -> None:
    found = check_free_form({"rules": [{"apiKey": "x"}, "ASIAIOSFODNN7EXAMPLE"]}, "validation")
    assert {e.field for e in found} == {"validation.rules[0].apiKey", "validation.rules[1]"}
