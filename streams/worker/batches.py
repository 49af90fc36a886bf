"""Batch application: input records in, the engine applied, the records that are due out (no Kafka, no Faust).

A :class:`BatchApplier` decodes and checks each record of a batch, applies it to its
call's engine, and says what the batch causes: dead letters, metrics snapshots, call
summaries, nudges, and which calls the next commit writes. It sends nothing: the agents
(:mod:`streams.worker.agents`) send its outputs in the transaction of their source
partition and acknowledge the batch. Its clocks are injected, so tests drive it with
in-memory records and a fake clock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from streams.engine.nudges import Nudge, masked_snippet
from streams.errors import InvalidEventError
from streams.privacy.dead_letters import redacted_dead_letter
from streams.privacy.redaction import Redactor
from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, event_to_record
from streams.worker.calls import CallProcessor, LiveCall, LiveCalls
from streams.worker.exporter import PipelineMetrics
from streams.worker.output_kinds import OutputKind
from streams.worker.outputs import metrics_record, nudge_record, summary_record
from streams.worker.scorecard_cells import ScorecardCells

log = logging.getLogger(__name__)

# Room a record's batch framing and headers take beyond its key and value.
RECORD_OVERHEAD_BYTES = 1024


class InputRecord(Protocol):
    """An input record as the worker reads it: aiokafka's ``ConsumerRecord`` (fetched
    batches) and Faust's ``Message`` (its agent stream) both are one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Output(NamedTuple):
    """One record to send. With a ``source`` it goes in the transaction of the source's
    partition (committed with that record's offset); without, outside any transaction."""

    kind: OutputKind
    source: InputRecord | None
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: dict[str, bytes] | None = None


@dataclass(frozen=True)
class OutputTopics:
    """The topics a worker writes (and its input, where idle calls' ends go)."""

    call_events: str
    metrics: str
    summaries: str
    dead_letters: str
    nudges: str


@dataclass(frozen=True)
class OutputTiming:
    """How often outputs are due, and how large a record may be."""

    snapshot_interval_seconds: float
    nudge_interval_seconds: float
    max_record_bytes: int
    nudge_snippets: bool


class AppliedBatch(NamedTuple):
    """What one batch caused: transactional outputs, nudges to send at once, and the calls and
    scorecard cells it changed (forgotten if the batch is dropped at a rebalance)."""

    outputs: list[Output]
    nudges: list[tuple[LiveCall, Nudge]]
    call_ids: set[str]


class BatchApplier:
    """Applies batches of input records to the live calls and says which outputs are due."""

    def __init__(
        self,
        processor: CallProcessor,
        codec: AvroCodec,
        live_calls: LiveCalls,
        metrics: PipelineMetrics,
        topics: OutputTopics,
        timing: OutputTiming,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        redactor: Redactor | None = None,
        dead_letter_original: bool = False,
        scorecards: ScorecardCells | None = None,
    ) -> None:
        self.processor = processor
        # where an ended call's summary is added up, in the commit of its end
        self.scorecards = scorecards
        # a dead letter's value: the original bytes only when redaction is off or the setting
        # allows it; else redacted (streams/privacy/dead_letters.py)
        self.dead_letter_redactor = (
            redactor if redactor is not None and redactor.enabled and not dead_letter_original else None
        )
        self.codec = codec
        self.live_calls = live_calls
        self.metrics = metrics
        self.topics = topics
        self.timing = timing
        self.monotonic = monotonic
        self.wall_clock_ms = wall_clock_ms
        # the input offset last applied per partition (for the consumer lag gauge)
        self.processed_offsets: dict[int, int] = {}

    def apply(self, batch: Sequence[InputRecord]) -> AppliedBatch:
        """Apply a batch to the engine; returns its outputs, its nudges and the calls it changed."""
        outputs: list[Output] = []
        batch_calls: dict[str, tuple[LiveCall, InputRecord]] = {}
        changed: set[str] = set()  # the calls and scorecard cells the next commit writes
        for record in batch:
            self.processed_offsets[record.partition] = record.offset
            result = self.processor.process_record(record.key, record.value, record.partition)
            if result.error is not None:
                outputs.append(self.dead_letter(record, result.error))
                continue
            call = result.call
            if call is None:
                continue
            batch_calls[call.call_id] = (call, record)
            if result.ended_now:
                outputs += self._ending(call, record, changed)
        # once per changed call per batch, not per event: reading a call's metrics is the
        # costly part of a snapshot and of a nudge check
        nudges: list[tuple[LiveCall, Nudge]] = []
        snapshots_due = self.monotonic() - self.timing.snapshot_interval_seconds
        for call, record in batch_calls.values():
            # the next commit writes the call, in the transaction of the record that last changed it
            self.live_calls.unwritten.changed(call, record)
            if call.ended_monotonic is not None:
                continue
            try:
                call.state.make_new_rows()
                snapshot_due = call.snapshot_pending and call.last_snapshot_monotonic <= snapshots_due
                if snapshot_due:
                    outputs.append(self.snapshot(call, record))
                # nudges off: the processor has no rules, and no check waits
                nudges += [
                    (call, n) for n in self.processor.nudges(call, self.nudge_interval_after(snapshot_due))
                ]
            except Exception:  # a call's outputs fail, not the batch: its events are applied
                self.metrics.output_errors.labels(OutputKind.METRICS).inc()
                log.exception("call %s: its snapshot or nudge check failed", call.call_id)
        changed.update(batch_calls)
        return AppliedBatch(outputs, nudges, changed)

    def _ending(self, call: LiveCall, record: InputRecord, changed: set[str]) -> list[Output]:
        """The last snapshot and the summary of a call that has just ended; the summary is
        added to the call's scorecard cells (their keys go to ``changed``)."""
        try:
            last = self.snapshot(call, record)
            fields = summary_record(call, call.state.metrics(), call.nudges.fired)
            summary = self.codec.encode("CallSummary", fields)
        except Exception:  # the call has ended all the same: counted and logged
            self.metrics.output_errors.labels(OutputKind.SUMMARIES).inc()
            log.exception("call %s: its summary could not be made", call.call_id)
            return []
        if self.scorecards is not None:
            try:
                changed.update(self.scorecards.add(fields, record.partition, record))
            except Exception:  # the summary still goes out; its cards lack it, counted and logged
                self.metrics.output_errors.labels(OutputKind.SUMMARIES).inc()
                log.exception("call %s: its summary could not be added to the scorecards", call.call_id)
        return [
            last,
            Output(OutputKind.SUMMARIES, record, self.topics.summaries, call.call_id.encode(), summary),
        ]

    def dead_letter(self, record: InputRecord, error: InvalidEventError) -> Output:
        """The record as it came (or redacted), with why it was refused and where it came from
        in headers."""
        detail = error.detail
        value = record.value
        redaction: bytes | None = None
        if self.dead_letter_redactor is not None:
            detail = self.dead_letter_redactor.redact(detail)[0]
            if value is not None:
                value, redaction = redacted_dead_letter(self.dead_letter_redactor, self.codec, value)
        headers = {
            "error.reason": error.reason.encode(),
            "error.detail": detail.encode("utf-8", "replace")[:1024],
            "source.topic": record.topic.encode(),
            "source.partition": str(record.partition).encode(),
            "source.offset": str(record.offset).encode(),
        }
        if redaction is not None:
            headers["redaction"] = redaction
        room = self.timing.max_record_bytes - RECORD_OVERHEAD_BYTES - len(record.key or b"")
        if value is not None and len(value) > room:
            # kept whole, the copy would not fit a record: cut, with what identifies the original
            headers["original.size"] = str(len(value)).encode()
            headers["original.sha256"] = hashlib.sha256(value).hexdigest().encode()
            value = value[: max(room, 0)]
            self.metrics.dead_letters_truncated.inc()
        # explicit partition: a message without a key still lands in its source partition
        return Output(
            OutputKind.DEAD_LETTERS,
            record,
            self.topics.dead_letters,
            record.key,
            value,
            record.partition,
            headers,
        )

    def snapshot_value(self, call: LiveCall) -> bytes:
        """The call's ``CallMetrics`` snapshot now; the next is due a snapshot interval later."""
        call.snapshot_pending = False
        call.last_snapshot_monotonic = self.monotonic()
        record = metrics_record(call, call.state.metrics(), self.wall_clock_ms())
        return self.codec.encode("CallMetrics", record)

    def snapshot(self, call: LiveCall, source: InputRecord | None) -> Output:
        return Output(
            OutputKind.METRICS, source, self.topics.metrics, call.call_id.encode(), self.snapshot_value(call)
        )

    def nudge(self, call: LiveCall, nudge: Nudge) -> tuple[Output, dict[str, object]]:
        """A nudge's record (also what the webhook posts) and its output, outside any
        transaction: a supervisor needs it within a second, not at the next commit."""
        text = call.last_text
        snippet = masked_snippet(text) if self.timing.nudge_snippets and text else None
        record = nudge_record(call, nudge, self.wall_clock_ms(), snippet)
        value = self.codec.encode("Nudge", record)
        return Output(OutputKind.NUDGES, None, self.topics.nudges, call.call_id.encode(), value), record

    def nudge_interval_after(self, snapshot_taken: bool) -> float:
        """A snapshot has just read the call's metrics: the nudge check that follows it reuses
        them, whatever the interval. Checks then ride on snapshots, and a call changing all the
        time has its metrics read twice a second, not three times (snapshot_interval 1 s,
        nudge_interval 0.5 s), at 10-25 µs a read."""
        return 0.0 if snapshot_taken else self.timing.nudge_interval_seconds

    def quiet_calls(self) -> Iterator[tuple[LiveCall, Output | None, list[Nudge]]]:
        """For each call with an output pending: the snapshot of its last change once it has
        gone quiet for a snapshot interval, and the nudges whose check waited for the interval.

        These have no source partition whose transaction would commit them: they go out
        outside any transaction. Snapshots are observations of a call's latest state, not
        counted results: if a crash rolls back the change they show, the replayed events
        make the same state and a newer snapshot.
        """
        due = self.monotonic() - self.timing.snapshot_interval_seconds
        for call in self.live_calls.pending():
            if call.ended_monotonic is not None:  # ended while the caller let the input in
                continue
            # a call still receiving events gets its snapshot from the next one
            quiet = call.last_event_monotonic <= due and call.last_snapshot_monotonic <= due
            snapshot_due = call.snapshot_pending and quiet
            snapshot = self.snapshot(call, None) if snapshot_due else None
            yield call, snapshot, self.processor.nudges(call, self.nudge_interval_after(snapshot_due))

    def idle_call_ends(self, idle_seconds: float) -> list[Output]:
        """A ``CallEnded(timeout)`` for every call silent for ``idle_seconds``, to the input
        topic: it is then processed (and summarised) in its partition like any other event."""
        ends = []
        for call in self.processor.idle_calls(idle_seconds):
            name, record = event_to_record(CallEnded(call.call_id, self.wall_clock_ms(), reason="timeout"))
            value = self.codec.encode(name, record)
            ends.append(
                Output(OutputKind.IDLE_CALL_ENDS, None, self.topics.call_events, call.call_id.encode(), value)
            )
            call.last_event_monotonic = self.monotonic()  # not sent twice while it travels
        return ends
