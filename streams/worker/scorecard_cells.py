"""The scorecard cells one worker owns: call summaries added up per agent and team, exactly once.

No Kafka and no Faust here. When a call ends, the batch applier adds its summary to two
cells of the partition the call is in (streams/coaching/cells.py): the agent's day card
and the agent's totals (readers make the team's card from its agents'). The cells go through the same
:class:`~streams.worker.calls.UnwrittenStates` as the calls' states, so the commit that
writes the call's end marker writes its cells, in the same transaction as the input
offsets (streams/worker/commits.py): a summary is in the table once, or, if the
transaction is rolled back, not at all and added again when its events come again.

Prometheus' per-agent counters read only what was committed (:meth:`ScorecardCells.committed`),
so a worker that crashes never exports a total that the table then takes back: a counter
that went down would read as a reset, and ``increase()`` would count its whole value again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from streams.coaching.cells import (
    CellFormatError,
    TotalsCell,
    cell_value,
    day_key,
    is_cell,
    parse_cell,
    read_value,
    totals_key,
)
from streams.coaching.scorecards import Scorecard, call_day
from streams.worker.calls import ForgottenCall, TakenState, UnwrittenStates

log = logging.getLogger(__name__)


class ScorecardCell:
    """One cell in memory: its card and the last day a call was added to it."""

    __slots__ = ("call_id", "card", "last_day", "partition")

    def __init__(self, key: str, partition: int, card: Scorecard, last_day: date) -> None:
        # the table key, under the name UnwrittenStates keys everything a commit writes by
        self.call_id = key
        self.partition = partition
        self.card = card
        self.last_day = last_day

    def durable_data(self) -> dict[str, Any]:
        return cell_value(self.partition, self.card, self.last_day)


class ScorecardCells:
    """The cells of the partitions this worker owns, and the totals their commits wrote.

    ``load`` reads a cell's committed value from the table (a cell not in memory: its
    changes were forgotten with a batch dropped at a rebalance).
    """

    def __init__(
        self,
        unwritten: UnwrittenStates,
        zone: tzinfo,
        load: Callable[[str], bytes | None] | None = None,
        on_unreadable: Callable[[], None] | None = None,
    ) -> None:
        self.unwritten = unwritten
        self.zone = zone
        self.load = load
        self.on_unreadable = on_unreadable
        self.cells: dict[str, ScorecardCell] = {}
        # the input partitions this worker owns: the label of its per-agent series
        self.partitions: frozenset[int] = frozenset()
        # committed totals: the cell and its card as written (made a Scorecard at a scrape,
        # not at each of the many commits between two scrapes)
        self._committed: dict[str, tuple[TotalsCell, dict[str, Any]]] = {}

    def add(self, summary: Mapping[str, Any], partition: int, source: Any) -> list[str]:
        """Add an ended call's summary to its cells in ``partition``; the next commit writes
        them in the transaction of ``source``'s partition. Returns the cells' keys."""
        day = call_day(summary, self.zone)
        team, agent_id = summary["team"], summary["agent_id"]
        keys = [
            day_key(partition, day, team, agent_id, summary.get("definitions", "")),
            totals_key(partition, team, agent_id),
        ]
        for key in keys:
            cell = self._find(key, partition, day)
            self.unwritten.before_change(key)
            cell.card.add(summary)
            cell.last_day = max(cell.last_day, day)
            self.unwritten.changed(cell, source)
        return keys

    def _find(self, key: str, partition: int, day: date) -> ScorecardCell:
        cell = self.cells.get(key)
        if cell is None:
            raw = self.load(key) if self.load is not None else None
            cell = self._read(key, raw) if raw else None
            if cell is None:
                cell = ScorecardCell(key, partition, Scorecard(), day)
            self.cells[key] = cell
        return cell

    def _read(self, key: str, raw: bytes) -> ScorecardCell | None:
        """A cell from the table; None, counted and logged, if it cannot be read (it starts
        again: a worker that stops at every start over one cell is worse)."""
        try:
            where = parse_cell(key)
            card, last_day = read_value(raw)
        except CellFormatError as error:
            if self.on_unreadable is not None:
                self.on_unreadable()
            log.error("unreadable scorecard cell %r in the table (%s); it starts again", key[1:60], error)
            return None
        return ScorecardCell(key, where.partition, card, last_day)

    def forget(self, key: str) -> None:
        """Drop a cell's changes not yet written: its next change reads it from the table."""
        self.cells.pop(key, None)
        self.unwritten.discard(key)

    # -- partitions coming and going ---------------------------------------------------------

    def load_partitions(self, items: Iterable[tuple[bytes, bytes]], active: set[int]) -> int:
        """After a rebalance: the cells of ``active`` partitions from the table (committed, all
        of them); returns how many were loaded."""
        self.partitions = frozenset(active)
        loaded = 0
        for raw_key, raw in items:
            key = raw_key.decode()
            if not raw or key in self.cells:
                continue
            cell = self._read(key, raw)
            if cell is None or cell.partition not in active:
                continue
            self.cells[key] = cell
            self._remember_committed(key, cell.card.to_dict())
            loaded += 1
        return loaded

    def drop_partitions(self, partitions: set[int]) -> None:
        self.partitions = self.partitions - partitions
        for key in [k for k, cell in self.cells.items() if cell.partition in partitions]:
            del self.cells[key]
        for key in [k for k, (where, _) in self._committed.items() if where.partition in partitions]:
            del self._committed[key]

    # -- commits -----------------------------------------------------------------------------

    def committed_states(self, states: Iterable[TakenState]) -> None:
        """A commit wrote these states and committed: the totals among them are now what
        Prometheus may read."""
        for raw_key, data, _ in states:
            if not is_cell(raw_key):  # a call's state: most of what a commit writes
                continue
            key = raw_key.decode()
            if data is None:
                self._committed.pop(key, None)
            else:
                self._remember_committed(key, data["card"])

    def _remember_committed(self, key: str, card: dict[str, Any]) -> None:
        known = self._committed.get(key)
        where = known[0] if known is not None else parse_cell(key)
        if isinstance(where, TotalsCell):
            self._committed[key] = (where, card)

    def committed(self) -> list[tuple[TotalsCell, Scorecard]]:
        """The committed totals cells of the partitions owned."""
        return [(where, Scorecard.from_dict(card)) for where, card in self._committed.values()]

    # -- keeping days ------------------------------------------------------------------------

    def today(self, wall_clock_ms: int) -> date:
        return datetime.fromtimestamp(wall_clock_ms / 1000, tz=self.zone).date()

    def expire(self, wall_clock_ms: int, keep_days: int) -> list[tuple[ForgottenCall, int]]:
        """Cells whose last day is more than ``keep_days`` before today leave memory; returns
        their deletions and partitions, for the caller to hand to the next commit."""
        oldest = self.today(wall_clock_ms) - timedelta(days=keep_days)
        expired = [cell for cell in self.cells.values() if cell.last_day < oldest]
        for cell in expired:
            del self.cells[cell.call_id]
        return [(ForgottenCall(cell.call_id), cell.partition) for cell in expired]
