"""Amazon Transcribe streaming: ``TranscriptEvent`` messages.

``{"Transcript": {"Results": [{"ResultId", "StartTime", "EndTime", "IsPartial", "ChannelId",
"Alternatives": [{"Transcript", "Items": [...]}]}]}}`` (or the same wrapped in
``{"TranscriptEvent": ...}``), times in seconds. A result id stays the same while the
result is partial and through its final version: it is the segment id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from streams.tools.sources.asr import ChannelRoles, check, invalid, need, optional, seconds_ms, segment
from streams.wire.events import Event

VENDOR = "transcribe"


class TranscribeParser:
    def __init__(self, roles: ChannelRoles) -> None:
        self.roles = roles

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        if isinstance(message, Mapping) and "TranscriptEvent" in message:
            message = message["TranscriptEvent"]
        transcript = need(VENDOR, message, "Transcript", Mapping, "TranscriptEvent")
        results = need(VENDOR, transcript, "Results", list, "Transcript")
        events = []
        for n, result in enumerate(results):
            event = self._result(result, f"Results[{n}]", call_id, at_ms)
            if event is not None:
                events.append(event)
        return events

    def _result(self, result: Any, where: str, call_id: str, at_ms: int) -> Event | None:
        result_id = need(VENDOR, result, "ResultId", str, where)
        start = seconds_ms(
            VENDOR, need(VENDOR, result, "StartTime", (int, float), where), f"{where}.StartTime"
        )
        end = seconds_ms(VENDOR, need(VENDOR, result, "EndTime", (int, float), where), f"{where}.EndTime")
        partial = need(VENDOR, result, "IsPartial", bool, where)
        alternatives = need(VENDOR, result, "Alternatives", list, where)
        if not alternatives:
            return None
        best = check(VENDOR, alternatives[0], Mapping, f"{where}.Alternatives[0]")
        text = (optional(VENDOR, best, "Transcript", str, f"{where}.Alternatives[0]") or "").strip()
        if not text:
            return None
        items = optional(VENDOR, best, "Items", list, f"{where}.Alternatives[0]") or []
        channel = self._channel(result, items, where)
        confidences = [
            i["Confidence"]
            for i in items
            if isinstance(i, Mapping) and isinstance(i.get("Confidence"), int | float)
        ]
        confidence = sum(confidences) / len(confidences) if confidences else None
        return segment(
            VENDOR,
            call_id,
            result_id,
            self.roles.speaker(channel),
            start,
            end,
            text,
            not partial,
            at_ms,
            confidence,
        )

    def _channel(self, result: Mapping[str, Any], items: list[Any], where: str) -> int | None:
        """``ChannelId`` ("ch_0") with channel identification, else the most frequent item
        ``Speaker`` ("0") with speaker partitioning, else none."""
        channel = optional(VENDOR, result, "ChannelId", str, where)
        if channel is not None:
            number = channel.removeprefix("ch_")
            if not number.isdigit():
                raise invalid(VENDOR, f"{where}.ChannelId is {channel!r}, not ch_<number>")
            return int(number)
        speakers = Counter(
            str(i["Speaker"]) for i in items if isinstance(i, Mapping) and i.get("Speaker") is not None
        )
        if not speakers:
            return None
        speaker = speakers.most_common(1)[0][0]
        if not speaker.isdigit():
            raise invalid(VENDOR, f"{where} item Speaker is {speaker!r}, not a number")
        return int(speaker)
