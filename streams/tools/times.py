"""The times of the command line: ``--since`` and ``--until`` of ``report`` and ``backfill``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class TimeError(ValueError):
    """A TIME or time zone the command line cannot read; ``str()`` says what it accepts."""


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`TimeError` if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeError(f"{name!r} is not an IANA time zone (UTC, Europe/Berlin)") from None


def parse_time(text: str, now: datetime, zone: tzinfo = UTC) -> datetime:
    """A TIME of the command line as an aware datetime: ``now``; a relative age (``90m``,
    ``12h``, ``7d``, ``2w``: that long before ``now``); an ISO-8601 date (its midnight) or
    date-time. A date or date-time without an offset is in ``zone`` (the report's
    ``--timezone``, UTC by default)."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    age = _AGE.match(cleaned)
    try:
        if age:
            return now - timedelta(seconds=float(age.group(1)) * _AGE_UNITS[age.group(2)])
        if len(cleaned) == 10:  # a date: 2026-11-30
            day = date.fromisoformat(cleaned)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        moment = datetime.fromisoformat(cleaned)
    except (ValueError, OverflowError):  # not a time, or an age before the year 1
        raise TimeError(
            f"{text!r} is not a time: give an ISO-8601 date (2026-11-30), a date-time "
            "(2026-11-30T08:00, 2026-11-30T08:00+01:00), an age (90m, 12h, 7d, 2w) or now"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
