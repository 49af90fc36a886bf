"""Whisper-style segment JSON, as written by Whisper, faster-whisper, WhisperX and
diarizing tools around them: ``{"segments": [{"id", "start", "end", "text", "speaker"}]}``
(times in seconds; ``speaker`` optional). A file is a finished transcript: every segment
is final. ``speaker`` is a number or a label ending in one (pyannote's ``SPEAKER_00``),
mapped with the channel roles, or ``AGENT``/``CUSTOMER`` as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from streams.tools.sources.asr import ChannelRoles, check, invalid, need, optional, seconds_ms, segment
from streams.wire.events import Event, Speaker

VENDOR = "whisper"
_NUMBERED = re.compile(r"(?:[A-Za-z_ -]*?)(\d+)")


class WhisperParser:
    def __init__(self, roles: ChannelRoles) -> None:
        self.roles = roles

    def parse(self, message: Any, call_id: str, at_ms: int) -> list[Event]:
        if isinstance(message, list):
            message = {"segments": message}
        events = []
        for n, item in enumerate(need(VENDOR, message, "segments", list, "document")):
            where = f"segments[{n}]"
            check(VENDOR, item, Mapping, where)
            ident = item.get("id", n)
            if isinstance(ident, bool) or not isinstance(ident, int | str):
                raise invalid(VENDOR, f"{where}.id is {ident!r:.40}, not a number or a string")
            start = seconds_ms(VENDOR, need(VENDOR, item, "start", (int, float), where), f"{where}.start")
            end = seconds_ms(VENDOR, need(VENDOR, item, "end", (int, float), where), f"{where}.end")
            text = need(VENDOR, item, "text", str, where).strip()
            if not text:
                continue
            speaker = self._speaker(optional(VENDOR, item, "speaker", (str, int), where), where)
            events.append(segment(VENDOR, call_id, str(ident), speaker, start, end, text, True, at_ms))
        return events

    def _speaker(self, label: str | int | None, where: str) -> Speaker:
        if label is None:
            return Speaker.OTHER
        if isinstance(label, int):
            return self.roles.speaker(label)
        if label.upper() in ("AGENT", "CUSTOMER"):
            return Speaker(label.upper())
        match = _NUMBERED.fullmatch(label)
        if match is None:
            raise invalid(
                VENDOR, f"{where}.speaker is {label!r:.40}: not a number, SPEAKER_<n>, AGENT or CUSTOMER"
            )
        return self.roles.speaker(int(match.group(1)))
