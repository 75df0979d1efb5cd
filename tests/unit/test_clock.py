"""Strict timestamps: a value past the last UTC instant is refused, never a crash."""

from __future__ import annotations

import pytest

from dataops.domain.clock import parse_ts


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59.999999-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_timestamp_out_of_range_in_utc_is_a_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_ts(value)


def test_the_last_utc_instant_is_read() -> None:
    assert parse_ts("9999-12-31T23:59:59.999999Z").year == 9999
