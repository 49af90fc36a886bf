"""Recorded calls: the project's JSONL event format and the Harper Valley corpus."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streams.wire.events import CallEnded, CallStarted, Event, HoldEnded, HoldStarted, TranscriptSegment

Format = Literal["jsonl", "harper-valley"]


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """An event and when it happens, in ms from the start of its call."""

    at_ms: int
    event: Event


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded call as the ordered events a live system would have sent."""

    call_id: str
    events: tuple[TimedEvent, ...]

    @property
    def segments(self) -> list[TranscriptSegment]:
        return [t.event for t in self.events if isinstance(t.event, TranscriptSegment)]

    @property
    def started(self) -> CallStarted | None:
        return next((t.event for t in self.events if isinstance(t.event, CallStarted)), None)


def timeline(call_id: str, events: list[Event]) -> Recording:
    """Place a call's events on its media timeline: start at 0, segments when they end,
    holds at their ``at_ms``."""
    started = next((e for e in events if isinstance(e, CallStarted)), None)
    last_end = max((e.end_ms for e in events if isinstance(e, TranscriptSegment)), default=0)
    timed = []
    for event in events:
        if isinstance(event, CallStarted):
            at = 0
        elif isinstance(event, TranscriptSegment):
            at = event.end_ms
        elif isinstance(event, HoldStarted | HoldEnded):
            at = event.at_ms
        elif started is not None and event.ended_at >= started.started_at:
            at = max(event.ended_at - started.started_at, last_end)
        else:
            at = last_end
        timed.append(TimedEvent(at, event))
    timed.sort(key=lambda t: (t.at_ms, not isinstance(t.event, CallStarted), isinstance(t.event, CallEnded)))
    return Recording(call_id, tuple(timed))


def read_recordings(
    path: Path, fmt: Format = "jsonl", transcript: str = "human", limit: int | None = None
) -> list[Recording]:
    if fmt == "jsonl":
        from streams.tools.sources.jsonl import read_jsonl

        recordings = read_jsonl(path)
    else:
        from streams.tools.sources.harper_valley import read_harper_valley

        recordings = read_harper_valley(path, transcript=transcript)
    return recordings[:limit] if limit is not None else recordings
