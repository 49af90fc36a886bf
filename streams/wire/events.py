"""Input events of ``callfocus.call-events`` as typed, immutable values.

Pure Python: the metric engine, the worker, the replay tool and ``callfocus score``
all use these. Structural checks that need no call state live here; checks against a
call's state (ended call, start far beyond the call's media time) live in the engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar, Final

from streams.errors import InvalidEventError, InvalidReason, shown
from streams.wire.languages import language_problem
from streams.wire.values import Value

MAX_SEGMENT_MS = 10 * 60 * 1000
MAX_TEXT_CHARS = 20_000
MAX_MEDIA_TIME_MS = 24 * 3600 * 1000
# Ids key state, topics and series: printable ASCII without spaces, bounded.
MAX_ID_CHARS = 128
_ID = re.compile(rf"[!-~]{{1,{MAX_ID_CHARS}}}")
# Labels become Prometheus label values and console text: no control characters, bounded.
MAX_LABEL_CHARS = 64
_LABEL = re.compile(rf"[^\x00-\x1f\x7f-\x9f]{{1,{MAX_LABEL_CHARS}}}")
_LABEL_FIELDS = ("agent_id", "team", "queue")
# The rest of a CallStarted is kept in the call's state: bounded so a state always fits a
# changelog record.
MAX_TEXT_FIELD_CHARS = 256
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_CHARS = 256


class Speaker(StrEnum):
    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    OTHER = "OTHER"


class CallStarted(Value):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "call_id",
        "started_at",
        "agent_id",
        "team",
        "queue",
        "direction",
        "language",
        "tenant",
        "customer_org",
        "seller_org",
        "attributes",
    )

    def __init__(
        self,
        call_id: str,
        started_at: int,
        agent_id: str = "unknown",
        team: str = "unknown",
        queue: str = "unknown",
        direction: str = "inbound",
        language: str = "en",
        tenant: str | None = None,
        customer_org: str | None = None,
        seller_org: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.call_id: Final = call_id
        self.started_at: Final = started_at
        self.agent_id: Final = agent_id
        self.team: Final = team
        self.queue: Final = queue
        self.direction: Final = direction
        self.language: Final = language
        self.tenant: Final = tenant
        self.customer_org: Final = customer_org
        self.seller_org: Final = seller_org
        self.attributes: Final[Mapping[str, str]] = {} if attributes is None else attributes


class TranscriptSegment(Value):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "call_id",
        "segment_id",
        "speaker",
        "start_ms",
        "end_ms",
        "text",
        "revision",
        "is_final",
        "confidence",
        "produced_at",
    )

    def __init__(
        self,
        call_id: str,
        segment_id: str,
        speaker: Speaker,
        start_ms: int,
        end_ms: int,
        text: str,
        revision: int = 0,
        is_final: bool = True,
        confidence: float | None = None,
        produced_at: int = 0,
    ) -> None:
        self.call_id: Final = call_id
        self.segment_id: Final = segment_id
        self.speaker: Final = speaker
        self.start_ms: Final = start_ms
        self.end_ms: Final = end_ms
        self.text: Final = text
        self.revision: Final = revision
        self.is_final: Final = is_final
        self.confidence: Final = confidence
        self.produced_at: Final = produced_at

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


class CallEnded(Value):
    FIELDS: ClassVar[tuple[str, ...]] = ("call_id", "ended_at", "reason")

    def __init__(self, call_id: str, ended_at: int, reason: str | None = None) -> None:
        self.call_id: Final = call_id
        self.ended_at: Final = ended_at
        self.reason: Final = reason


class HoldStarted(Value):
    """The customer was put on hold at ``at_ms`` (media time); optional, producers that know
    no holds never send it."""

    FIELDS: ClassVar[tuple[str, ...]] = ("call_id", "hold_id", "at_ms", "reason", "source")

    def __init__(
        self, call_id: str, hold_id: str, at_ms: int, reason: str | None = None, source: str | None = None
    ) -> None:
        self.call_id: Final = call_id
        self.hold_id: Final = hold_id
        self.at_ms: Final = at_ms
        self.reason: Final = reason
        self.source: Final = source


class HoldEnded(Value):
    """The hold ``hold_id`` ended at ``at_ms`` (media time)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("call_id", "hold_id", "at_ms", "source")

    def __init__(self, call_id: str, hold_id: str, at_ms: int, source: str | None = None) -> None:
        self.call_id: Final = call_id
        self.hold_id: Final = hold_id
        self.at_ms: Final = at_ms
        self.source: Final = source


Event = CallStarted | TranscriptSegment | CallEnded | HoldStarted | HoldEnded
_SPEAKERS = {speaker.value: speaker for speaker in Speaker}  # a dict probe, not Enum's __call__
_TYPES: dict[
    str, type[CallStarted] | type[TranscriptSegment] | type[CallEnded] | type[HoldStarted] | type[HoldEnded]
] = {
    "CallStarted": CallStarted,
    "TranscriptSegment": TranscriptSegment,
    "CallEnded": CallEnded,
    "HoldStarted": HoldStarted,
    "HoldEnded": HoldEnded,
}


def event_from_record(name: str, record: Mapping[str, Any]) -> Event:
    """Build and check the event a decoded record describes; raise InvalidEventError if unusable."""
    kind = _TYPES.get(name)
    if kind is None:
        raise InvalidEventError(InvalidReason.NOT_AN_INPUT_EVENT, f"{name} is not an event of call-events")
    call_id = record.get("call_id")
    if not isinstance(call_id, str) or not call_id.strip():
        raise InvalidEventError(InvalidReason.MISSING_CALL_ID, f"{name} without a call_id")
    if _ID.fullmatch(call_id) is None:
        raise InvalidEventError(InvalidReason.INVALID_ID, f"call_id {_excerpt(call_id)}: {_ID_RULE}")
    if kind is TranscriptSegment:
        return _segment(record)
    if kind is HoldStarted or kind is HoldEnded:
        _check_hold(name, record)
    if kind is CallStarted:
        _check_call_started(record)
        problem = language_problem(record.get("language", "en"))
        if problem is not None:
            raise InvalidEventError(
                InvalidReason.INVALID_LANGUAGE, f"CallStarted of call {call_id!r}: {problem}"
            )
    fields = kind.FIELDS
    return kind(**{k: v for k, v in record.items() if k in fields})


_ID_RULE = f"1-{MAX_ID_CHARS} printable ASCII characters without spaces"


def _excerpt(text: str) -> str:
    return f"{shown(text)} ({len(text)} characters)"


def _check_call_started(record: Mapping[str, Any]) -> None:
    call_id = record["call_id"]
    for name in _LABEL_FIELDS:
        value = record.get(name, "unknown")  # the schema's default
        if _LABEL.fullmatch(value) is None:
            raise InvalidEventError(
                InvalidReason.INVALID_LABEL,
                f"call {call_id!r}: {name} {_excerpt(value)}: 1-{MAX_LABEL_CHARS} characters, "
                "no control characters",
            )
    for name in ("tenant", "customer_org", "seller_org"):
        value = record.get(name)
        if value is not None and len(value) > MAX_TEXT_FIELD_CHARS:
            raise InvalidEventError(
                InvalidReason.FIELD_TOO_LONG,
                f"call {call_id!r}: {name} of {len(value)} characters > {MAX_TEXT_FIELD_CHARS}",
            )
    attributes = record.get("attributes") or {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidEventError(
            InvalidReason.FIELD_TOO_LONG, f"call {call_id!r}: {len(attributes)} attributes > {MAX_ATTRIBUTES}"
        )
    for key, value in attributes.items():
        if len(key) > MAX_ATTRIBUTE_CHARS or len(value) > MAX_ATTRIBUTE_CHARS:
            raise InvalidEventError(
                InvalidReason.FIELD_TOO_LONG,
                f"call {call_id!r}: attribute {_excerpt(key)} longer than {MAX_ATTRIBUTE_CHARS} characters",
            )


def _check_hold(name: str, record: Mapping[str, Any]) -> None:
    call_id, hold_id, at = record["call_id"], record["hold_id"], record["at_ms"]
    if _ID.fullmatch(hold_id) is None:
        raise InvalidEventError(
            InvalidReason.INVALID_ID, f"{name} of call {call_id!r}: hold_id {_excerpt(hold_id)}: {_ID_RULE}"
        )
    where = f"{name} {hold_id!r} of call {call_id!r}"
    if at < 0:
        raise InvalidEventError(InvalidReason.NEGATIVE_TIME, f"{where}: at_ms {at} < 0")
    if at > MAX_MEDIA_TIME_MS:
        raise InvalidEventError(
            InvalidReason.ABSURD_TIME, f"{where}: at_ms {at} is beyond 24 h of media time"
        )
    for field in ("reason", "source"):
        value = record.get(field)
        if value is not None and len(value) > MAX_TEXT_FIELD_CHARS:
            raise InvalidEventError(
                InvalidReason.FIELD_TOO_LONG,
                f"{where}: {field} of {len(value)} characters > {MAX_TEXT_FIELD_CHARS}",
            )


def _segment(record: Mapping[str, Any]) -> TranscriptSegment:
    start, end, text = record["start_ms"], record["end_ms"], record["text"]
    segment_id = record["segment_id"]
    if not segment_id:
        raise InvalidEventError(
            InvalidReason.MISSING_SEGMENT_ID, f"segment of call {record['call_id']!r} has no segment_id"
        )
    if _ID.fullmatch(segment_id) is None:
        raise InvalidEventError(
            InvalidReason.INVALID_ID,
            f"segment_id {_excerpt(segment_id)} of call {record['call_id']!r}: {_ID_RULE}",
        )
    if start < 0:
        raise _invalid(record, InvalidReason.NEGATIVE_TIME, f"start_ms {start} < 0")
    if end < start:
        raise _invalid(record, InvalidReason.END_BEFORE_START, f"end_ms {end} < start_ms {start}")
    if end - start > MAX_SEGMENT_MS:
        raise _invalid(
            record,
            InvalidReason.SEGMENT_TOO_LONG,
            f"{(end - start) / 1000:.0f} s > {MAX_SEGMENT_MS // 1000} s",
        )
    if end > MAX_MEDIA_TIME_MS:
        raise _invalid(record, InvalidReason.ABSURD_TIME, f"end_ms {end} is beyond 24 h of media time")
    if len(text) > MAX_TEXT_CHARS:
        raise _invalid(record, InvalidReason.TEXT_TOO_LONG, f"{len(text)} characters > {MAX_TEXT_CHARS}")
    if record["revision"] < 0:
        raise _invalid(record, InvalidReason.NEGATIVE_REVISION, f"revision {record['revision']} < 0")
    return TranscriptSegment(
        record["call_id"],
        record["segment_id"],
        _SPEAKERS[record["speaker"]],
        start,
        end,
        text,
        record["revision"],
        record["is_final"],
        record.get("confidence"),
        record["produced_at"],
    )


def _invalid(record: Mapping[str, Any], reason: InvalidReason, detail: str) -> InvalidEventError:
    where = f"segment {record['segment_id']!r} of call {record['call_id']!r}"
    return InvalidEventError(reason, f"{where}: {detail}")


def event_to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """Schema name and Avro record of an event (the inverse of :func:`event_from_record`)."""
    record = event.to_dict()
    if isinstance(event, TranscriptSegment):
        record["speaker"] = event.speaker.value
    elif isinstance(event, CallStarted):
        record["attributes"] = dict(event.attributes)
    return type(event).__name__, record
