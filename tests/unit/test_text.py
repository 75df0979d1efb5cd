"""Lone surrogate escapes: JSON, but not text any store can hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dataops.domain.text import has_unpaired_surrogate


@pytest.mark.parametrize(
    ("raw", "lone"),
    [
        (rb'{"a": "x"}', False),
        (rb'{"a": "caf\u00e9"}', False),
        (rb'{"a": "\ud83d\ude00"}', False),  # a pair: one character
        (rb'{"a": "\\ud800"}', False),  # an escaped backslash, then text
        (rb'{"a": "\ud800"}', True),
        (rb'{"a": "\uDBFF x"}', True),
        (rb'{"a": "\ude00\ud83d"}', True),  # the halves in the wrong order
        (rb'{"\udc00": 1}', True),  # a key
        (rb'{"a": [1, {"b": ["\udfff"]}]}', True),  # at any depth
        (rb'["\ud83d"]', True),
    ],
)
def test_lone_surrogates_are_found_anywhere(raw: bytes, lone: bool) -> None:
    value: Any = json.loads(raw)
    assert has_unpaired_surrogate(raw, value) is lone
