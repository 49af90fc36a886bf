"""In-memory input for the batch applier and the commit protocol: records, a clock, encoders."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from streams.engine import EngineConfig
from streams.wire.codec import AvroCodec
from streams.worker.batches import BatchApplier, OutputTiming, OutputTopics
from streams.worker.calls import CallProcessor, LiveCalls
from streams.worker.exporter import PipelineMetrics

CODEC = AvroCodec()
TOPICS = OutputTopics(
    call_events="t.call-events",
    metrics="t.call-metrics",
    summaries="t.call-summaries",
    dead_letters="t.call-events.dlq",
    nudges="t.nudges",
)


@dataclass(frozen=True)
class Record:
    """An input record as aiokafka and Faust give it (the fields the worker reads)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    topic: str = TOPICS.call_events


@dataclass
class FakeClock:
    """Monotonic seconds and wall milliseconds that move only when a test says so."""

    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall_ms(self) -> int:
        return int(self.now * 1000)


@dataclass
class Input:
    """Numbers records per partition as a topic would."""

    next_offset: dict[int, int] = field(default_factory=dict)

    def record(self, partition: int, key: bytes | None, value: bytes | None) -> Record:
        offset = self.next_offset.get(partition, 0)
        self.next_offset[partition] = offset + 1
        return Record(partition, offset, key, value)

    def started(self, partition: int, call_id: str) -> Record:
        value = CODEC.encode("CallStarted", {"call_id": call_id, "started_at": 1})
        return self.record(partition, call_id.encode(), value)

    def segment(self, partition: int, call_id: str, index: int, speaker: str = "AGENT") -> Record:
        segment = {
            "call_id": call_id,
            "segment_id": f"s{index}",
            "speaker": speaker,
            "start_ms": index * 1000,
            "end_ms": (index + 1) * 1000,
            "text": "tell me about your goals for the quarter",
        }
        return self.record(partition, call_id.encode(), CODEC.encode("TranscriptSegment", segment))

    def ended(self, partition: int, call_id: str) -> Record:
        value = CODEC.encode("CallEnded", {"call_id": call_id, "ended_at": 2, "reason": None})
        return self.record(partition, call_id.encode(), value)


def make_applier(clock: FakeClock, max_record_bytes: int = 1024 * 1024) -> BatchApplier:
    metrics = PipelineMetrics(CollectorRegistry())
    calls = LiveCalls(EngineConfig())
    processor = CallProcessor(
        CODEC, calls, metrics, wall_clock_ms=clock.wall_ms, monotonic=clock.monotonic, nudge_rules=()
    )
    timing = OutputTiming(
        snapshot_interval_seconds=1.0,
        nudge_interval_seconds=0.5,
        max_record_bytes=max_record_bytes,
        nudge_snippets=False,
    )
    return BatchApplier(
        processor,
        CODEC,
        calls,
        metrics,
        TOPICS,
        timing,
        monotonic=clock.monotonic,
        wall_clock_ms=clock.wall_ms,
    )
