"""The scorecard table's cell keys and values: what the worker writes is what a reader reads."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from streams.coaching.cells import (
    CellFormatError,
    DayCell,
    TotalsCell,
    cell_value,
    is_cell,
    parse_cell,
    read_value,
)
from streams.coaching.scorecards import Scorecard, ScorecardKey


def test_day_and_totals_keys_read_back() -> None:
    day = DayCell(3, ScorecardKey(date(2026, 12, 4), "sales", "agent-cy", "v1-abc"))
    totals = TotalsCell(0, "sales", "agent-cy")
    for cell in (day, totals):
        assert parse_cell(cell.text()) == cell
        assert parse_cell(cell.text().encode()) == cell
        assert is_cell(cell.text()) and is_cell(cell.text().encode())


def test_a_call_id_is_never_a_cell() -> None:
    # call ids are printable ASCII (streams/wire/events.py): the control character sets cells apart
    for call_id in ("call-1", "~", "!x"):
        assert not is_cell(call_id) and not is_cell(call_id.encode())
    with pytest.raises(CellFormatError):
        parse_cell("call-1")


@pytest.mark.parametrize(
    "text",
    ["\x1eday\x1f1\x1fnot-a-day\x1fa\x1fb\x1fc", "\x1eweek\x1f1\x1fa\x1fb", "\x1etotal\x1fx\x1fa\x1fb"],
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(CellFormatError):
        parse_cell(text)


def test_values_keep_the_card_and_its_last_day() -> None:
    card = Scorecard()
    card.add(
        {
            "duration_seconds": 120.0,
            "customer_focus_score": 71.6,
            "monologue_longest_seconds": 40.2,
            "nudges": ["n1"],
        }
    )
    raw = orjson.dumps(cell_value(2, card, date(2026, 12, 4)))
    read, last_day = read_value(raw)
    assert read == card and last_day == date(2026, 12, 4)
    assert read.figures().p10_score == 72.0


@pytest.mark.parametrize(
    "raw", [b"{", b"{}", b'{"card": {"calls": 1, "bogus": 2}, "last_day": "2026-12-04"}']
)
def test_unreadable_values_are_refused(raw: bytes) -> None:
    with pytest.raises(CellFormatError):
        read_value(raw)
