"""Redacting input events and records: the transcript text of segments, the attribute
values of a call's start (e.g. the caller's number a telephony system attaches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.privacy.redaction import Redactor
from streams.wire.events import CallStarted, Event, TranscriptSegment


def add_counts(total: dict[str, int], counts: Mapping[str, int]) -> None:
    for kind, count in counts.items():
        total[kind] = total.get(kind, 0) + count


def redact_event(redactor: Redactor, event: Event) -> tuple[Event, dict[str, int]]:
    """The event as callfocus keeps it, and the items redacted per kind (``{}``: none, and
    the event itself is returned)."""
    if isinstance(event, TranscriptSegment):
        text, counts = redactor.redact(event.text)
        if not counts:
            return event, counts
        return event.replace(text=text), counts
    if isinstance(event, CallStarted) and event.attributes:
        attributes, counts = _redacted_values(redactor, event.attributes)
        if not counts:
            return event, counts
        return event.replace(attributes=attributes), counts
    return event, {}


def _redacted_values(redactor: Redactor, values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, int]]:
    total: dict[str, int] = {}
    redacted = {}
    for name, value in values.items():
        redacted[name], counts = redactor.redact(value)
        add_counts(total, counts)
    return redacted, total


def redact_record(
    redactor: Redactor, name: str, record: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """A decoded record (Avro or JSON) redacted as its event would be, field by field, so a
    record that is no valid event (the dead-letter topic's) is redacted all the same."""
    redacted = dict(record)
    total: dict[str, int] = {}
    text = record.get("text")
    if name == "TranscriptSegment" and isinstance(text, str):
        redacted["text"], counts = redactor.redact(text)
        add_counts(total, counts)
    attributes = record.get("attributes")
    if name == "CallStarted" and isinstance(attributes, Mapping):
        values = {k: v for k, v in attributes.items() if isinstance(v, str)}
        redacted_values, counts = _redacted_values(redactor, values)
        redacted["attributes"] = {**attributes, **redacted_values}
        add_counts(total, counts)
    return redacted, total
