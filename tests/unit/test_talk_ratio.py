"""Hand-computed talk ratios, windows clipping, and order independence."""

from __future__ import annotations

import itertools

import pytest

from streams.engine import CallState, SegmentOutcome
from streams.errors import InvalidEventError
from streams.wire.events import CallEnded, Speaker, TranscriptSegment


def seg(
    sid: str, speaker: str, start: int, end: int, revision: int = 0, final: bool = True
) -> TranscriptSegment:
    return TranscriptSegment(
        "c", sid, Speaker(speaker), start, end, "words here", revision=revision, is_final=final
    )


def ratios(segments: list[TranscriptSegment]) -> dict[str, float | None]:
    state = CallState("c")
    for s in segments:
        state.apply(s)
    return {w.window: w.agent_talk_ratio for w in state.metrics().windows}


def test_golden_ratio_whole_call_and_clipped_windows() -> None:
    # agent 0-100 s, customer 100-160 s, agent 160-200 s. now = 200 s.
    segments = [
        seg("a", "AGENT", 0, 100_000),
        seg("b", "CUSTOMER", 100_000, 160_000),
        seg("c", "AGENT", 160_000, 200_000),
    ]
    got = ratios(segments)
    assert got["call"] == pytest.approx(140 / 200)
    # 180 s window = [20 s, 200 s]: agent 80 + 40, customer 60
    assert got["180s"] == pytest.approx(120 / 180)
    # 60 s window = [140 s, 200 s]: agent 40, customer 20
    assert got["60s"] == pytest.approx(40 / 60)


def test_no_speech_means_no_ratio_and_other_speakers_do_not_count() -> None:
    assert ratios([])["call"] is None
    assert ratios([seg("x", "OTHER", 0, 5000)])["call"] is None
    assert ratios([seg("x", "OTHER", 0, 5000), seg("y", "CUSTOMER", 0, 1000)])["call"] == 0.0


def test_any_arrival_order_duplicates_and_revisions_give_the_same_result() -> None:
    final = [
        seg("a", "AGENT", 0, 10_000, revision=1),
        seg("b", "CUSTOMER", 10_000, 30_000),
        seg("c", "AGENT", 30_000, 70_000),
    ]
    noise = [
        seg("a", "AGENT", 0, 50_000),
        seg("b", "CUSTOMER", 10_000, 30_000),
        seg("c", "AGENT", 0, 1, final=False),
    ]
    expected = ratios(final)
    for order in itertools.permutations(final + noise):
        assert ratios(list(order)) == expected


def test_outcomes_and_validation() -> None:
    state = CallState("c")
    assert state.apply(seg("a", "AGENT", 0, 1000)) is SegmentOutcome.APPLIED
    assert state.apply(seg("a", "AGENT", 0, 1000)) is SegmentOutcome.DUPLICATE
    assert state.apply(seg("a", "AGENT", 0, 2000, revision=1)) is SegmentOutcome.APPLIED
    assert state.apply(seg("a", "AGENT", 0, 9000, revision=0)) is SegmentOutcome.STALE_REVISION
    assert state.apply(seg("b", "AGENT", 0, 9000, final=False)) is SegmentOutcome.INTERIM
    with pytest.raises(InvalidEventError) as far:
        state.apply(seg("f", "AGENT", 3_600_000, 3_601_000))
    assert far.value.reason == "start_in_future"
    state.end(CallEnded("c", 5))
    with pytest.raises(InvalidEventError) as ended:
        state.apply(seg("z", "AGENT", 2000, 3000))
    assert ended.value.reason == "call_ended"
    assert state.agent_talk_ratio(None) == 1.0 and state.now_ms == 2000
