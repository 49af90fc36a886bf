"""Input events of ``callfocus.call-events`` as typed, immutable values.

Pure Python: the metric engine, the worker, the replay tool and ``callfocus score``
all use these. Structural checks that need no call state live here; checks against a
call's state (ended call, start far beyond the call's media time) live in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from streams.errors import InvalidEventError

MAX_SEGMENT_MS = 10 * 60 * 1000
MAX_TEXT_CHARS = 20_000
MAX_MEDIA_TIME_MS = 24 * 3600 * 1000


class Speaker(StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    started_at: int
    agent_id: str = "unknown"
    team: str = "unknown"
    queue: str = "unknown"
    direction: str = "inbound"
    language: str = "en"
    tenant: str | None = None
    customer_org: str | None = None
    seller_org: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    call_id: str
    segment_id: str
    speaker: Speaker
    start_ms: int
    end_ms: int
    text: str
    revision: int = 0
    is_final: bool = True
    confidence: float | None = None
    produced_at: int = 0

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    ended_at: int
    reason: str | None = None


Event = CallStarted | TranscriptSegment | CallEnded
_TYPES: dict[str, type[CallStarted] | type[TranscriptSegment] | type[CallEnded]] = {
    "CallStarted": CallStarted,
    "TranscriptSegment": TranscriptSegment,
    "CallEnded": CallEnded,
}


def event_from_record(name: str, record: Mapping[str, Any]) -> Event:
    """Build and check the event a decoded record describes; raise InvalidEventError if unusable."""
    kind = _TYPES.get(name)
    if kind is None:
        raise InvalidEventError("not_an_input_event", f"{name} is not an event of call-events")
    call_id = record.get("call_id")
    if not isinstance(call_id, str) or not call_id.strip():
        raise InvalidEventError("missing_call_id", f"{name} without a call_id")
    if kind is TranscriptSegment:
        return _segment(record)
    values = {k: v for k, v in record.items() if k in kind.__dataclass_fields__}
    return kind(**values)


def _segment(record: Mapping[str, Any]) -> TranscriptSegment:
    start, end, text = record["start_ms"], record["end_ms"], record["text"]
    where = f"segment {record['segment_id']!r} of call {record['call_id']!r}"
    if not record["segment_id"]:
        raise InvalidEventError(
            "missing_segment_id", f"segment of call {record['call_id']!r} has no segment_id"
        )
    if start < 0:
        raise InvalidEventError("negative_time", f"{where}: start_ms {start} < 0")
    if end < start:
        raise InvalidEventError("end_before_start", f"{where}: end_ms {end} < start_ms {start}")
    if end - start > MAX_SEGMENT_MS:
        raise InvalidEventError(
            "segment_too_long", f"{where}: {(end - start) / 1000:.0f} s > {MAX_SEGMENT_MS // 1000} s"
        )
    if end > MAX_MEDIA_TIME_MS:
        raise InvalidEventError("absurd_time", f"{where}: end_ms {end} is beyond 24 h of media time")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidEventError("text_too_long", f"{where}: {len(text)} characters > {MAX_TEXT_CHARS}")
    if record["revision"] < 0:
        raise InvalidEventError("negative_revision", f"{where}: revision {record['revision']} < 0")
    return TranscriptSegment(
        call_id=record["call_id"],
        segment_id=record["segment_id"],
        speaker=Speaker(record["speaker"]),
        start_ms=start,
        end_ms=end,
        text=text,
        revision=record["revision"],
        is_final=record["is_final"],
        confidence=record.get("confidence"),
        produced_at=record["produced_at"],
    )


def event_to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """Schema name and Avro record of an event (the inverse of :func:`event_from_record`)."""
    record = asdict(event)
    if isinstance(event, TranscriptSegment):
        record["speaker"] = event.speaker.value
    elif isinstance(event, CallStarted):
        record["attributes"] = dict(event.attributes)
    return type(event).__name__, record
