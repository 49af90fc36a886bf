"""The metric catalogue: every metric the engine computes, declared once.

Each :class:`MetricDefinition` says what a metric is (name, unit, description), where it
lives (every rolling window and the whole call, or the whole call only), how the live
calls of a team aggregate it, and which of its windows are exported per call. From it:

* the Avro snapshot and summary schemas (``schemas/CallMetrics.avsc``,
  ``schemas/CallSummary.avsc``) are generated (``callfocus schemas --write``) and a test
  checks the files match;
* the Prometheus export writes its per-call series and per-team aggregates;
* the console's metric table and the metrics table of docs/metrics.md are generated.

The computation stays in :mod:`streams.engine.call` (``WindowMetrics`` / ``CallMetrics``
carry one attribute per metric here; a test checks they agree). Adding a metric is its
definition here, its computation there and its golden test: docs/metrics.md, "Adding a
metric", says it step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    """Where a metric has a value: in every rolling window and the whole call, or once per call."""

    WINDOWS = "windows"
    CALL = "call"


class Unit(StrEnum):
    """The unit of a metric's value (Prometheus base units; ratios 0-1)."""

    RATIO = "ratio"  # 0-1
    SECONDS = "seconds"
    PER_MINUTE = "per_minute"
    WORDS_PER_MINUTE = "words_per_minute"
    COUNT = "count"
    SENTIMENT = "sentiment"  # -1..1
    SCORE = "score"  # 0-100


class TeamAggregate(StrEnum):
    """How a team's live calls combine into the team's series (``callfocus_team_*``)."""

    MEAN = "mean"  # mean over the team's live calls that have a value
    SUM = "sum"  # total over the team's live calls
    NONE = "none"  # no team series


class PerCall(StrEnum):
    """Which of a windowed metric's windows are exported per call (bounds the series per call)."""

    ALL = "all"  # every rolling window and the call
    SHORTEST_AND_CALL = "shortest+call"  # the shortest rolling window and the call
    CALL = "call"  # the whole call only
    NONE = "none"  # not per call (team aggregates and Kafka records only)


@dataclass(frozen=True, slots=True)
class MetricDefinition:
    name: str
    unit: Unit
    scope: Scope
    description: str
    team: TeamAggregate = TeamAggregate.MEAN
    per_call: PerCall = PerCall.CALL
    # None until the metric is defined for the call (nobody spoke, no question asked)
    nullable: bool = True
    # in the CallSummary of an ended call (its whole-call value)
    in_summary: bool = True
    # the Prometheus family if not callfocus_call_<name>, and the label telling its members apart
    prometheus_family: str | None = None
    prometheus_label: tuple[str, str] | None = None

    @property
    def integer(self) -> bool:
        return self.unit is Unit.COUNT

    @property
    def family(self) -> str:
        """The per-call Prometheus family."""
        return self.prometheus_family or f"callfocus_call_{self.name}"

    @property
    def team_family(self) -> str:
        """The per-team Prometheus family: ``callfocus_team_<name>`` (a mean or a sum of live calls)."""
        return f"callfocus_team_{self.name}"

    def windows_exported(self, window_labels: tuple[str, ...]) -> tuple[str, ...]:
        """The windows whose value is exported per call, of a call with ``window_labels``
        (the rolling windows shortest first, then ``call``)."""
        if self.per_call is PerCall.NONE:
            return ()
        if self.scope is Scope.CALL or self.per_call is PerCall.CALL:
            return ("call",)
        if self.per_call is PerCall.SHORTEST_AND_CALL:
            return (window_labels[0], "call") if len(window_labels) > 1 else ("call",)
        return window_labels

    def avro_field(self, doc_prefix: str = "") -> dict[str, Any]:
        kind = "int" if self.integer else "double"
        doc = f"{doc_prefix}{self.description} Unit: {UNIT_TEXT[self.unit]}."
        if self.nullable:
            return {"name": self.name, "type": ["null", kind], "default": None, "doc": doc}
        return {"name": self.name, "type": kind, "default": 0 if self.integer else 0.0, "doc": doc}


UNIT_TEXT = {
    Unit.RATIO: "ratio 0-1",
    Unit.SECONDS: "seconds",
    Unit.PER_MINUTE: "per minute",
    Unit.WORDS_PER_MINUTE: "words per minute",
    Unit.COUNT: "count",
    Unit.SENTIMENT: "-1 (negative) to 1 (positive)",
    Unit.SCORE: "0-100",
}

W, C = Scope.WINDOWS, Scope.CALL

# In record order: the snapshot's window records and top-level fields, and the summary,
# keep this order (new metrics go at the end, so existing readers see the same layout).
METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "customer_focus_score",
        Unit.SCORE,
        C,
        "Customer-focus score of the call so far: 100 x the weighted mean of the graded components.",
        prometheus_family="callfocus_call_customer_focus_score",
    ),
    MetricDefinition(
        "agent_talk_ratio",
        Unit.RATIO,
        W,
        "Agent share of speech time (agent / (agent + customer)).",
        per_call=PerCall.ALL,
    ),
    MetricDefinition(
        "monologue_current_seconds",
        Unit.SECONDS,
        C,
        "The agent's run in progress without a customer turn (0 when the customer has the turn).",
        nullable=False,
        in_summary=False,
        prometheus_family="callfocus_call_monologue_seconds",
        prometheus_label=("kind", "current"),
    ),
    MetricDefinition(
        "monologue_longest_seconds",
        Unit.SECONDS,
        C,
        "The call's longest agent run without a customer turn.",
        team=TeamAggregate.MEAN,
        nullable=False,
        prometheus_family="callfocus_call_monologue_seconds",
        prometheus_label=("kind", "longest"),
    ),
    MetricDefinition(
        "customer_story_longest_seconds",
        Unit.SECONDS,
        C,
        "The call's longest customer run without an agent turn (the customer telling their story).",
        nullable=False,
    ),
    MetricDefinition(
        "questions_per_minute",
        Unit.PER_MINUTE,
        W,
        "Agent questions per minute of the window (of the call, if shorter).",
        per_call=PerCall.ALL,
    ),
    MetricDefinition(
        "open_question_ratio", Unit.RATIO, W, "Open questions / all agent questions (discovery depth)."
    ),
    MetricDefinition(
        "you_focus_ratio",
        Unit.RATIO,
        W,
        "Customer references / (customer + self references) in agent speech.",
        per_call=PerCall.ALL,
    ),
    MetricDefinition(
        "pitch_ratio",
        Unit.RATIO,
        W,
        "Pitch phrases / (pitch + situation phrases) in agent speech: pitching before discovery.",
    ),
    MetricDefinition(
        "reflection_ratio",
        Unit.RATIO,
        W,
        "Agent turns after a customer turn that reuse the customer's content words / all such turns.",
    ),
    MetricDefinition(
        "interruptions",
        Unit.COUNT,
        W,
        "Agent turns started while the customer was speaking (overlapping it by more than 300 ms).",
        team=TeamAggregate.SUM,
        nullable=False,
    ),
    MetricDefinition(
        "response_gap_seconds",
        Unit.SECONDS,
        W,
        "Median time from the end of a customer turn to the agent's reply (0 when the agent overlapped).",
    ),
    MetricDefinition(
        "customer_sentiment",
        Unit.SENTIMENT,
        W,
        "Word-weighted lexicon sentiment of the customer's speech.",
        per_call=PerCall.ALL,
    ),
    MetricDefinition(
        "dead_air_silences",
        Unit.COUNT,
        W,
        "Silences of both parties of at least dead_air_seconds (5 s) that ended in the window.",
        team=TeamAggregate.SUM,
        per_call=PerCall.NONE,
        nullable=False,
    ),
    MetricDefinition(
        "dead_air_longest_seconds",
        Unit.SECONDS,
        W,
        "The longest of those silences (0 when none).",
        nullable=False,
    ),
    MetricDefinition(
        "dead_air_ratio",
        Unit.RATIO,
        W,
        "Share of the window's media time inside those silences.",
        per_call=PerCall.SHORTEST_AND_CALL,
    ),
    MetricDefinition(
        "overtalk_ratio",
        Unit.RATIO,
        W,
        "Share of the window's media time in which agent and customer speak at once (backchannels excluded).",
        per_call=PerCall.SHORTEST_AND_CALL,
    ),
    MetricDefinition(
        "agent_words_per_minute",
        Unit.WORDS_PER_MINUTE,
        W,
        "Agent speech rate: agent words / minutes of agent speech (null under 10 s of agent speech).",
        per_call=PerCall.SHORTEST_AND_CALL,
    ),
    MetricDefinition(
        "speaker_switches_per_minute",
        Unit.PER_MINUTE,
        W,
        "Interactivity: changes of turn between agent and customer per minute of the window.",
    ),
    MetricDefinition(
        "holds",
        Unit.COUNT,
        C,
        "Holds of the call, from HoldStarted events.",
        team=TeamAggregate.SUM,
        per_call=PerCall.NONE,
        nullable=False,
    ),
    MetricDefinition(
        "hold_seconds",
        Unit.SECONDS,
        C,
        "Time on hold, from HoldStarted / HoldEnded events (an open hold counts up to the call's now).",
        nullable=False,
    ),
    MetricDefinition(
        "probable_holds",
        Unit.COUNT,
        C,
        "Silences of at least probable_hold_seconds (30 s) not covered by a hold event: probably an "
        "unannounced hold.",
        team=TeamAggregate.SUM,
        per_call=PerCall.NONE,
        nullable=False,
    ),
    MetricDefinition(
        "objections",
        Unit.COUNT,
        C,
        "Customer turns with an objection (price, timing, competitor, not interested).",
        team=TeamAggregate.SUM,
        nullable=False,
    ),
    MetricDefinition(
        "objection_question_ratio",
        Unit.RATIO,
        C,
        "Agent replies to an objection that ask a question / replies to an objection.",
    ),
    MetricDefinition(
        "objection_pitch_ratio",
        Unit.RATIO,
        C,
        "Agent replies to an objection that pitch without asking / replies to an objection.",
        per_call=PerCall.NONE,
    ),
    MetricDefinition(
        "objection_wait_seconds",
        Unit.SECONDS,
        C,
        "Mean time the agent let the customer finish an objection before replying (negative: "
        "the agent cut in).",
        per_call=PerCall.NONE,
    ),
)

BY_NAME = {metric.name: metric for metric in METRICS}
WINDOW_METRICS = tuple(m for m in METRICS if m.scope is W)
CALL_METRICS = tuple(m for m in METRICS if m.scope is C)

# Per-call series a worker exports for one call, at most (tests check the catalogue stays
# within it): with 5,000 calls per worker that is 160,000 series.
PER_CALL_SERIES_BUDGET = 32


def per_call_series(window_labels: tuple[str, ...]) -> int:
    """How many series one call exports at most, with rolling windows ``window_labels``."""
    return sum(len(m.windows_exported(window_labels)) for m in METRICS)


def team_series_per_team() -> int:
    """Per-team aggregate series of one team (``callfocus_team_*``, whole-call values)."""
    return sum(1 for m in METRICS if m.team is not TeamAggregate.NONE)
