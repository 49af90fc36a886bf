"""The scorecard table's cells: keys and values, as the worker writes and the console reads them. Pure.

The worker adds each call summary it emits to cells of the scorecard table, in the
transaction that commits the call's end (streams/worker/scorecard_cells.py). A cell
belongs to one input partition: the calls of one agent are spread over every partition,
and each partition's cells are written only by its owner, so no two workers ever write
one key. A reader merges a card's cells over the partitions.

Two kinds of cell:

- a **day** cell: one agent's :class:`~streams.coaching.scorecards.ScorecardKey` (day,
  team, agent, definitions) in one partition, kept ``scorecard_days``. A team's card is the
  merge of its agents' (every summary adds to both): readers make it
  (:func:`with_team_cards`), so a call end writes two cells, not three;
- a **totals** cell: everything one agent of one team did in one partition since the cell
  was made, whatever the day or definitions. Prometheus' per-agent counters are these
  totals: they only grow, across restarts and rebalances, as long as the agent works
  (a cell left alone for ``scorecard_days`` is deleted).

Keys begin with a control character, which a call_id (printable ASCII) never holds.
Values are JSON: ``{"partition": P, "card": Scorecard.to_dict(), "last_day": "YYYY-MM-DD"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import orjson

from streams.coaching.scorecards import TEAM_CARD, Scorecard, ScorecardKey

TABLE_NAME = "scorecards"  # the worker's Faust table
CELL_MARK = "\x1e"  # first character of every cell key
SEPARATOR = "\x1f"
DAY = "day"
TOTALS = "total"


def changelog_topic(app_id: str) -> str:
    """The topic Faust names the table's changelog."""
    return f"{app_id}-{TABLE_NAME}-changelog"


def day_key(partition: int, day: date, team: str, agent_id: str, definitions: str) -> str:
    """A day cell's key, as :meth:`DayCell.text` gives it; made without the dataclasses,
    which take a few µs each, by the worker at every call's end."""
    return SEPARATOR.join((CELL_MARK + DAY, str(partition), day.isoformat(), team, agent_id, definitions))


def totals_key(partition: int, team: str, agent_id: str) -> str:
    """A totals cell's key, as :meth:`TotalsCell.text` gives it."""
    return SEPARATOR.join((CELL_MARK + TOTALS, str(partition), team, agent_id))


class CellFormatError(ValueError):
    """A table record that is not a scorecard cell this version can read."""


@dataclass(frozen=True)
class DayCell:
    """Where a day cell is: its partition and its card's key."""

    partition: int
    key: ScorecardKey

    def text(self) -> str:
        key = self.key
        return day_key(self.partition, key.day, key.team, key.agent_id, key.definitions)


@dataclass(frozen=True)
class TotalsCell:
    """Where a totals cell is: its partition, team and agent."""

    partition: int
    team: str
    agent_id: str

    def text(self) -> str:
        return totals_key(self.partition, self.team, self.agent_id)


Cell = DayCell | TotalsCell


def is_cell(key: bytes | str) -> bool:
    """A scorecard cell's key (else a call's)."""
    first = key[:1]
    return first == CELL_MARK.encode() or first == CELL_MARK


def parse_cell(key: bytes | str) -> Cell:
    """The cell a key names; :class:`CellFormatError` if it names none."""
    text = key.decode() if isinstance(key, bytes) else key
    if not text.startswith(CELL_MARK):
        raise CellFormatError(f"not a scorecard cell: {text[:40]!r}")
    kind, partition, *rest = text[1:].split(SEPARATOR)
    try:
        if kind == DAY and len(rest) == 4:
            return DayCell(int(partition), ScorecardKey.from_text(SEPARATOR.join(rest)))
        if kind == TOTALS and len(rest) == 2:
            return TotalsCell(int(partition), rest[0], rest[1])
    except ValueError as error:
        raise CellFormatError(f"scorecard cell {text[1:60]!r}: {error}") from None
    raise CellFormatError(f"scorecard cell {text[1:60]!r}: unknown kind or fields")


def cell_value(partition: int, card: Scorecard, last_day: date) -> dict[str, Any]:
    """A cell's value before it is JSON."""
    return {"partition": partition, "card": card.to_dict(), "last_day": last_day.isoformat()}


def read_value(raw: bytes) -> tuple[Scorecard, date]:
    """A cell's card and the last day a call was added to it."""
    try:
        data = orjson.loads(raw)
        return Scorecard.from_dict(data["card"]), date.fromisoformat(data["last_day"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CellFormatError(f"unreadable scorecard cell value: {error!r}") from None


def with_team_cards(cells: Iterable[tuple[DayCell, Scorecard]]) -> Iterator[tuple[DayCell, Scorecard]]:
    """Each agent's day cell, then the same card as a cell of its team's card: merged over
    agents and partitions, the team's cards."""
    for cell, card in cells:
        yield cell, card
        if not cell.key.is_team:
            yield DayCell(cell.partition, replace(cell.key, agent_id=TEAM_CARD)), card
