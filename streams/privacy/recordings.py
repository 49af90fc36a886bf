"""Recorded calls redacted as the worker would keep their events (``callfocus redact``, ``score``)."""

from __future__ import annotations

from streams.privacy.events import add_counts, redact_event
from streams.privacy.redaction import Redactor
from streams.tools.sources import Recording, TimedEvent


def redact_recording(redactor: Redactor, recording: Recording) -> tuple[Recording, dict[str, int]]:
    """The recording with each event as the worker keeps it, and the items redacted per kind."""
    if not redactor.enabled:
        return recording, {}
    total: dict[str, int] = {}
    events = []
    for timed in recording.events:
        event, counts = redact_event(redactor, timed.event)
        add_counts(total, counts)
        events.append(timed if event is timed.event else TimedEvent(timed.at_ms, event))
    return Recording(recording.call_id, tuple(events)), total
