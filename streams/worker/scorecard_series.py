"""Per-agent scorecard series: the committed totals of the scorecard table, as Prometheus counters.

A custom collector, since agents come and go: each scrape reads the totals cells the
worker's commits wrote (streams/worker/scorecard_cells.py), adds up each agent's cells
over the partitions it owns, and yields counters, histograms and summaries labelled
``team``, ``agent_id`` and ``partitions`` (the input partitions the worker owns, e.g.
``"0,2"``). The partitions label changes with a rebalance: a counter then starts as a new
series, so a partition's totals moving to another worker never read as a reset (which
``increase()`` would count again whole). Sum over ``partitions`` (and pods) in queries.

At most ``max_agents`` agents are exported per worker, the first by (team, agent id);
the others are added up in agent ``other`` of their team, or of team ``other`` when no
agent of their team is exported. Series per worker (docs/coaching.md, Series count):
``SERIES_PER_AGENT x (exported agents + folded groups) + 2``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from streams.coaching.scorecards import Scorecard, card_at
from streams.worker.scorecard_cells import ScorecardCells

FOLDED = "other"
LABELS = ("team", "agent_id", "partitions")
SCORE_BUCKETS = (40, 50, 60, 70, 80, 90)
MONOLOGUE_BUCKETS_SECONDS = (15, 30, 60, 120, 300)
# 5 counters, 2 histograms (buckets + +Inf + _sum + _count), 2 summaries (_sum + _count)
SERIES_PER_AGENT = 5 + (len(SCORE_BUCKETS) + 3) + (len(MONOLOGUE_BUCKETS_SECONDS) + 3) + 2 * 2
WORKER_SERIES = 2  # callfocus_scorecard_agents{state}


class ScorecardCollector(Collector):
    """Yields the per-agent series of the totals ``cells`` committed."""

    def __init__(self, cells: ScorecardCells, max_agents: int) -> None:
        self.cells = cells
        self.max_agents = max_agents

    def describe(self) -> Iterator[Metric]:
        return iter(())  # agents come and go: nothing to describe ahead

    def cards(self) -> tuple[dict[tuple[str, str], Scorecard], int, int]:
        """Each exported (team, agent)'s totals over the partitions, folded past the cap;
        and how many agents were exported and folded."""
        by_agent: dict[tuple[str, str], Scorecard] = {}
        for where, card in self.cells.committed():
            card_at(by_agent, (where.team, where.agent_id)).merge(card)
        exported = sorted(by_agent)[: self.max_agents]
        teams = {team for team, _ in exported}
        cards = {agent: by_agent.pop(agent) for agent in exported}
        for (team, _), card in by_agent.items():  # the folded ones
            group = (team, FOLDED) if team in teams else (FOLDED, FOLDED)
            card_at(cards, group).merge(card)
        return cards, len(exported), len(by_agent)

    def collect(self) -> Iterator[Metric]:
        cards, exported, folded = self.cards()
        partitions = ",".join(str(p) for p in sorted(self.cells.partitions))
        families = _Families()
        for (team, agent), card in sorted(cards.items()):
            families.add([team, agent, partitions], card)
        yield from families.all()
        agents = GaugeMetricFamily(
            "callfocus_scorecard_agents",
            "Agents with scorecard totals in this worker: exported with series of their own, or folded "
            "into agent `other` past CALLFOCUS_SCORECARD_MAX_EXPORTED_AGENTS.",
            labels=["state"],
        )
        agents.add_metric(["exported"], exported)
        agents.add_metric(["folded"], folded)
        yield agents


class _Families:
    """The per-agent metric families of one scrape."""

    def __init__(self) -> None:
        def counter(name: str, doc: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=LABELS)

        self.calls = counter("callfocus_agent_calls", "Ended calls of the agent (scorecard table).")
        self.talk = counter("callfocus_agent_talk_seconds", "Media time of the agent's ended calls.")
        self.open_questions = counter(
            "callfocus_agent_open_questions", "Open questions the agent asked in ended calls."
        )
        self.nudges = counter("callfocus_agent_nudges", "Nudges raised in the agent's ended calls.")
        self.tracker_hits = counter(
            "callfocus_agent_tracker_hits", "Tracker hits in the agent's ended calls."
        )
        self.score = HistogramMetricFamily(
            "callfocus_agent_call_customer_focus_score",
            "Customer-focus score (0-100) of the agent's ended calls that have one.",
            labels=LABELS,
        )
        self.monologue = HistogramMetricFamily(
            "callfocus_agent_call_longest_monologue_seconds",
            "Longest agent monologue of each ended call, rounded up to the second.",
            labels=LABELS,
        )
        self.talk_ratio = SummaryMetricFamily(
            "callfocus_agent_call_agent_talk_ratio",
            "Agent talk ratio (0-1) of the agent's ended calls that have one: _sum / _count is the mean.",
            labels=LABELS,
        )
        self.questions = SummaryMetricFamily(
            "callfocus_agent_call_questions",
            "Questions the agent asked, over the ended calls measured: _sum / _count per call.",
            labels=LABELS,
        )

    def add(self, labels: list[str], card: Scorecard) -> None:
        self.calls.add_metric(labels, card.calls)
        self.talk.add_metric(labels, card.talk_seconds)
        self.open_questions.add_metric(labels, card.open_questions)
        self.nudges.add_metric(labels, card.nudges)
        self.tracker_hits.add_metric(labels, card.tracker_hits)
        self.score.add_metric(labels, _buckets(card.score_bins, SCORE_BUCKETS), card.score_sum)
        monologue_sum = float(sum(value * count for value, count in card.monologue_bins.items()))
        self.monologue.add_metric(
            labels, _buckets(card.monologue_bins, MONOLOGUE_BUCKETS_SECONDS), monologue_sum
        )
        self.talk_ratio.add_metric(labels, card.talk_ratio_calls, card.talk_ratio_sum)
        self.questions.add_metric(labels, card.question_calls, card.questions)

    def all(self) -> list[Metric]:
        return [
            self.calls,
            self.talk,
            self.open_questions,
            self.nudges,
            self.tracker_hits,
            self.score,
            self.monologue,
            self.talk_ratio,
            self.questions,
        ]


def _buckets(bins: dict[int, int], bounds: tuple[int, ...]) -> list[tuple[str, float]]:
    """Cumulative counts at each upper bound, then +Inf (every value)."""
    counts = []
    for bound in bounds:
        counts.append((str(float(bound)), float(sum(n for value, n in bins.items() if value <= bound))))
    counts.append(("+Inf", float(sum(bins.values()))))
    return counts
