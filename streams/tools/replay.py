"""Send recorded calls to ``call-events`` as a live system would: keyed by call_id, in time.

Calls are replayed side by side, each starting ``stagger`` seconds after the previous
one; within a call each event is sent at its media time divided by ``speed``. Wall-clock
fields (``started_at``, ``ended_at``, ``produced_at``) are stamped at send time, so the
worker sees a live call and can measure its latency. Holds (``HoldStarted``, ``HoldEnded``),
if the recording has them, are sent as they are, at their media time.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from kafka import KafkaProducer

from streams.kafka_clients import kafka_python_options
from streams.settings import Settings
from streams.tools.sources import Recording
from streams.wire.codec import AvroCodec
from streams.wire.events import CallEnded, CallStarted, Event, TranscriptSegment, event_to_record


def schedule(
    recordings: Iterable[Recording], stagger_ms: int = 0, offsets_ms: Sequence[int] | None = None
) -> Iterator[tuple[int, Event]]:
    """All events of all calls merged by replay time (ms from replay start).

    Call ``i`` starts at ``offsets_ms[i]`` when given, else at ``i * stagger_ms``.
    """
    streams = [
        [
            ((offsets_ms[i] if offsets_ms is not None else i * stagger_ms) + timed.at_ms, i, n, timed.event)
            for n, timed in enumerate(rec.events)
        ]
        for i, rec in enumerate(recordings)
    ]
    for at, _, _, event in heapq.merge(*streams):
        yield at, event


def stamp(event: Event, now_ms: int) -> Event:
    if isinstance(event, TranscriptSegment):
        return event.replace(produced_at=now_ms)
    if isinstance(event, CallStarted):
        return event.replace(started_at=now_ms)
    if isinstance(event, CallEnded):
        return event.replace(ended_at=now_ms)
    return event  # a hold: media time only


@dataclasses.dataclass
class ReplayReport:
    calls: int = 0
    events: int = 0
    final_segments: int = 0
    seconds: float = 0.0


def write_jsonl(recordings: Iterable[Recording], path: Path) -> int:
    """Write calls in the project's JSONL event format; returns the number of events."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for recording in recordings:
            for timed in recording.events:
                name, record = event_to_record(timed.event)
                out.write(json.dumps({"type": name, **record}) + "\n")
                count += 1
    return count


def replay(
    recordings: list[Recording],
    settings: Settings,
    *,
    speed: float | None = 1.0,
    stagger_seconds: float = 0.0,
    offsets_ms: Sequence[int] | None = None,
    topic: str | None = None,
    wire_format: str = "avro",
    codec: AvroCodec | None = None,
    on_event: Callable[[int, Event], None] | None = None,
) -> ReplayReport:
    """Replay ``recordings``; ``speed=None`` sends as fast as the producer goes."""
    codec = codec or AvroCodec()
    topic = topic or settings.topic("call-events")
    producer = KafkaProducer(
        client_id="callfocus-replay",
        acks="all",
        linger_ms=5,
        **kafka_python_options(settings.kafka),
    )
    report = ReplayReport(calls=len(recordings))
    began = time.monotonic()
    try:
        for at_ms, event in schedule(recordings, int(stagger_seconds * 1000), offsets_ms):
            if speed is not None:
                delay = began + at_ms / 1000 / speed - time.monotonic()
                if delay > 0:
                    producer.flush()
                    time.sleep(delay)
            live = stamp(event, int(time.time() * 1000))
            name, record = event_to_record(live)
            if wire_format == "json":
                value = json.dumps({"type": name, **record}).encode()
            else:
                value = codec.encode(name, record)
            producer.send(topic, key=live.call_id.encode(), value=value)
            report.events += 1
            if isinstance(live, TranscriptSegment) and live.is_final:
                report.final_segments += 1
            if on_event is not None:
                on_event(at_ms, live)
        producer.flush()
    finally:
        producer.close()
    report.seconds = time.monotonic() - began
    return report
