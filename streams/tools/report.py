"""``callfocus report``: the call summaries of a window read from Kafka, as scorecards.

What is pure (the command line's times, which summaries a report keeps, the cards they make)
is apart from the one function that reads Kafka, :func:`read_summaries`: it reads
``<prefix>.call-summaries`` as a read_committed consumer (no summary of an aborted
transaction), from each partition's first offset at or after ``since`` to the end offsets
taken when it starts, so a report is bounded while the worker keeps writing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from streams.coaching.report import ReadCounts
from streams.coaching.scorecards import Scorecard, ScorecardKey, build_scorecards, roll_up

if TYPE_CHECKING:
    from streams.settings import Settings

SUMMARY_RECORD = "CallSummary"


@dataclass(frozen=True)
class Selection:
    """Which summaries a report keeps: calls that started in [since, until) (by their
    start, by their end when the start is unknown, as scorecards count them), of the teams
    and agents asked (none asked: all)."""

    since_ms: int
    until_ms: int
    teams: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()

    def verdict(self, summary: Mapping[str, Any]) -> str:
        """ "kept", "outside_window" or "other_teams_or_agents"."""
        at = summary.get("started_at")
        if at is None:
            at = summary["ended_at"]
        if not self.since_ms <= at < self.until_ms:
            return "outside_window"
        if self.teams and summary["team"] not in self.teams:
            return "other_teams_or_agents"
        if self.agents and summary["agent_id"] not in self.agents:
            return "other_teams_or_agents"
        return "kept"


@dataclass
class Tally:
    """Counts as records come; :meth:`counts` freezes them."""

    records: int = 0
    other_records: int = 0
    undecodable: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)

    def counts(self) -> ReadCounts:
        return ReadCounts(
            records=self.records,
            kept=self.verdicts["kept"],
            undecodable=dict(self.undecodable),
            other_records=self.other_records,
            outside_window=self.verdicts["outside_window"],
            other_teams_or_agents=self.verdicts["other_teams_or_agents"],
        )


def select(
    values: Iterable[bytes | None],
    selection: Selection,
    decode: Callable[[bytes | None], tuple[str, dict]],
    tally: Tally,
) -> Iterator[dict[str, Any]]:
    """The summaries ``selection`` keeps of raw record values, one at a time (a report holds
    its cards, never the window's records); ``tally`` counts the rest: a value ``decode``
    refuses is counted by its reason, never raised."""
    from streams.errors import InvalidEventError

    for value in values:
        tally.records += 1
        try:
            name, record = decode(value)
        except InvalidEventError as error:
            tally.undecodable[str(error.reason)] += 1
            continue
        if name != SUMMARY_RECORD:
            tally.other_records += 1
            continue
        verdict = selection.verdict(record)
        tally.verdicts[verdict] += 1
        if verdict == "kept":
            yield record


def report_cards(
    summaries: Iterable[Mapping[str, Any]], period: str, zone: tzinfo, agents: frozenset[str] = frozenset()
) -> dict[ScorecardKey, Scorecard]:
    """Cards per period. With agents asked, the summaries are those agents' calls, so their
    teams' cards would be the sum of the agents asked: those team cards are dropped rather
    than shown as a team's."""
    cards = roll_up(build_scorecards(summaries, zone), period)
    if agents:
        cards = {key: card for key, card in cards.items() if not key.is_team}
    return cards


def read_summaries(settings: Settings, since_ms: int, stall_seconds: float = 30.0) -> Iterator[bytes | None]:
    """Every record value of ``<prefix>.call-summaries`` from the first offset at or after
    ``since_ms`` (a record's timestamp: when the worker wrote the summary, at the call's end,
    so at or after its start) to the end offsets of the moment it starts, read committed
    (:mod:`streams.tools.topic_reads`)."""
    from streams.tools.topic_reads import bounded_records, committed_reader, offsets_at, topic_partitions

    consumer = committed_reader(settings, "callfocus-report")
    try:
        partitions = topic_partitions(consumer, settings.topic("call-summaries"))
        ends = consumer.end_offsets(partitions)  # read committed: the last stable offsets
        starts = offsets_at(consumer, partitions, since_ms, ends)
        for record in bounded_records(consumer, starts, ends, stall_seconds):
            yield record.value
    finally:
        consumer.close()
