"""Per-call state and the metrics computed from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streams.errors import InvalidEventError
from streams.events import CallEnded, CallStarted, Speaker, TranscriptSegment

FUTURE_TOLERANCE_MS = 10 * 60 * 1000


class SegmentOutcome(StrEnum):
    APPLIED = "applied"
    INTERIM = "interim"
    DUPLICATE = "duplicate"
    STALE_REVISION = "stale_revision"


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    window: str
    agent_talk_ratio: float | None


class CallState:
    """Everything callfocus knows about one call; updated one event at a time."""

    __slots__ = ("call_id", "ended", "meta", "now_ms", "segments", "windows_ms")

    def __init__(self, call_id: str, windows_ms: tuple[int, ...] = (60_000, 180_000)) -> None:
        self.call_id = call_id
        self.windows_ms = windows_ms
        self.meta: CallStarted | None = None
        self.ended: CallEnded | None = None
        self.now_ms = 0
        self.segments: dict[str, TranscriptSegment] = {}

    def start(self, event: CallStarted) -> None:
        self.meta = event

    def end(self, event: CallEnded) -> None:
        if self.ended is None:
            self.ended = event

    def check(self, segment: TranscriptSegment) -> None:
        """Raise InvalidEventError if this call cannot accept ``segment``; changes nothing."""
        if self.ended is not None:
            raise InvalidEventError(
                "call_ended", f"segment {segment.segment_id!r} after call {self.call_id!r} ended"
            )
        if self.segments and segment.start_ms > self.now_ms + FUTURE_TOLERANCE_MS:
            raise InvalidEventError(
                "start_in_future",
                f"segment {segment.segment_id!r} starts at {segment.start_ms} ms, "
                f"more than {FUTURE_TOLERANCE_MS // 1000} s after the call's media time {self.now_ms} ms",
            )

    def apply(self, segment: TranscriptSegment) -> SegmentOutcome:
        self.check(segment)
        if not segment.is_final:
            return SegmentOutcome.INTERIM
        known = self.segments.get(segment.segment_id)
        if known is not None:
            if segment.revision == known.revision:
                return SegmentOutcome.DUPLICATE
            if segment.revision < known.revision:
                return SegmentOutcome.STALE_REVISION
        self.segments[segment.segment_id] = segment
        self.now_ms = max(s.end_ms for s in self.segments.values())
        return SegmentOutcome.APPLIED

    def speech_ms(self, window_ms: int | None) -> tuple[int, int]:
        """Agent and customer speech in ``[now - window, now]`` (whole call for None)."""
        lo = 0 if window_ms is None else self.now_ms - window_ms
        agent = customer = 0
        for s in self.segments.values():
            inside = min(s.end_ms, self.now_ms) - max(s.start_ms, lo)
            if inside <= 0:
                continue
            if s.speaker is Speaker.AGENT:
                agent += inside
            elif s.speaker is Speaker.CUSTOMER:
                customer += inside
        return agent, customer

    def agent_talk_ratio(self, window_ms: int | None) -> float | None:
        agent, customer = self.speech_ms(window_ms)
        total = agent + customer
        return agent / total if total else None

    def window_metrics(self) -> list[WindowMetrics]:
        windows: list[tuple[str, int | None]] = [(f"{w // 1000}s", w) for w in self.windows_ms]
        windows.append(("call", None))
        return [WindowMetrics(label, self.agent_talk_ratio(ms)) for label, ms in windows]
