"""Property tests: arrival order, duplicates and revisions never change the metrics."""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.engine import CallMetrics, CallState, EngineConfig
from streams.wire.events import Speaker, TranscriptSegment

PHRASES = [
    "what are your goals this year",
    "do you have a budget",
    "tell me about your team",
    "mhm",
    "yeah",
    "our premium plan has a discount",
    "we built our product for you",
    "the invoices were late again",
    "this is terrible",
    "great thanks",
    "i see",
    "how does that affect your business",
    "okay",
    "the warehouse sync keeps failing",
    "let me explain our new feature",
    "you said the invoices",
    "honestly that is too expensive for us",
    "we already have a provider",
]
CONFIG = EngineConfig(late_tolerance_ms=30_000)


@st.composite
def calls(draw: st.DrawFn, max_segments: int = 60) -> list[TranscriptSegment]:
    """A plausible call: alternating runs, gaps and overlaps, segments of 0.2-25 s."""
    count = draw(st.integers(1, max_segments))
    now, segments = 0, []
    for n in range(count):
        speaker = draw(st.sampled_from([Speaker.AGENT, Speaker.CUSTOMER, Speaker.AGENT, Speaker.OTHER]))
        start = max(0, now + draw(st.integers(-3000, 8000)))
        end = start + draw(st.integers(200, 25_000))
        text = draw(st.sampled_from(PHRASES))
        segments.append(TranscriptSegment("c", f"s{n}", speaker, start, end, text))
        now = max(now, end) if draw(st.booleans()) else end
    return segments


def metrics_of(events: list[TranscriptSegment]) -> CallMetrics:
    state = CallState("c", CONFIG)
    for event in events:
        state.apply(event)
    return state.metrics()


def in_order(final: list[TranscriptSegment]) -> CallMetrics:
    return metrics_of(sorted(final, key=lambda s: (s.start_ms, s.end_ms)))


def messy_delivery(
    final: list[TranscriptSegment], rng: random.Random, max_delay_ms: int
) -> list[TranscriptSegment]:
    """The same final segments, delivered late (bounded), duplicated, revised, with interim results."""
    deliveries: list[tuple[float, int, TranscriptSegment]] = []
    for n, segment in enumerate(final):
        final_rev = segment.replace(revision=2)
        at = segment.end_ms + rng.uniform(0, max_delay_ms)
        deliveries.append((at, n, final_rev))
        if rng.random() < 0.3:  # an earlier revision with other text and timing, any time
            early = segment.replace(revision=1, text="okay so", end_ms=segment.end_ms + 500)
            deliveries.append((segment.end_ms + rng.uniform(0, max_delay_ms), n, early))
        if rng.random() < 0.3:  # a duplicate of the final revision
            deliveries.append((at + rng.uniform(0, 1000), n, final_rev))
        if rng.random() < 0.3:  # an interim result
            deliveries.append((segment.start_ms + 100.0, n, segment.replace(is_final=False)))
    deliveries.sort(key=lambda d: (d[0], d[1]))
    return [segment for _, _, segment in deliveries]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.randoms(use_true_random=False))
def test_any_order_duplicates_and_revisions_give_identical_metrics(
    final: list[TranscriptSegment], rng: random.Random
) -> None:
    expected = in_order([s.replace(revision=2) for s in final])
    # within the horizon: any permutation at all
    shuffled = messy_delivery(final, rng, max_delay_ms=10**9) if final[-1].end_ms < 180_000 else None
    if shuffled is not None:
        assert metrics_of(shuffled) == expected
    # long calls: late by up to the late tolerance (sealing happens in between)
    assert metrics_of(messy_delivery(final, rng, max_delay_ms=CONFIG.late_tolerance_ms // 2)) == expected


@settings(max_examples=40, deadline=None)
@given(calls(max_segments=200), st.randoms(use_true_random=False))
def test_long_calls_with_sealing_match_in_order(final: list[TranscriptSegment], rng: random.Random) -> None:
    expected = in_order(final)
    delivered = sorted(final, key=lambda s: s.end_ms + rng.uniform(0, CONFIG.late_tolerance_ms / 2))
    assert metrics_of(delivered) == expected


@settings(max_examples=150, deadline=None)
@given(calls())
def test_ratios_stay_in_range(final: list[TranscriptSegment]) -> None:
    m = in_order(final)
    for window in m.windows:
        for name in (
            "agent_talk_ratio",
            "open_question_ratio",
            "you_focus_ratio",
            "pitch_ratio",
            "reflection_ratio",
            "dead_air_ratio",
            "overtalk_ratio",
        ):
            value = getattr(window, name)
            assert value is None or 0.0 <= value <= 1.0, (name, value)
        assert window.customer_sentiment is None or -1.0 <= window.customer_sentiment <= 1.0
        assert window.questions_per_minute is None or window.questions_per_minute >= 0
        assert window.response_gap_seconds is None or window.response_gap_seconds >= 0
        assert window.dead_air_silences >= 0 and window.dead_air_longest_seconds >= 0
        assert window.speaker_switches_per_minute is None or window.speaker_switches_per_minute >= 0
        assert window.agent_words_per_minute is None or window.agent_words_per_minute >= 0
    for name in ("objection_question_ratio", "objection_pitch_ratio"):
        value = getattr(m, name)
        assert value is None or 0.0 <= value <= 1.0, (name, value)
    assert m.objections >= 0 and 0 <= m.probable_holds <= m.window("call").dead_air_silences
    assert m.customer_focus_score is None or 0.0 <= m.customer_focus_score <= 100.0
    assert 0.0 <= m.monologue_current_seconds <= m.monologue_longest_seconds


@settings(max_examples=150, deadline=None)
@given(calls(max_segments=120))
def test_windows_never_count_speech_outside_them(final: list[TranscriptSegment]) -> None:
    m = in_order(final)
    now = max(s.end_ms for s in final)
    for width, window in zip(CONFIG.windows_ms, m.windows, strict=False):
        lo = now - width
        for speaker, got in (
            (Speaker.AGENT, window.agent_speech_seconds),
            (Speaker.CUSTOMER, window.customer_speech_seconds),
        ):
            inside = sum(max(0, s.end_ms - max(s.start_ms, lo)) for s in final if s.speaker is speaker)
            assert abs(got * 1000 - inside) < 1e-6
    call = m.window("call")
    agent_ms = sum(s.end_ms - s.start_ms for s in final if s.speaker is Speaker.AGENT)
    assert abs(call.agent_speech_seconds * 1000 - agent_ms) < 1e-6


@settings(max_examples=80, deadline=None)
@given(calls(max_segments=150), st.randoms(use_true_random=False), st.integers(0, 149))
def test_state_survives_serialisation_at_any_point(
    final: list[TranscriptSegment], rng: random.Random, cut: int
) -> None:
    import json

    delivered = messy_delivery(final, rng, max_delay_ms=CONFIG.late_tolerance_ms // 2)
    cut = min(cut, len(delivered))
    state = CallState("c", CONFIG)
    for event in delivered[:cut]:
        state.apply(event)
    restored = CallState.from_dict(json.loads(json.dumps(state.to_dict())), CONFIG)
    assert restored.metrics() == state.metrics()
    # the worker's JSON, tail rows made once per utterance, is the same data, before and
    # after further segments (rows cached on the first write are reused)
    assert json.loads(restored.to_json()) == json.loads(json.dumps(state.to_dict()))
    for index, event in enumerate(delivered[cut:]):
        restored.apply(event)
        if index % 3 == 0:  # as the worker does after a batch: rows made before the write
            restored.make_new_rows()
    assert restored.metrics() == metrics_of(delivered)
    assert json.loads(restored.to_json()) == json.loads(json.dumps(restored.to_dict()))


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _inside(spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in spans)


@settings(max_examples=150, deadline=None)
@given(calls(max_segments=120))
def test_dead_air_and_overtalk_match_a_brute_force_over_intervals(final: list[TranscriptSegment]) -> None:
    """Silences and overlaps computed the slow, obvious way: unions of intervals."""
    m = in_order(final)
    now = max(s.end_ms for s in final)
    analyzer = CallState("c", CONFIG).analyzer
    everyone = _union([(s.start_ms, s.end_ms) for s in final])
    silences = [
        (a_end, b_start)
        for (_, a_end), (b_start, _) in itertools.pairwise(everyone)
        if b_start - a_end >= CONFIG.dead_air_ms
    ]

    def speech(speaker: Speaker) -> list[tuple[int, int]]:
        return _union(
            [
                (s.start_ms, s.end_ms)
                for s in final
                if s.speaker is speaker
                and not analyzer.is_backchannel(s.text.split(), CONFIG.backchannel_max_words)
            ]
        )

    agent, customer = speech(Speaker.AGENT), speech(Speaker.CUSTOMER)
    both = [(max(a, c), min(b, d)) for a, b in agent for c, d in customer if min(b, d) > max(a, c)]
    for width, window in [*zip(CONFIG.windows_ms, m.windows, strict=False), (now, m.window("call"))]:
        lo, span = now - width, min(width, now)
        ended = [b - a for a, b in silences if b > lo]
        assert window.dead_air_silences == len(ended)
        assert window.dead_air_longest_seconds == max(ended, default=0) / 1000
        if span > 0:
            assert window.dead_air_ratio == _inside(silences, lo, now) / span
            assert abs(window.overtalk_ratio - _inside(both, lo, now) / span) < 1e-12
