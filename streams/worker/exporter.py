"""Prometheus export of the pipeline: aggregate series without call_id, read at scrape time.

Naming follows the Prometheus guide: base units (seconds), ratios 0-1, ``_total``
counters, every labelled counter pre-created at 0 so ``rate()`` sees its first step.
The per-call series are :mod:`streams.worker.call_series`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams import native
from streams.engine.nudges import ALL_NUDGE_TYPES
from streams.errors import InvalidReason
from streams.privacy.redaction import KINDS as REDACTED_KINDS
from streams.wire.events import Speaker
from streams.wire.languages import is_language_tag
from streams.worker.export_labels import LabelFolder, LabelLimits
from streams.worker.output_kinds import OutputKind
from streams.worker.tallies import BucketHistogram, LabelledCount

# `_created` series double the aggregate series count and nothing here queries them.
disable_created_metrics()

# every dead-letter reason, in the enum's order: its counter's labels are pre-created
INVALID_REASONS = tuple(reason.value for reason in InvalidReason)
# finer around the 250 ms p99 target of issue 4
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0)
IGNORED_REASONS = ("interim", "duplicate", "stale_revision")

# distinct language labels of callfocus_language_unsupported_total; later ones count as "other"
MAX_UNSUPPORTED_LANGUAGES: Final = 20
OTHER_LANGUAGE: Final = "other"


def unsupported_language_label(language: str, seen: set[str]) -> str:
    """The label of an unsupported ``language``: its primary subtag lower-cased (``es-MX`` ->
    ``es``: the lexicon to add), one of the first MAX_UNSUPPORTED_LANGUAGES such values in
    ``seen`` (updated), else ``other``; ``other`` for anything not a language tag."""
    if not is_language_tag(language):
        return OTHER_LANGUAGE
    primary = language.split("-", 1)[0].lower()
    if primary in seen:
        return primary
    if len(seen) < MAX_UNSUPPORTED_LANGUAGES:
        seen.add(primary)
        return primary
    return OTHER_LANGUAGE


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
        self.redactions = Counter(
            "callfocus_redactions",
            "Personal data items redacted from input events at ingest, by kind (docs/privacy.md).",
            ["kind"],
            registry=registry,
        )
        for kind in REDACTED_KINDS:  # every kind at 0 from the start: rate() sees the first one
            self.redactions.labels(kind)
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
        self.tracker_hits = Counter(
            "callfocus_tracker_hits",
            "Hits of the user-defined trackers (docs/trackers.md) in the worker's calls, by tracker "
            "and team: tracker names come from the trackers file, never from call content.",
            ["tracker", "team"],
            registry=registry,
        )
        # the (tracker, team) series that exist, removed with their team
        self._tracker_series: set[tuple[str, str]] = set()
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
        self._unsupported_seen: set[str] = set()
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
        self.languages_unsupported = Counter(
            "callfocus_language_unsupported",
            "Calls started in a language no lexicon has (docs/languages.md): their lexical metrics "
            f"are null. By primary language subtag, lower case; past {MAX_UNSUPPORTED_LANGUAGES} "
            "distinct values, 'other'.",
            ["language"],
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
        self.produced_by_output: dict[OutputKind, Counter] = {
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
        for nudge_type in ALL_NUDGE_TYPES:
            self.nudges.labels(nudge_type, team)
        self.ended_call_score.labels(team)

    def expire_labels(self, in_use: Iterable[tuple[str, str]]) -> list[str]:
        """Free the team and queue values no call in memory has carried for the grace
        period, and remove those teams' series; returns the teams removed.

        The series of a team that comes back start again from 0: a counter reset, which
        rate() and increase() take in their stride."""
        teams: set[str] = set()
        queues: set[str] = set()
        for team, queue in in_use:
            teams.add(team)
            queues.add(queue)
        grace = self.label_limits.grace_seconds
        self.queues.expire(queues, grace)
        gone = self.teams.expire(teams, grace)
        for team in gone:
            if team in self._teams:
                self._teams.discard(team)
                for nudge_type in ALL_NUDGE_TYPES:
                    self.nudges.remove(nudge_type, team)
                self.ended_call_score.remove(team)
                for tracker, of_team in [key for key in self._tracker_series if key[1] == team]:
                    self.tracker_hits.remove(tracker, of_team)
                    self._tracker_series.discard((tracker, of_team))
        return gone

    def count_unsupported_language(self, language: str) -> None:
        """Count a call started in ``language``, which no lexicon has (a bounded label)."""
        self.languages_unsupported.labels(unsupported_language_label(language, self._unsupported_seen)).inc()

    def count_tracker_hits(self, tracker: str, team: str, hits: int) -> None:
        self._tracker_series.add((tracker, team))
        self.tracker_hits.labels(tracker, team).inc(hits)


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
