"""`executed_at` is formatted by hand for speed; it must read exactly as datetime would write it."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from pytest_qahub.capture import utc_iso

EDGES = [
    0.0,
    0.0005,  # half a millisecond: cut, not rounded
    1.9999994,  # microseconds round down...
    1.9999996,  # ...and here up, into the next second
    1764403199.9999999,
    -0.25,  # before 1970
    -1.9999996,
    4102444800.123,  # 2100
]


@pytest.mark.parametrize("timestamp", EDGES)
def test_edges_read_as_datetime_writes_them(timestamp: float) -> None:
    assert utc_iso(timestamp) == datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def test_any_timestamp_reads_as_datetime_writes_it() -> None:
    draw = random.Random(20261129)
    stamps = [draw.uniform(0, 4.1e9) for _ in range(20_000)]
    stamps += [1764403200 + n / 997 for n in range(5_000)]  # many in one second, as tests run
    for stamp in stamps:
        assert utc_iso(stamp) == datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds"), stamp
