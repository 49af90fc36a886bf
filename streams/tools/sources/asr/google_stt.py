"""Google Cloud Speech-to-Text streaming: ``StreamingRecognizeResponse`` messages (JSON).

``{"results": [{"alternatives": [{"transcript", "confidence"}], "isFinal", "stability",
"resultEndTime": "1.500s", "channelTag", "languageCode"}], "speechEventType"}``. Google
gives a result no id and no start time: an utterance starts where the previous final
result of its channel ended, and that start names the segment (``<channelTag>-<start_ms>``).
This is the one parser that keeps state (per call and channel: the last final's end), so a
bridge restarted in the middle of an utterance starts that utterance again from 0 ms
(docs/asr-formats.md, limits).
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
        self.utterance_start: dict[tuple[str, int | None], int] = {}

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        check(VENDOR, message, Mapping, "StreamingRecognizeResponse")
        if message.get("error"):
            raise invalid(VENDOR, f"the response is an error: {message['error']!r:.80}")
        results = optional(VENDOR, message, "results", list, "response") or []
        partials: dict[int | None, list[tuple[str, int, float | None]]] = {}
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
                    partials.setdefault(channel, []).append((text, end, None))
                continue
            key = (call_id, channel)
            start = min(self.utterance_start.pop(key, 0), end)
            self.utterance_start[key] = end  # now the newest entry
            if len(self.utterance_start) > MAX_UTTERANCES:
                del self.utterance_start[next(iter(self.utterance_start))]
            if text:
                speaker = self.roles.speaker(None if channel is None else channel - 1)
                events.append(
                    segment(
                        VENDOR,
                        call_id,
                        f"{channel or 0}-{start}",
                        speaker,
                        start,
                        end,
                        text,
                        True,
                        at_ms,
                        confidence,
                    )
                )
        # the non-final results of a response, in order, are the hypothesis of what follows
        for channel, pieces in partials.items():
            start = self.utterance_start.get((call_id, channel), 0)
            end = max(start, max(piece[1] for piece in pieces))
            text = " ".join(piece[0] for piece in pieces)
            speaker = self.roles.speaker(None if channel is None else channel - 1)
            events.append(
                segment(VENDOR, call_id, f"{channel or 0}-{start}", speaker, start, end, text, False, at_ms)
            )
        return events

    def forget(self, call_id: str) -> None:
        for key in [k for k in self.utterance_start if k[0] == call_id]:
            del self.utterance_start[key]


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
