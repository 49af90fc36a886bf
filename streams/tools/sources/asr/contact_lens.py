"""Amazon Connect Contact Lens real-time analysis segment streams (the voice data model).

Each message is one event: ``EventType`` ``STARTED`` (-> CallStarted, with its
``LanguageCode``), ``SEGMENTS`` with ``Segments[]``, or ``COMPLETED``/``FAILED`` (-> CallEnded).
A segment holds a ``Transcript`` (final: ``Id``, ``ParticipantRole``, ``Content``,
``BeginOffsetMillis``, ``EndOffsetMillis``, ``Sentiment``) or an ``Utterance`` (partial:
``TranscriptId`` of the transcript it belongs to, ``PartialContent``); other segment kinds
(``Categories``, ``Issues``, ``PostContactSummary``) carry no speech and are skipped.
Roles come from ``ParticipantRole``: AGENT and CUSTOMER as they are, any other (SYSTEM,
SUPERVISOR, CUSTOM_BOT) OTHER.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.errors import InvalidEventError
from streams.tools.sources.asr import ChannelRoles, check, invalid, need, optional, segment
from streams.wire.events import CallEnded, CallStarted, Event, Speaker, event_from_record

VENDOR = "contact-lens"
_ROLES = {"AGENT": Speaker.AGENT, "CUSTOMER": Speaker.CUSTOMER}


class ContactLensParser:
    def __init__(self, roles: ChannelRoles) -> None:
        self.roles = roles  # unused: Contact Lens names each participant's role

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        if isinstance(message, Mapping) and "EventType" not in message and "Segments" in message:
            message = {**message, "EventType": "SEGMENTS"}  # a bare ListRealtimeContactAnalysisSegments page
        kind = need(VENDOR, message, "EventType", str, "event")
        if kind == "STARTED":
            language = optional(VENDOR, message, "LanguageCode", str, "event")
            record: dict[str, Any] = {"call_id": call_id, "started_at": at_ms}
            if language:
                record["language"] = language
            return [_checked("CallStarted", record)]
        if kind in ("COMPLETED", "FAILED"):
            return [_checked("CallEnded", {"call_id": call_id, "ended_at": at_ms, "reason": kind.lower()})]
        if kind != "SEGMENTS":
            raise invalid(VENDOR, f"EventType {kind!r} is not STARTED, SEGMENTS, COMPLETED or FAILED")
        events = []
        for n, item in enumerate(need(VENDOR, message, "Segments", list, "event")):
            where = f"Segments[{n}]"
            check(VENDOR, item, Mapping, where)
            if "Transcript" in item:
                events.append(self._speech(item["Transcript"], f"{where}.Transcript", call_id, at_ms, True))
            elif "Utterance" in item:
                event = self._speech(item["Utterance"], f"{where}.Utterance", call_id, at_ms, False)
                events.append(event)
        return [e for e in events if e is not None]

    def _speech(self, part: Any, where: str, call_id: str, at_ms: int, final: bool) -> Event | None:
        # a partial utterance belongs to the transcript it will become: same segment id
        segment_id = need(VENDOR, part, "Id" if final else "TranscriptId", str, where)
        text = need(VENDOR, part, "Content" if final else "PartialContent", str, where).strip()
        role = need(VENDOR, part, "ParticipantRole", str, where)
        start = need(VENDOR, part, "BeginOffsetMillis", int, where)
        end = need(VENDOR, part, "EndOffsetMillis", int, where)
        if not text:
            return None
        return segment(
            VENDOR, call_id, segment_id, _ROLES.get(role, Speaker.OTHER), start, end, text, final, at_ms
        )


def _checked(name: str, record: dict[str, Any]) -> Event:
    try:
        event = event_from_record(name, record)
    except InvalidEventError as error:
        raise InvalidEventError(error.reason, f"{VENDOR}: {error.detail}") from None
    assert isinstance(event, CallStarted | CallEnded)
    return event
