"""Prometheus export: pipeline aggregates and per-call series read at scrape time.

Naming follows the Prometheus guide: base units (seconds), ratios 0-1, ``_total``
counters, every labelled counter pre-created at 0 so ``rate()`` sees its first step.
Per-call series come from a custom collector over the live calls, so a call's series
disappear with the call (after the grace period) or when its partition moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams import native
from streams.engine.nudges import NUDGE_TYPES
from streams.errors import InvalidReason
from streams.wire.events import Speaker
from streams.worker.export_labels import LabelFolder, LabelLimits
from streams.worker.output_kinds import OutputKind
from streams.worker.tallies import BucketHistogram, LabelledCount

if TYPE_CHECKING:
    from streams.engine import CallMetrics
    from streams.worker.calls import LiveCall, LiveCalls

# `_created` series double the aggregate series count and nothing here queries them.
disable_created_metrics()

# every dead-letter reason, in the enum's order: its counter's labels are pre-created
INVALID_REASONS = tuple(reason.value for reason in InvalidReason)
# finer around the 250 ms p99 target of issue 4
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0)
IGNORED_REASONS = ("interim", "duplicate", "stale_revision")
# Per-call metrics exported for every window (60s, 180s, call); ratios are 0-1.
WINDOWED_SERIES = {
    "agent_talk_ratio": "Agent share of speech time (0-1) in the window; absent while nobody spoke.",
    "questions_per_minute": "Agent questions per minute in the window (or the call, if shorter).",
    "you_focus_ratio": "Customer references / (customer + self references) in agent speech, 0-1.",
    "customer_sentiment": "Word-weighted customer sentiment in the window, -1..1.",
}


class PipelineMetrics:
    """Aggregate series without call_id, registered on one registry (fresh per test)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        label_limits: LabelLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.label_limits = limits = label_limits if label_limits is not None else LabelLimits()
        self.teams = LabelFolder(limits.max_teams, limits.teams, clock)
        self.queues = LabelFolder(limits.max_queues, limits.queues, clock)
        # the two the per-segment path updates: compiled tallies (streams/worker/tallies.py)
        self.segments_processed = LabelledCount(tuple(speaker.value for speaker in Speaker))
        self.processing_latency = BucketHistogram(LATENCY_BUCKETS)
        registry.register(TallyCollector(self.segments_processed, self.processing_latency))
        self.segments_ignored = Counter(
            "callfocus_segments_ignored",
            "Valid segments that changed nothing: interim results, duplicates, stale revisions.",
            ["reason"],
            registry=registry,
        )
        self.invalid_events = Counter(
            "callfocus_invalid_events",
            "Input events sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.outputs_produced = Counter(
            "callfocus_outputs_produced",
            f"Records written by the worker, by output ({', '.join(OutputKind)}).",
            ["output"],
            registry=registry,
        )
        self.output_errors = Counter(
            "callfocus_output_errors",
            "Records that could not be written to an output topic, by output.",
            ["output"],
            registry=registry,
        )
        self.calls_ended = Counter(
            "callfocus_calls_ended",
            "Calls ended, by how: a CallEnded event, or idle for idle_timeout (timeout).",
            ["reason"],
            registry=registry,
        )
        self.ended_call_score = Histogram(
            "callfocus_ended_call_customer_focus_score",
            "Customer-focus score (0-100) of calls at their end, by team.",
            ["team"],
            buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
            registry=registry,
        )
        self.nudges = Counter(
            "callfocus_nudges",
            "Nudges raised for supervisors, by type and team.",
            ["type", "team"],
            registry=registry,
        )
        self.nudge_webhook_failures = Counter(
            "callfocus_nudge_webhook_failures",
            "Nudges the webhook did not accept after every retry (or dropped: queue full).",
            registry=registry,
        )
        self.rebalances = Counter(
            "callfocus_rebalances", "Consumer group rebalances this worker took part in.", registry=registry
        )
        self.dead_letters_truncated = Counter(
            "callfocus_dead_letters_truncated",
            "Dead letters whose original record was too large to copy whole: cut to the record "
            "limit, with headers original.size and original.sha256.",
            registry=registry,
        )
        self.unreadable_states = Counter(
            "callfocus_unreadable_states",
            "Call states in the call-state table that could not be read; each such call starts "
            "again from its next event.",
            registry=registry,
        )
        self.commit_duration = Histogram(
            "callfocus_commit_duration_seconds",
            "Commits: the state writes of the calls changed since the last one, the offsets and, "
            "under exactly-once, the transactions. Fetched batches go on meanwhile; their "
            "outputs follow the commit.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.input_batches = Counter(
            "callfocus_input_batches",
            "Fetched batches of the input topic: processed, or dropped unacknowledged because a "
            "rebalance came between their fetch and their turn (they are fetched again).",
            ["outcome"],
            registry=registry,
        )
        self.engine_info = Gauge(
            "callfocus_engine_info",
            "Always 1; build says whether the metric engine runs compiled (mypyc) or from its "
            "sources (about half the throughput, docs/pipeline.md).",
            ["build"],
            registry=registry,
        )
        self.engine_info.labels(native.loaded_state()).set(1)
        self.batches_during_commit = Counter(
            "callfocus_batches_during_commit",
            "Fetched batches applied while a commit was under way; their outputs and "
            "acknowledgements followed it, in the next transaction (docs/pipeline.md).",
            registry=registry,
        )
        self.labels_folded = Counter(
            "callfocus_label_values_folded",
            "Calls whose team or queue is exported as 'other': beyond the cap of distinct "
            "values (max_exported_teams / max_exported_queues) or not in the allow-list.",
            ["label"],
            registry=registry,
        )
        self.label_values = Gauge(
            "callfocus_label_values_exported",
            "Distinct team or queue values exported as themselves now (at most the cap).",
            ["label"],
            registry=registry,
        )
        self._folded_by_label = {label: self.labels_folded.labels(label) for label in ("team", "queue")}
        self.label_values.labels("team").set_function(lambda: len(self.teams))
        self.label_values.labels("queue").set_function(lambda: len(self.queues))
        # teams whose labelled series exist (kept teams and OTHER)
        self._teams: set[str] = set()
        for outcome in ("processed", "dropped"):
            self.input_batches.labels(outcome)
        for reason in IGNORED_REASONS:
            self.segments_ignored.labels(reason)
        for reason in INVALID_REASONS:
            self.invalid_events.labels(reason)
        # looked up once: labels() costs microseconds a call, paid per output record
        # keyed by str: an OutputKind is one, and a kind's value finds its counter too
        self.produced_by_output: dict[str, Counter] = {
            kind: self.outputs_produced.labels(kind) for kind in OutputKind
        }
        for kind in OutputKind:
            self.output_errors.labels(kind)
        for reason in ("event", "timeout"):
            self.calls_ended.labels(reason)

    def export_labels(self, team: str, queue: str) -> tuple[str, str]:
        """The team and queue a call is exported with (folded: streams/worker/export_labels.py);
        called once per call when its labels are set, never per segment."""
        exported_team, folded = self.teams.fold(team)
        if folded:
            self._folded_by_label["team"].inc()
        exported_queue, folded = self.queues.fold(queue)
        if folded:
            self._folded_by_label["queue"].inc()
        self.team_seen(exported_team)
        return exported_team, exported_queue

    def team_seen(self, team: str) -> None:
        """Pre-create the team's labelled series at 0, so rate() sees the team's first nudge."""
        if team in self._teams:
            return
        self._teams.add(team)
        for nudge_type in NUDGE_TYPES:
            self.nudges.labels(nudge_type, team)
        self.ended_call_score.labels(team)

    def expire_labels(self, calls: Iterable[LiveCall]) -> list[str]:
        """Free the team and queue values no call in memory has carried for the grace
        period, and remove those teams' series; returns the teams removed.

        The series of a team that comes back start again from 0: a counter reset, which
        rate() and increase() take in their stride."""
        teams: set[str] = set()
        queues: set[str] = set()
        for call in calls:
            team, queue = exported_labels(call)
            teams.add(team)
            queues.add(queue)
        grace = self.label_limits.grace_seconds
        self.queues.expire(queues, grace)
        gone = self.teams.expire(teams, grace)
        for team in gone:
            if team in self._teams:
                self._teams.discard(team)
                for nudge_type in NUDGE_TYPES:
                    self.nudges.remove(nudge_type, team)
                self.ended_call_score.remove(team)
        return gone


def exported_labels(call: LiveCall) -> tuple[str, str]:
    """The team and queue a call's series carry (its labels as set, if never folded)."""
    exported = call.exported_labels
    return exported if exported is not None else (call.labels.team, call.labels.queue)


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family_header(name: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"


_SCORE = "callfocus_call_customer_focus_score"
_MONOLOGUE = "callfocus_call_monologue_seconds"
# (name, header) of every per-call family, in exposition order
_CALL_FAMILIES = (
    (
        _SCORE,
        _family_header(_SCORE, "Customer-focus score of the call so far, 0-100 (absent while nobody spoke)."),
    ),
    (
        _MONOLOGUE,
        _family_header(
            _MONOLOGUE,
            "Agent monologue: the ongoing run (kind=current) and the call's longest (kind=longest).",
        ),
    ),
    *(
        (f"callfocus_call_{name}", _family_header(f"callfocus_call_{name}", text))
        for name, text in WINDOWED_SERIES.items()
    ),
)


class LiveCallCollector(Collector):
    """Series of the calls this worker owns, read at scrape time.

    ``collect`` yields the per-team aggregates through prometheus_client. The per-call
    series (score, talk ratio / questions per minute / you-focus / sentiment per window,
    monologue current and longest) are written as exposition text by :meth:`render_calls`:
    prometheus_client's generic path costs about 15 us per sample (219 ms for 1,000
    calls, 1.4 s for 5,000 on the benchmark machine), and a call whose metrics did not
    change since the last scrape reuses its text.
    """

    def __init__(self, calls: LiveCalls, max_exported_calls: int, per_call_series: bool = True) -> None:
        self.calls = calls
        self.max_exported_calls = max_exported_calls
        self.per_call_series = per_call_series
        # call_id -> (the CallMetrics object and exported labels rendered, lines per family)
        self._rendered: dict[str, tuple[CallMetrics, tuple[str, str] | None, tuple[str, ...]]] = {}

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def _exported(self) -> list[LiveCall]:
        calls = list(self.calls)
        return calls[: self.max_exported_calls if self.per_call_series else 0]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        active = GaugeMetricFamily(
            "callfocus_calls_active", "Calls this worker owns that have not ended, by team.", labels=["team"]
        )
        per_team: dict[str, int] = {}
        owned = 0
        for call in self.calls:
            owned += 1
            if call.ended_monotonic is None:
                team = exported_labels(call)[0]
                per_team[team] = per_team.get(team, 0) + 1
        for team, count in sorted(per_team.items()):
            active.add_metric([team], count)
        yield active
        unexported = GaugeMetricFamily(
            "callfocus_calls_unexported",
            "Calls owned by this worker whose per-call series are not exported (cap or switch).",
        )
        unexported.add_metric([], owned - len(self._exported()))
        yield unexported

    def render_calls(self, families: Collection[str] | None = None) -> str:
        """Exposition text of every exported call's series (families in a fixed order), of
        the ``families`` named only if given."""
        wanted = [i for i, (name, _) in enumerate(_CALL_FAMILIES) if families is None or name in families]
        if not wanted:
            return ""
        rendered: dict[str, tuple[CallMetrics, tuple[str, str] | None, tuple[str, ...]]] = {}
        previous = self._rendered
        for call in self._exported():
            metrics = call.state.metrics()
            cached = previous.get(call.call_id)
            if cached is None or cached[0] is not metrics or cached[1] is not call.exported_labels:
                cached = (metrics, call.exported_labels, _call_lines(call, metrics))
            rendered[call.call_id] = cached
        self._rendered = rendered
        parts: list[str] = []
        for index in wanted:
            parts.append(_CALL_FAMILIES[index][1])
            parts.extend(lines[index] for _, _, lines in rendered.values())
        return "".join(parts)


def exposition(
    registry: CollectorRegistry, calls: LiveCallCollector, names: Collection[str] | None = None
) -> bytes:
    """What /metrics serves: every series, or with ``names`` (``?name[]=...``, as in
    prometheus_client's own handler) only the series of those sample names. A poll of one
    counter then costs no per-call series (2,000 calls: tens of milliseconds each time)."""
    served = registry if names is None else registry.restricted_registry(names)
    return generate_latest(served) + calls.render_calls(names).encode()


def _call_lines(call: LiveCall, metrics: CallMetrics) -> tuple[str, ...]:
    """One call's sample lines, per family of ``_CALL_FAMILIES``."""
    agent_id = call.labels.agent_id
    team, queue = exported_labels(call)
    labels = (
        f'call_id="{_label_value(call.call_id)}",agent_id="{_label_value(agent_id)}",'
        f'team="{_label_value(team)}",queue="{_label_value(queue)}"'
    )
    score = metrics.customer_focus_score
    lines = [
        f"{_SCORE}{{{labels}}} {float(score)!r}\n" if score is not None else "",
        f'{_MONOLOGUE}{{{labels},kind="current"}} {float(metrics.monologue_current_seconds)!r}\n'
        f'{_MONOLOGUE}{{{labels},kind="longest"}} {float(metrics.monologue_longest_seconds)!r}\n',
    ]
    for name in WINDOWED_SERIES:
        family = f"callfocus_call_{name}"
        text = ""
        for window in metrics.windows:
            value = getattr(window, name)
            if value is not None:
                text += f'{family}{{{labels},window="{window.window}"}} {float(value)!r}\n'
        lines.append(text)
    return tuple(lines)


class TallyCollector(Collector):
    """The per-segment tallies as a counter and a histogram, read at scrape time."""

    SEGMENTS = "callfocus_segments_processed"
    LATENCY = "callfocus_processing_latency_seconds"

    def __init__(self, segments: LabelledCount, latency: BucketHistogram) -> None:
        self.segments = segments
        self.latency = latency

    def describe(self) -> Iterable[CounterMetricFamily | HistogramMetricFamily]:
        # the names let a ?name[]= scrape (restricted_registry) find these families
        return [self._segments_family(), HistogramMetricFamily(self.LATENCY, "")]

    def _segments_family(self) -> CounterMetricFamily:
        help_text = "Final transcript segments applied to call metrics, by speaker."
        return CounterMetricFamily(self.SEGMENTS, help_text, labels=["speaker"])

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        segments = self._segments_family()
        for value, count in zip(self.segments.values, self.segments.counts, strict=True):
            segments.add_metric([value], count)
        yield segments
        bounds = [*(repr(float(b)) for b in self.latency.upper_bounds), "+Inf"]
        yield HistogramMetricFamily(
            self.LATENCY,
            "Wall time from a segment's produced_at to its metrics being updated.",
            buckets=list(zip(bounds, self.latency.cumulative(), strict=True)),
            sum_value=self.latency.total,
        )


class ConsumerLagCollector(Collector):
    """Input records not yet processed, per assigned partition, read at scrape time."""

    def __init__(self, lag: Callable[[], Mapping[tuple[str, int], int]]) -> None:
        self.lag = lag

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "callfocus_consumer_lag_records",
            "Input records after the last one this worker processed, per assigned partition.",
            labels=["topic", "partition"],
        )
        for (topic, partition), records in sorted(self.lag().items()):
            family.add_metric([topic, str(partition)], records)
        yield family
