"""Golden tests of the live conversation signals, values computed by hand (docs/metrics.md,
"Live conversation signals")."""

from __future__ import annotations

import pytest

from streams.engine import CallMetrics, CallState, EngineConfig
from streams.wire.events import Speaker, TranscriptSegment

A, C = Speaker.AGENT, Speaker.CUSTOMER


def play(*segments: tuple[Speaker, int, int, str], config: EngineConfig | None = None) -> CallMetrics:
    state = CallState("c", config or EngineConfig())
    for n, (speaker, start, end, text) in enumerate(segments):
        state.apply(TranscriptSegment("c", f"s{n}", speaker, start, end, text))
    return state.metrics()


def test_dead_air_counts_silences_of_five_seconds_or_more() -> None:
    m = play(
        (A, 0, 10_000, "thanks for calling how can i help"),
        (C, 14_000, 20_000, "my card was declined at the store"),  # 4 s pause: thinking, not dead air
        (A, 27_000, 30_000, "let me look into that for you"),  # 7 s silence
        (C, 30_000, 40_000, "okay it happened twice this week"),
        (A, 75_000, 80_000, "thanks for waiting i have found it"),  # 35 s silence
    )
    call = m.window("call")
    assert call.dead_air_silences == 2
    assert call.dead_air_longest_seconds == 35.0
    assert call.dead_air_ratio == pytest.approx(42 / 80)
    # the 60 s window [20 s, 80 s]: both silences ended in it, and lie wholly inside it
    w60 = m.window("60s")
    assert (w60.dead_air_silences, w60.dead_air_longest_seconds) == (2, 35.0)
    assert w60.dead_air_ratio == pytest.approx(42 / 60)
    assert m.probable_holds == 1  # the 35 s silence, no hold event covers it
    assert (m.holds, m.hold_seconds) == (0, 0.0)


def test_a_silence_half_in_the_window_counts_its_part_inside() -> None:
    m = play((A, 0, 10_000, "hello there"), (C, 100_000, 130_000, "sorry i was away"))
    w60 = m.window("60s")  # [70 s, 130 s]: the 90 s silence ended inside, 30 s of it inside
    assert (w60.dead_air_silences, w60.dead_air_longest_seconds) == (1, 90.0)
    assert w60.dead_air_ratio == pytest.approx(30 / 60)


def test_overtalk_is_the_time_both_speak_backchannels_excluded() -> None:
    m = play(
        (A, 0, 10_000, "so the plan covers three lines and the data is shared"),
        (C, 8_000, 12_000, "wait i only need two lines"),  # 2 s overlap
        (A, 11_000, 20_000, "right two lines then with the same data"),  # 1 s overlap
        (C, 15_000, 16_000, "mhm"),  # a backchannel: listening, not overtalk
        (C, 20_000, 30_000, "and what does that cost per month"),
    )
    call = m.window("call")
    assert call.overtalk_ratio == pytest.approx(3 / 30)
    assert m.window("60s").overtalk_ratio == pytest.approx(3 / 30)  # the window is the call so far


def test_speech_rate_is_agent_words_per_minute_of_agent_speech() -> None:
    words = " ".join(["word"] * 50)
    m = play((A, 0, 20_000, words), (C, 20_000, 30_000, "okay"), (A, 30_000, 40_000, words))
    assert m.window("call").agent_words_per_minute == pytest.approx(100 / 0.5)  # 100 words in 30 s
    short = play((A, 0, 5_000, words))  # under 10 s of agent speech: no rate yet
    assert short.window("call").agent_words_per_minute is None


def test_interactivity_counts_turn_changes_per_minute() -> None:
    m = play(
        (A, 0, 10_000, "how are things with the new warehouse"),
        (C, 10_000, 20_000, "busy the sync keeps failing"),
        (A, 20_000, 25_000, "yeah"),  # a backchannel does not take the turn
        (C, 25_000, 40_000, "every night around two"),
        (A, 40_000, 60_000, "what happens to the orders then"),
        (C, 60_000, 120_000, "they wait until morning"),
    )
    # agent -> customer (10 s), customer -> agent (40 s), agent -> customer (60 s): 3 in 2 minutes
    assert m.window("call").speaker_switches_per_minute == pytest.approx(1.5)
    # the 60 s window [60 s, 120 s] has the switch at 60 s only
    assert m.window("60s").speaker_switches_per_minute == pytest.approx(1.0)


def test_objection_answered_with_a_question_and_one_with_a_pitch() -> None:
    m = play(
        (C, 0, 5_000, "honestly it is too expensive for us"),
        (A, 6_000, 10_000, "i hear you what budget did you have in mind"),  # waits 1 s, asks
        (C, 10_000, 15_000, "around two hundred a month"),
        (C, 20_000, 25_000, "and we already have a provider for that"),  # same turn: one objection
        (A, 24_500, 30_000, "our premium plan has the best features and a discount"),  # cuts in, pitches
    )
    assert m.objections == 2  # two customer turns with an objection
    assert m.objection_question_ratio == 0.5
    assert m.objection_pitch_ratio == 0.5
    assert m.objection_wait_seconds == pytest.approx((1.0 + -0.5) / 2)


def test_no_objection_leaves_the_ratios_undefined() -> None:
    m = play((C, 0, 5_000, "i would like to add a line"), (A, 5_000, 9_000, "sure which number"))
    assert m.objections == 0
    assert m.objection_question_ratio is None and m.objection_wait_seconds is None
