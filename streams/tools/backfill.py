"""``callfocus backfill``, the pure part: past calls' events in, their summaries under the
current definitions out (no Kafka here; streams/tools/backfill_kafka.py reads and writes).

Each record goes through the worker's own :class:`CallProcessor` (decoding, redaction, the
key check, the engine with its role check and language handling, the nudge rules and the
trackers), and an ended call's ``CallSummary`` is the worker's :func:`summary_record`. What
differs from a live worker, on purpose:

* a call must have its ``CallStarted`` in the data read: one without (its first events
  fell out of retention, or were written before the read began) is skipped and counted,
  whatever ``IMPLICIT_START`` says: a backfill does not guess;
* a call counts only if it started in the window ``[since, until)`` and ended before the
  read stops; the others are counted, not scored;
* nudge rules are checked after every event, as ``callfocus score`` does (a worker checks a
  busy call at most every ``NUDGE_INTERVAL_SECONDS``): the nudge ids a summary lists can
  differ slightly from a live worker's; every metric is the same;
* a call whose (call_id, definitions) is already on the summaries topic is not written again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.engine.definitions import with_definitions
from streams.engine.nudges import NudgeRule, load_rules
from streams.engine.trackers import EMPTY as NO_TRACKERS
from streams.engine.trackers import TrackerSet, load_trackers
from streams.errors import InvalidReason
from streams.privacy.redaction import Redactor
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from streams.worker.calls import CallProcessor, EndedCall, LiveCall, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.outputs import summary_record

# the header a backfilled summary carries (the worker's carry none)
SOURCE_HEADER: Final = "callfocus-source"
SOURCE_BACKFILL: Final = b"backfill"


@dataclass(frozen=True)
class Window:
    """The calls a backfill scores: those whose ``CallStarted.started_at`` is in
    ``[since_ms, until_ms)`` (wall clock, ms)."""

    since_ms: int
    until_ms: int

    def __post_init__(self) -> None:
        if self.until_ms <= self.since_ms:
            raise ValueError("--until must be after --since")

    def contains(self, started_at_ms: int) -> bool:
        return self.since_ms <= started_at_ms < self.until_ms


def format_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Definitions:
    """What the worker would score with under ``settings``: the engine settings carrying their
    definitions version, the nudge rules, the trackers and the redactor."""

    config: EngineConfig
    rules: tuple[NudgeRule, ...]
    trackers: TrackerSet
    redactor: Redactor

    @property
    def version(self) -> str:
        """The ``definitions`` string the summaries carry (the trackers' digest with it)."""
        return f"{self.config.definitions}.trackers-{self.trackers.digest}"


def current_definitions(settings: Settings) -> Definitions:
    """As streams/worker/app.py builds them: rules only when nudges are on, the definitions
    version over the rules, the trackers of ``TRACKERS_FILE``, the redactor of the privacy
    settings."""
    rules = load_rules(settings.nudge_rules_file) if settings.nudges_enabled else ()
    trackers = load_trackers(settings.trackers_file) if settings.trackers_file is not None else NO_TRACKERS
    return Definitions(
        with_definitions(settings.engine_config(), rules), rules, trackers, settings.privacy.redactor()
    )


class SummariesPresent:
    """The (call_id, definitions) pairs already on the summaries topic: the skip set."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec
        self.pairs: set[tuple[str, str]] = set()
        self.undecodable = 0

    def add_record(self, value: bytes | None) -> None:
        """One record of the summaries topic; one that is not a readable CallSummary is counted."""
        try:
            name, record = self.codec.decode(value)
            if name != "CallSummary":
                raise ValueError(name)
            self.pairs.add((str(record["call_id"]), str(record.get("definitions") or "")))
        except Exception:
            self.undecodable += 1

    def __contains__(self, pair: object) -> bool:
        return pair in self.pairs


@dataclass
class CallSeen:
    """What the records read say about one call (by its key)."""

    started: bool = False
    outside: bool = False  # started outside the window
    ended: bool = False
    present: bool = False  # its summary under these definitions was there already
    refused_unstarted: int = 0  # its records refused because it never started (in the data read)


@dataclass
class BackfillResult:
    """The counts of a run and the summaries to write (key, value), in the order they ended."""

    definitions: str
    window: Window
    calls: dict[str, CallSeen]
    summaries: list[tuple[bytes, bytes]]
    refused: Counter[str]
    summaries_undecodable: int = 0
    written: int = 0
    dry_run: bool = False
    events_read: int = 0
    partitions_at_worker_progress: int = 0
    # the oldest event still kept, when retention has dropped events of the window (ms)
    retained_from_ms: int | None = None

    @property
    def scored(self) -> int:
        return sum(1 for seen in self.calls.values() if seen.ended)

    @property
    def already_present(self) -> int:
        return sum(1 for seen in self.calls.values() if seen.present)

    @property
    def outside_window(self) -> int:
        return sum(1 for seen in self.calls.values() if seen.outside)

    @property
    def not_ended(self) -> int:
        return sum(1 for s in self.calls.values() if s.started and not s.outside and not s.ended)

    @property
    def no_start(self) -> int:
        return sum(1 for seen in self.calls.values() if not seen.started)

    def as_dict(self) -> dict[str, Any]:
        return {
            "definitions": self.definitions,
            "since": format_utc(self.window.since_ms),
            "until": format_utc(self.window.until_ms),
            "dry_run": self.dry_run,
            "events_read": self.events_read,
            "calls_seen": len(self.calls),
            "scored": self.scored,
            "written": self.written,
            "to_write": len(self.summaries),
            "already_present": self.already_present,
            "skipped_outside_window": self.outside_window,
            "skipped_no_start": self.no_start,
            "skipped_not_ended": self.not_ended,
            "records_refused": dict(sorted(self.refused.items())),
            "summaries_undecodable": self.summaries_undecodable,
            "partitions_at_worker_progress": self.partitions_at_worker_progress,
            "retained_from": None if self.retained_from_ms is None else format_utc(self.retained_from_ms),
        }


@dataclass
class _TrackersInForce:
    current: TrackerSet = field(default=NO_TRACKERS)


class Backfill:
    """Feeds records of the call-events topic, in each partition's order, to a worker's
    call processor and keeps the summaries of the calls of the window that ended."""

    def __init__(
        self,
        definitions: Definitions,
        window: Window,
        present: SummariesPresent,
        codec: AvroCodec | None = None,
    ) -> None:
        self.definitions = definitions
        self.window = window
        self.present = present
        self.codec = codec if codec is not None else AvroCodec()
        self.live = LiveCalls(definitions.config)
        self.processor = CallProcessor(
            self.codec,
            self.live,
            # the processor's counters go to a registry nobody reads
            PipelineMetrics(CollectorRegistry(auto_describe=False)),
            nudge_rules=definitions.rules,
            implicit_start=False,  # a call without its CallStarted is not guessed
            trackers=_TrackersInForce(definitions.trackers),
            redactor=definitions.redactor,
        )
        self.calls: dict[str, CallSeen] = {}
        self.summaries: list[tuple[bytes, bytes]] = []
        self.refused: Counter[str] = Counter()
        self.events_read = 0

    def feed(self, key: bytes | None, value: bytes | None, partition: int) -> None:
        """One input record, as the worker takes it."""
        self.events_read += 1
        call_id = key.decode("utf-8", "replace") if key is not None else None
        seen = self.calls.get(call_id) if call_id is not None else None
        if seen is not None and seen.outside:
            return  # a call of another window: not scored
        result = self.processor.process_record(key, value, partition)
        if result.error is not None:
            if result.error.reason == InvalidReason.CALL_NOT_STARTED and call_id is not None:
                self.calls.setdefault(call_id, CallSeen()).refused_unstarted += 1
            else:  # the worker dead-lettered it for the same reason
                self.refused[result.error.reason] += 1
            return
        call = result.call
        if call is None:  # the worker's idle end after the call's own end
            return
        if seen is None:
            seen = self.calls.setdefault(call.call_id, CallSeen())
        if not seen.started:
            seen.started = True
            meta = call.state.meta
            if meta is None or not self.window.contains(meta.started_at):
                seen.outside = True
                self.live.forget(call.call_id)
                return
        if result.ended_now:
            self._summarise(seen, call, partition)
        else:
            self.processor.nudges(call)

    def _summarise(self, seen: CallSeen, call: LiveCall, partition: int) -> None:
        metrics = call.state.metrics()
        seen.ended = True
        if (call.call_id, metrics.definitions) in self.present:
            seen.present = True
        else:
            record = summary_record(call, metrics, call.nudges.fired)
            self.summaries.append((call.call_id.encode(), self.codec.encode("CallSummary", record)))
        # out of memory; its end marker refuses its late events, as the worker's does
        self.live.forget(call.call_id)
        self.live.remember_ended(EndedCall(call.call_id, partition, 0))

    def result(self) -> BackfillResult:
        return BackfillResult(
            definitions=self.definitions.version,
            window=self.window,
            calls=self.calls,
            summaries=self.summaries,
            refused=self.refused,
            summaries_undecodable=self.present.undecodable,
            events_read=self.events_read,
        )


def report_lines(result: BackfillResult, topic: str) -> list[str]:
    """What ``callfocus backfill`` prints."""
    refused = sum(result.refused.values())
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(result.refused.items()))
    label, count = ("would write", len(result.summaries)) if result.dry_run else ("written", result.written)
    lines = [
        f"backfill of calls started {format_utc(result.window.since_ms)} to "
        f"{format_utc(result.window.until_ms)}" + (" (dry run: nothing written)" if result.dry_run else ""),
        f"definitions                     {result.definitions}",
        f"events read                     {result.events_read}",
        f"calls seen                      {len(result.calls)}",
        f"  scored                        {result.scored}",
        f"    {label:<28}{count}",
        f"    already present             {result.already_present}",
        f"  skipped: started outside      {result.outside_window}",
        f"  skipped: no CallStarted read  {result.no_start}",
        f"  skipped: not ended            {result.not_ended}",
        f"records skipped: invalid        {refused}" + (f" ({reasons})" if reasons else ""),
    ]
    if result.summaries_undecodable:
        lines.append(f"summaries undecodable           {result.summaries_undecodable} (on {topic})")
    if result.retained_from_ms is not None:
        lines.append(
            f"call-events keeps events from {format_utc(result.retained_from_ms)} only (retention): "
            "calls started before cannot be scored"
        )
    if result.partitions_at_worker_progress:
        lines.append(
            f"read up to the workers' committed offsets on {result.partitions_at_worker_progress} "
            "partitions: calls they have not ended yet are theirs to summarise"
        )
    return lines
