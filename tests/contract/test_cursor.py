"""The list cursor both backends share (`store/cursor.py`)."""

from __future__ import annotations

import pytest

from dataops.domain.errors import ValidationFailed
from dataops.store.cursor import decode_cursor, encode_cursor


def test_a_cursor_holds_the_order_values_it_was_made_from() -> None:
    cursor = encode_cursor(["2024-01-02", "tsk_é#1"])
    assert "=" not in cursor
    assert decode_cursor(cursor, 2) == ["2024-01-02", "tsk_é#1"]
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, 3)


def test_a_blank_value_is_refused_only_where_no_key_holds_one() -> None:
    cursor = encode_cursor(["", "tsk_1"])
    assert decode_cursor(cursor, 2) == ["", "tsk_1"]  # SQLite compares any string
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, 2, blank=False)
