"""The scorecard table as the console holds it: the latest card of each day cell. Pure.

The worker adds each call to cells of its ``scorecards`` table in the transaction that
commits the call's end (streams/coaching/cells.py); the table's changelog,
``<app_id>-scorecards-changelog``, is compacted. The console reads it whole, from the
beginning and ``read_committed``, as it reads the nudge acknowledgements: what it holds is
what the workers committed, each call on its cards exactly once, whatever restarts,
rebalances or aborted transactions happened.

:class:`ScorecardTable` keeps the latest value of each day cell (a tombstone deletes it);
totals cells (Prometheus' counters) and the table's other keys are not held. A card over
the cluster is the merge of its cells over the partitions (:func:`merge_cells`), and
:func:`select_table_cards` answers ``GET /api/scorecards?source=table`` and
``/api/report?source=table`` with them: the same figures, renderers and roll-up as the
cards of the summaries (streams.console.scorecards), at the granularity of a day in the
table's time zone.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.coaching.cells import DayCell, is_cell, parse_cell, read_value, with_team_cards
from streams.coaching.report import ReadCounts
from streams.coaching.scorecards import Scorecard, ScorecardKey, card_at, roll_up
from streams.console.newest import put_newest
from streams.console.scorecards import ScorecardQuery, scorecards_document

DEFAULT_MAX_CELLS = 200_000
NO_KEY = "cell_without_key"
UNREADABLE_KEY = "unreadable_cell_key"
UNREADABLE_VALUE = "unreadable_cell_value"


class ScorecardTable:
    """The latest card of each day cell read, at most ``max_cells`` (the least recently
    written go first: the cells of the oldest days, which no call adds to any more).

    Records are applied in the changelog's order, which per key is the order the worker
    wrote them (one key, one partition), so every console ends up holding the same cards.
    A record it cannot read is counted by its reason and skipped; the cell it names, if
    held, is dropped with it, since what is held is no longer the latest value.
    """

    def __init__(self, max_cells: int = DEFAULT_MAX_CELLS) -> None:
        self.max_cells = max_cells
        self._cells: OrderedDict[DayCell, Scorecard] = OrderedDict()
        self.records = 0  # every record applied, for a test or a probe waiting on the reader
        self.unreadable: Counter[str] = Counter()
        self.evicted = 0
        self.reading = False  # the reader has the changelog's partitions (the topic exists)

    def __len__(self) -> int:
        return len(self._cells)

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """One changelog record (``value`` None: a tombstone); the reason it was skipped,
        or None when it was applied or is not a day cell."""
        self.records += 1
        if key is None:
            return self._skip(NO_KEY)
        if not is_cell(key):
            return None
        try:
            cell = parse_cell(key)
        except ValueError:  # CellFormatError, and a key that is not UTF-8
            return self._skip(UNREADABLE_KEY)
        if not isinstance(cell, DayCell) or cell.key.is_team:
            return None  # team cards are made from the agents' (with_team_cards)
        if value is None:
            self._cells.pop(cell, None)
            return None
        try:
            card, _ = read_value(value)
            Scorecard().merge(card)  # a field of the wrong type fails here, not in a request
        except Exception:  # a value this version cannot read must not stop the console
            self._cells.pop(cell, None)
            return self._skip(UNREADABLE_VALUE)
        self.evicted += put_newest(self._cells, cell, card, self.max_cells)
        return None

    def _skip(self, reason: str) -> str:
        self.unreadable[reason] += 1
        return reason

    def cells(self) -> list[tuple[DayCell, Scorecard]]:
        """A copy of what is held (agents' cells: the worker writes no team cell); its cards
        are replaced, never changed, so the copy can be read off the event loop while the
        reader goes on."""
        return list(self._cells.items())

    def cards(self) -> dict[ScorecardKey, Scorecard]:
        """Every card held, merged over the partitions, and the teams' cards made of them."""
        return merge_cells(with_team_cards(self.cells()))

    def status(self) -> dict[str, Any]:
        """What ``GET /api/scorecards?source=table`` says of the table itself."""
        return {
            "reading": self.reading,
            "cells": len(self._cells),
            "max_cells": self.max_cells,
            "evicted": self.evicted,
            "unreadable": dict(sorted(self.unreadable.items())),
        }

    def clear(self) -> None:
        """Forget every cell (the reader stopped; a restart reads the changelog again)."""
        self._cells.clear()
        self.records = 0
        self.unreadable.clear()
        self.evicted = 0
        self.reading = False


def merge_cells(cells: Iterable[tuple[DayCell, Scorecard]]) -> dict[ScorecardKey, Scorecard]:
    """One card per key: the merge of its cells of every partition (new cards; the cells'
    are left as they are)."""
    merged: dict[ScorecardKey, Scorecard] = {}
    for cell, card in cells:
        card_at(merged, cell.key).merge(card)
    return merged


def window_days(query: ScorecardQuery) -> tuple[date, date]:
    """The first and last day, in the query's zone, that [since, until) touches: a day is
    the table's smallest unit, so a day the window only begins or ends in counts whole."""
    zone = ZoneInfo(query.timezone)
    first = query.since.astimezone(zone).date()
    last = (query.until - timedelta(microseconds=1)).astimezone(zone).date()
    return first, last


def select_table_cards(
    cells: Iterable[tuple[DayCell, Scorecard]], query: ScorecardQuery, sees: Callable[[str], bool]
) -> tuple[dict[ScorecardKey, Scorecard], ReadCounts]:
    """The cards of the days, team and agent ``query`` asks of teams ``sees`` allows, merged
    over the partitions and rolled up to its period; the counts are calls (each on one team
    card): those held of the teams seen (``records``), ``kept``, ``outside_window`` and
    ``other_teams_or_agents``. A team the principal does not see is neither read nor counted.

    With an agent asked, the team cards are left out, as for the summaries' cards."""
    first, last = window_days(query)
    kept: list[tuple[DayCell, Scorecard]] = []
    held = outside = other = asked_team_calls = kept_agent_calls = 0
    for cell, card in with_team_cards(cells):
        key = cell.key
        if not sees(key.team):
            continue
        in_window = first <= key.day <= last
        team_asked = query.team is None or key.team == query.team
        if key.is_team:
            held += card.calls
            if not in_window:
                outside += card.calls
            elif not team_asked:
                other += card.calls
            else:
                asked_team_calls += card.calls
        if not (in_window and team_asked):
            continue
        if query.agent is None:
            kept.append((cell, card))
        elif key.agent_id == query.agent:
            kept.append((cell, card))
            kept_agent_calls += card.calls
    kept_calls = asked_team_calls if query.agent is None else kept_agent_calls
    counts = ReadCounts(
        records=held,
        kept=kept_calls,
        outside_window=outside,
        other_teams_or_agents=other + asked_team_calls - kept_calls,
    )
    return roll_up(merge_cells(kept), query.period), counts


def table_document(
    cards: Mapping[ScorecardKey, Scorecard],
    query: ScorecardQuery,
    counts: ReadCounts,
    history_days: float,
    table: ScorecardTable,
) -> dict[str, Any]:
    """The JSON of ``GET /api/scorecards?source=table``: that of the summaries' cards, with
    ``calls`` (held, kept) in place of ``summaries`` and what the table holds."""
    document = scorecards_document(cards, query, counts, history_days)
    del document["summaries"]
    document["source"] = "table"
    document["calls"] = {"held": counts.records, "kept": counts.kept}
    document["table"] = table.status()
    return document
