"""The times ``report`` and ``backfill`` take on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streams.tools.times import TimeError, parse_time

NOW = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("1.5d", NOW - timedelta(hours=36)),
        (" 1d ", NOW - timedelta(days=1)),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30T08:15", datetime(2026, 11, 30, 8, 15, tzinfo=UTC)),
        ("2026-11-30T08:15:30Z", datetime(2026, 11, 30, 8, 15, 30, tzinfo=UTC)),
        ("2026-11-30T08:15:00+01:00", datetime(2026, 11, 30, 7, 15, tzinfo=UTC)),
    ],
)
def test_a_time_is_now_an_age_or_an_iso_date_or_date_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text, NOW)
    assert parsed == expected and parsed.tzinfo is not None


def test_a_time_without_an_offset_is_in_the_zone_given() -> None:
    assert parse_time("2026-11-30", NOW, BERLIN) == datetime(2026, 11, 29, 23, tzinfo=UTC)
    assert parse_time("2026-07-01T09:00", NOW, BERLIN) == datetime(2026, 7, 1, 7, tzinfo=UTC)  # summer
    assert parse_time("2026-11-30T08:00+00:00", NOW, BERLIN) == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert parse_time("7d", NOW, BERLIN) == NOW - timedelta(days=7)  # an age has no zone


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "7",
        "7y",
        "-3d",
        "2026-13-01",
        "2026-11-31",
        "2026-11-30T25:00",
        "30/11/2026",
        "99999999999d",
    ],
)
def test_anything_else_is_refused_saying_what_a_time_is(text: str) -> None:
    with pytest.raises(TimeError, match="is not a time: give an ISO-8601 date"):
        parse_time(text, NOW)
