"""The storage policy's fast paths find exactly what the full scans find.

`may_hold_secret` lets the scans skip a value whose serialized text cannot hold a
flagged string; these properties are what makes skipping safe: every string that
`signed_url_problem` flags makes it say True, however the string is serialized.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataops.domain import policy, secret_scan
from dataops.domain.codec import to_dict
from dataops.domain.enums import ArtifactType, StorageProvider, TaskStatus
from dataops.domain.models import Artifact, ArtifactRef, BundleLink, Task
from dataops.domain.policy import check_storage_uri
from dataops.domain.secret_scan import (
    may_hold_secret,
    scan_entity_for_secret_values,
    scan_for_secret_values,
    secret_value_problem,
)

# Pieces of the patterns signed_url_problem looks for, in odd letter cases and with the
# non-ASCII characters that re.IGNORECASE folds onto ASCII letters (long s, dotless i,
# dotted capital I, the Kelvin sign).
PIECES = [
    "@",
    "=",
    ":",
    "://",
    "?",
    "&",
    ";",
    "#",
    "/",
    " ",
    "\u00a0",
    "\\",
    '"',
    "\n",
    "https://",
    "user:pw@",
    "x-amz-signature",
    "X-Amz-Credential",
    "x-goog-\u017fignature",
    "X-AMZ-\u017f\u0131gnature",
    "x-AMZ-credent\u0131al",
    "\u0130",
    "\u212a",
    "é",
    "\ud800",
    *sorted(secret_scan._SIGNED_PARAMS),
    *[p.upper() for p in sorted(secret_scan._SIGNED_PARAMS)],
    # pieces of the secret-value patterns, and percent-encoded forms
    "%",
    "%2D",
    "%74",
    "%2574",
    "X%2DAmz%2DSignature",
    "AKIA",
    "ASIA",
    "IOSFODNN7EXAMPLE",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "sk-",
    "eyJ",
    "eyJhbGciOiJIUzI1",
    ".",
    "Bearer ",
    "dop_",
    "abcdefghijKLMNOPQRST",
    "0123456789",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "-----BEGIN RSA PRIVATE KEY-----",
]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=12).map("".join)


def _serialized(text: str) -> list[bytes]:
    """The ways a string reaches the prefilter: an export line (either escaping), orjson."""
    forms = [
        json.dumps({"k": text}, ensure_ascii=True).encode(),
        json.dumps({"k": text}, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ]
    # an export line from elsewhere may escape "/" (JSON allows it)
    forms.append(forms[0].replace(b"/", b"\\/"))
    with contextlib.suppress(TypeError):  # lone surrogates: the scans take the full path
        forms.append(orjson.dumps({"k": text}))
    return forms


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_every_flagged_string_passes_the_prefilter(text: str) -> None:
    if secret_value_problem(text) is not None:
        for data in _serialized(text):
            assert may_hold_secret(data), (text, data)


@pytest.mark.parametrize(
    "text",
    [
        "https://u:p@example.com/x",
        "https://e.com/a?X-Amz-Signature=1",
        "x-amz-\u017fignature",
        "X-GOOG-SIGNATURE",
        "https://e.com/a#access_token=1",
        "a;KEY=1",
        "https://e.com/a?X%2DAmz%2DSignature=1",
        "https://e.com/a?%74oken=1",
        "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
        "ASIAIOSFODNN7EXAMPLE",
        "key\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "dop_" + "A" * 43,
        "-----BEGIN EC PRIVATE KEY-----",
        "Authorization: Bearer\tabcdefghijklmnop1234",
    ],
)
def test_known_flagged_strings_pass_the_prefilter(text: str) -> None:
    assert secret_value_problem(text) is not None
    for data in _serialized(text):
        assert may_hold_secret(data)


def test_clean_text_is_skipped() -> None:
    # Not a tautology: the skip is what makes the scans fast.
    assert not may_hold_secret(b'{"title":"Report 2025-01-02","uri":"https://e.com/a"}')
    assert may_hold_secret(b'{"a":"\\u0040"}')  # an escape may spell anything


def test_only_ascii_letters_fold_onto_the_marker_prefixes() -> None:
    """The prefilter lower()s ASCII only: no other character may match the letters of
    "x-amz-" and "x-goog-" under re.IGNORECASE (as the long s matches s, the Kelvin
    sign k)."""
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    matched = set(re.findall(r"[xamzgo\-]", everything, flags=re.IGNORECASE))
    assert matched == set("xamzgoXAMZGO-")


def test_space_pattern_is_str_isspace() -> None:
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(policy._SPACE.match(char)) == char.isspace(), hex(code)


# --- scans: the fast negative path gives the full scan's answer -------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(texts, st.integers(0, 3)), inner, max_size=3),
        st.tuples(inner),
    ),
    max_leaves=10,
)


@settings(max_examples=800, deadline=None)
@given(json_values)
def test_scan_for_secret_values_is_the_full_scan(value: Any) -> None:
    assert scan_for_secret_values(value, "p") == secret_scan._located_secret_values(value, "p")


@dataclass
class _Hidden:
    visible: str = ""
    _hidden: str = ""
    nested: list[Any] = field(default_factory=list)


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_prefilter_sees_private_dataclass_fields(visible: str, hidden: str) -> None:
    value = _Hidden(visible, hidden, [_Hidden(hidden)])
    assert scan_for_secret_values({"v": value}) == secret_scan._located_secret_values(
        {"v": value}, ""
    )
    if secret_value_problem(hidden) is not None:
        assert secret_scan._may_hold_secret_value(value)


@settings(max_examples=400, deadline=None)
@given(
    description=texts,
    link=st.one_of(st.none(), texts),
    tags=st.lists(texts, max_size=2),
    validation=json_values,
    refs=st.lists(texts, max_size=2),
    status=st.sampled_from(list(TaskStatus)),
)
def test_task_scan_is_the_scan_of_its_dict(
    description: str,
    link: str | None,
    tags: list[str],
    validation: Any,
    refs: list[str],
    status: TaskStatus,
) -> None:
    task = Task(
        "tsk_1",
        description,
        "2025-01-02",
        "t",
        "t",
        status=status,
        link=link,
        tags=tags,
        validation=validation,
        artifact_refs=[ArtifactRef(r, title=r) for r in refs],
    )
    expected = secret_scan._located_secret_values(to_dict(task), "")
    assert scan_entity_for_secret_values(task) == expected


@settings(max_examples=300, deadline=None)
@given(title=texts, uri=texts, metadata=json_values, links=st.lists(texts, max_size=2))
def test_artifact_scan_skips_exactly_its_skipped_fields(
    title: str, uri: str, metadata: Any, links: list[str]
) -> None:
    artifact = Artifact(
        "art_1",
        ArtifactType.REPORT,
        title,
        uri,
        StorageProvider.EXTERNAL_URL,
        "t",
        "t",
        metadata=metadata,
        tags=links,
    )
    record = to_dict(artifact)
    record.pop("metadata")
    record.pop("storageUri")
    expected = secret_scan._located_secret_values(record, "")
    assert scan_entity_for_secret_values(artifact, skip=("metadata", "storage_uri")) == expected


def test_bundle_link_in_a_flagged_entity_is_located() -> None:
    link = BundleLink("a", "https://u:p@example.com/x")
    found = scan_entity_for_secret_values(_Hidden(nested=[link]))
    assert [e.field for e in found] == ["nested[0].url"]


@pytest.mark.parametrize("uri", ["https://e.com/a\u2003b", " https://e.com/a", "https://e.com/\t"])
def test_storage_uri_with_any_unicode_space_is_refused(uri: str) -> None:
    assert [e.message for e in check_storage_uri(uri)] == ["must not contain spaces"]
