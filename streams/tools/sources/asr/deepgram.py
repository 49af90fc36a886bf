"""Deepgram live streaming (``/v1/listen`` over WebSocket): ``Results`` messages.

``{"type": "Results", "channel_index": [channel, channels], "start", "duration",
"is_final", "speech_final", "channel": {"alternatives": [{"transcript", "confidence",
"words": [{"word", "start", "end", "speaker"}]}]}}``, times in seconds. Interim results of
a piece of audio share its ``start``; ``is_final`` closes that piece, and the next piece
starts where it ended. So ``<channel>-<start_ms>`` names a segment, without state.
``speech_final`` (an end of speech) needs nothing more: each final piece is a segment.
A ``Metadata`` message (sent when the stream closes) ends the call; ``UtteranceEnd`` and
``SpeechStarted`` carry no text and are skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from streams.errors import InvalidEventError
from streams.tools.sources.asr import ChannelRoles, check, invalid, need, optional, seconds_ms, segment
from streams.wire.events import Event, event_from_record

VENDOR = "deepgram"
_SKIPPED = {"UtteranceEnd", "SpeechStarted", "Finalize", "KeepAlive"}


class DeepgramParser:
    def __init__(self, roles: ChannelRoles) -> None:
        self.roles = roles

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        kind = need(VENDOR, message, "type", str, "message")
        if kind == "Metadata":
            try:
                return [
                    event_from_record(
                        "CallEnded", {"call_id": call_id, "ended_at": at_ms, "reason": "completed"}
                    )
                ]
            except InvalidEventError as error:
                raise InvalidEventError(error.reason, f"{VENDOR}: {error.detail}") from None
        if kind in _SKIPPED:
            return []
        if kind != "Results":
            raise invalid(
                VENDOR, f"message type {kind!r} is not Results, Metadata, UtteranceEnd or SpeechStarted"
            )
        start = seconds_ms(VENDOR, need(VENDOR, message, "start", (int, float), "Results"), "Results.start")
        length = seconds_ms(
            VENDOR, need(VENDOR, message, "duration", (int, float), "Results"), "Results.duration"
        )
        final = bool(optional(VENDOR, message, "is_final", bool, "Results"))
        index = optional(VENDOR, message, "channel_index", list, "Results") or [0, 1]
        channel = check(VENDOR, index[0], int, "Results.channel_index[0]") if index else 0
        channels = index[1] if len(index) > 1 and isinstance(index[1], int) else 1
        alternatives = need(
            VENDOR,
            need(VENDOR, message, "channel", Mapping, "Results"),
            "alternatives",
            list,
            "Results.channel",
        )
        if not alternatives:
            return []
        best = check(VENDOR, alternatives[0], Mapping, "Results.channel.alternatives[0]")
        text = (optional(VENDOR, best, "transcript", str, "Results.channel.alternatives[0]") or "").strip()
        if not text:
            return []
        confidence = optional(VENDOR, best, "confidence", (int, float), "Results.channel.alternatives[0]")
        words = optional(VENDOR, best, "words", list, "Results.channel.alternatives[0]") or []
        speakers = Counter(
            w["speaker"] for w in words if isinstance(w, Mapping) and isinstance(w.get("speaker"), int)
        )
        if channels > 1:
            party: int | None = channel
        elif speakers:
            party = speakers.most_common(1)[0][0]  # diarized mono: the piece's main speaker
        else:
            party = None  # mono, not diarized: the parties cannot be told apart
        return [
            segment(
                VENDOR,
                call_id,
                f"{channel}-{start}",
                self.roles.speaker(party),
                start,
                start + length,
                text,
                final,
                at_ms,
                confidence,
            )
        ]
