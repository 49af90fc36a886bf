"""Google Cloud Speech-to-Text streaming: ``StreamingRecognizeResponse`` messages (JSON).

``{"results": [{"alternatives": [{"transcript", "confidence"}], "isFinal", "stability",
"resultEndTime": "1.500s", "channelTag", "languageCode"}], "speechEventType"}``. Google
gives a result no id and no start time: an utterance starts where the previous final
result of its channel ended, and that start names the segment (``<channelTag>-<start_ms>``).
This is the one parser that keeps state (per call and channel: the current utterance's
start and id). The first utterance of a channel this parser sees starts at 0 ms and is
named after its first record's timestamp (``<channelTag>-r<at_ms>``): after a bridge
restart in mid-call that id is new, so it cannot replace an utterance sent before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from streams.tools.sources.asr import ChannelRoles, check, invalid, need, optional, segment
from streams.wire.events import Event

VENDOR = "google-stt"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
# calls x channels remembered; a call's oldest entries go first (Google sends no call end)
MAX_UTTERANCES = 100_000


class GoogleSttParser:
    def __init__(self, roles: ChannelRoles) -> None:
        self.roles = roles
        # (call, channelTag) -> (start_ms, segment_id) of the utterance being recognised
        self.utterances: dict[tuple[str, int | None], tuple[int, str]] = {}

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        check(VENDOR, message, Mapping, "StreamingRecognizeResponse")
        if message.get("error"):
            raise invalid(VENDOR, f"the response is an error: {message['error']!r:.80}")
        results = optional(VENDOR, message, "results", list, "response") or []
        partials: dict[int | None, list[tuple[str, int]]] = {}
        events = []
        for n, result in enumerate(results):
            where = f"results[{n}]"
            alternatives = need(VENDOR, result, "alternatives", list, where)
            end = duration_ms(
                need(VENDOR, result, "resultEndTime", (str, Mapping), where), f"{where}.resultEndTime"
            )
            channel = optional(VENDOR, result, "channelTag", int, where)
            final = bool(optional(VENDOR, result, "isFinal", bool, where))
            best = check(VENDOR, alternatives[0], Mapping, f"{where}.alternatives[0]") if alternatives else {}
            text = (optional(VENDOR, best, "transcript", str, f"{where}.alternatives[0]") or "").strip()
            confidence = optional(VENDOR, best, "confidence", (int, float), f"{where}.alternatives[0]")
            if not final:
                if text:
                    partials.setdefault(channel, []).append((text, end))
                continue
            start, segment_id = self._current(call_id, channel, at_ms)
            start = min(start, end)
            self._set(call_id, channel, (end, f"{channel or 0}-{end}"))  # the next one starts here
            if text:
                speaker = self.roles.speaker(None if channel is None else channel - 1)
                events.append(
                    segment(VENDOR, call_id, segment_id, speaker, start, end, text, True, at_ms, confidence)
                )
        # the non-final results of a response, in order, are the hypothesis of what follows
        for channel, pieces in partials.items():
            start, segment_id = self._current(call_id, channel, at_ms)
            end = max(start, max(piece[1] for piece in pieces))
            text = " ".join(piece[0] for piece in pieces)
            speaker = self.roles.speaker(None if channel is None else channel - 1)
            events.append(segment(VENDOR, call_id, segment_id, speaker, start, end, text, False, at_ms))
        return events

    def _current(self, call_id: str, channel: int | None, at_ms: int) -> tuple[int, str]:
        known = self.utterances.get((call_id, channel))
        if known is None:
            known = (0, f"{channel or 0}-r{at_ms}")
            self._set(call_id, channel, known)
        return known

    def _set(self, call_id: str, channel: int | None, utterance: tuple[int, str]) -> None:
        key = (call_id, channel)
        self.utterances.pop(key, None)
        self.utterances[key] = utterance  # the newest entry: the oldest go first
        if len(self.utterances) > MAX_UTTERANCES:
            del self.utterances[next(iter(self.utterances))]


def duration_ms(value: Any, where: str) -> int:
    """A protobuf Duration in its JSON form ("1.500s") or as ``{"seconds", "nanos"}``."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise invalid(VENDOR, f"{where} is {value!r:.40}, not a duration like '1.500s'")
        return round(float(match.group(1)) * 1000)
    seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
    try:
        total = int(seconds) * 1000 + int(nanos) // 1_000_000
    except (TypeError, ValueError):
        raise invalid(VENDOR, f"{where} is {dict(value)!r:.60}, not {{seconds, nanos}}") from None
    if total < 0:
        raise invalid(VENDOR, f"{where} is negative")
    return total
