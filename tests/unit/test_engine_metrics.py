"""Hand-computed golden values for every metric of docs/metrics.md on small crafted calls."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.engine import CallMetrics, CallState, EngineConfig, ScoreComponent
from streams.engine.call import _median, _median_of_counts
from streams.engine.sentiment import vader_lexicon
from streams.errors import InvalidEventError
from streams.wire.events import CallEnded, CallStarted, Speaker, TranscriptSegment

A, C = Speaker.AGENT, Speaker.CUSTOMER


def call(
    *segments: tuple[Speaker, float, float, str],
    started: CallStarted | None = None,
    config: EngineConfig | None = None,
) -> CallMetrics:
    """Segments as (speaker, start s, end s, text)."""
    state = CallState("c", config or EngineConfig())
    if started is not None:
        state.start(started)
    for n, (speaker, start, end, text) in enumerate(segments):
        state.apply(TranscriptSegment("c", f"s{n}", speaker, int(start * 1000), int(end * 1000), text))
    return state.metrics()


def test_monologue_is_not_broken_by_customer_backchannels() -> None:
    m = call(
        (A, 0, 30, "let me explain how the plan works"),
        (C, 31, 32, "uh-huh"),
        (A, 33, 60, "and then the second part of the plan"),
    )
    assert m.monologue_current_seconds == 60.0 and m.monologue_longest_seconds == 60.0
    m = call(
        (A, 0, 30, "let me explain how the plan works"),
        (C, 31, 32, "uh-huh"),
        (A, 33, 60, "and then the second part"),
        (C, 61, 70, "that does not fit our warehouse at all"),
    )
    assert m.monologue_current_seconds == 0.0 and m.monologue_longest_seconds == 60.0
    m = call((A, 0, 30, "one"), (C, 31, 40, "that does not fit our warehouse"), (A, 41, 50, "i hear you"))
    assert m.monologue_current_seconds == 9.0 and m.monologue_longest_seconds == 30.0


def test_customer_story_is_not_broken_by_agent_backchannels() -> None:
    m = call(
        (C, 0, 20, "so our shipments started arriving late in march"),
        (A, 21, 22, "mhm"),
        (C, 23, 50, "and then the warehouse lost two pallets"),
        (A, 51, 55, "what happened next"),
    )
    assert m.customer_story_longest_seconds == 50.0
    m = call(
        (C, 0, 20, "so our shipments started arriving late"),
        (A, 21, 24, "why was that"),
        (C, 25, 30, "the carrier changed"),
    )
    assert m.customer_story_longest_seconds == 20.0


def test_questions_per_minute_and_open_ratio_without_punctuation() -> None:
    m = call(
        (A, 0, 10, "what are your goals for this year"),
        (C, 10, 20, "growth mostly"),
        (A, 20, 30, "do you have a budget for it"),
        (C, 30, 40, "some"),
        (A, 40, 50, "tell me about your team"),
        (C, 50, 60, "twelve people"),
    )
    window = m.window("60s")
    assert window.questions == 3 and window.questions_per_minute == pytest.approx(3.0)
    assert window.open_question_ratio == pytest.approx(2 / 3)
    # the call is 30 s long: questions per minute use the call's length, not the window's
    short = call((A, 0, 10, "how is your team doing"), (A, 10, 30, "okay"))
    assert short.window("180s").questions_per_minute == pytest.approx(1 / 0.5)


def test_ritual_opener_with_the_greeting_is_not_a_question() -> None:
    m = call((A, 0, 4, "hello this is contoso my name is ana how can i help you today"))
    assert m.window("call").questions == 0
    m = call((A, 0, 4, "how can i help you today"))
    assert m.window("call").questions == 1


def test_you_focus_counts_pronouns_and_organisation_names() -> None:
    started = CallStarted("c", 0, customer_org="Fabrikam", seller_org="Contoso;Contoso Cloud")
    m = call(
        (A, 0, 5, "you said your team at fabrikam"),
        (A, 5, 10, "we at contoso cloud think our"),
        started=started,
    )
    # customer: you, your, fabrikam = 3; self: we, contoso cloud (one name), our = 3
    assert m.window("call").you_focus_ratio == pytest.approx(3 / 6)
    assert m.window("call").reference_words == 6


def test_pitch_ratio_is_offer_utterances_among_offer_and_situation_ones() -> None:
    m = call(
        (A, 0, 5, "our premium plan has a discount"),
        (A, 5, 10, "what is your biggest challenge"),
        (A, 10, 15, "the new feature launched last week"),
        (A, 15, 20, "okay"),
    )
    assert m.window("call").pitch_ratio == pytest.approx(2 / 3)


def test_reflection_reuses_the_customer_turn_words() -> None:
    m = call(
        (C, 0, 5, "our invoices are always late"),
        (A, 6, 10, "late invoices hurt cash flow"),
        (C, 11, 15, "the warehouse sync fails"),
        (A, 16, 20, "let me tell you about our plan"),
    )
    assert m.window("call").reflection_ratio == pytest.approx(1 / 2)


def test_interruptions_need_overlap_with_a_customer_turn() -> None:
    m = call(
        (C, 0, 10, "so the thing with our supplier is complicated"),
        (A, 3, 4, "mhm"),  # a backchannel: listening, not interrupting
        (A, 5, 8, "sorry let me stop you there"),  # 3 s overlap
        (C, 20, 30, "we changed suppliers in may last year"),
        (A, 29.8, 32, "right and the contract"),
    )  # 200 ms overlap: not an interruption
    assert m.window("call").interruptions == 1
    assert m.window("60s").interruptions == 1


def test_response_gap_is_the_median_pause_before_the_agent_answers() -> None:
    m = call(
        (C, 0, 10, "question one about billing"),
        (A, 11.5, 15, "answer one"),
        (C, 16, 20, "question two about billing"),
        (A, 20.5, 25, "answer two"),
        (C, 26, 30, "question three about billing"),
        (A, 33, 35, "answer three"),
    )
    assert m.window("call").response_gap_seconds == pytest.approx(1.5)
    assert m.window("60s").response_gap_seconds == pytest.approx(1.5)


def _compound(words: list[str]) -> float:
    total = sum(vader_lexicon().get(w, 0.0) for w in words)
    return total / math.sqrt(total * total + 15) if total else 0.0


def test_customer_sentiment_is_word_weighted() -> None:
    m = call((C, 0, 5, "this is terrible"), (C, 5, 10, "great"), (A, 10, 12, "i am sorry"))
    expected = (_compound(["this", "is", "terrible"]) * 3 + _compound(["great"]) * 1) / 4
    assert m.window("call").customer_sentiment == pytest.approx(expected, abs=1e-6)
    assert m.window("call").customer_sentiment is not None and m.window("call").customer_sentiment < 0
    assert call((C, 0, 3, "i am not happy")).window("call").customer_sentiment < 0  # type: ignore[operator]


def test_customer_focus_score_blends_graded_components() -> None:
    # agent 40 s, customer 60 s -> talk 0.4 (grade 1); monologue 20 s (1); 2 open questions
    # in 100 s = 12 per 10 min (1); you-focus 1/1 (1); reflection 0/1 (0); interruptions 0 (1)
    m = call(
        (A, 0, 20, "what brings you here today"),
        (C, 20, 80, "a long story about invoices"),
        (A, 80, 100, "how does that affect the quarter"),
    )
    components = {part.name: part.grade for part in m.score_components}
    assert components == {
        "talk_balance": 1.0,
        "longest_monologue": 1.0,
        "open_questions": 1.0,
        "you_focus": 1.0,
        "reflection": 0.0,
        "interruptions": 1.0,
    }
    weights = EngineConfig().score
    expected = 100 * (1 - weights.reflection.weight)  # weights sum to 1
    assert m.customer_focus_score == pytest.approx(expected)
    assert ScoreComponent(1, best=0.45, worst=0.80).grade(0.625) == pytest.approx(0.5)


def test_windows_clip_partial_segments_and_count_questions_by_share() -> None:
    # now = 200 s; the 60 s window [140, 200] holds 20 of the 40 s question segment
    m = call((A, 120, 160, "what happened to your shipments"), (C, 160, 200, "the carrier lost them"))
    window = m.window("60s")
    assert window.agent_speech_seconds == pytest.approx(20.0)
    assert window.questions == pytest.approx(0.5)
    assert window.agent_talk_ratio == pytest.approx(20 / 60)


def test_invalid_segment_changes_nothing() -> None:
    state = CallState("c")
    state.apply(TranscriptSegment("c", "1", A, 0, 5000, "what are your goals"))
    before = state.metrics()
    with pytest.raises(InvalidEventError) as caught:
        state.apply(TranscriptSegment("other", "2", A, 0, 5000, "x"))
    assert caught.value.reason == "wrong_call"
    state.end(CallEnded("c", 1))
    with pytest.raises(InvalidEventError):
        state.apply(TranscriptSegment("c", "3", C, 5000, 6000, "hello"))
    assert state.metrics().windows == before.windows


def test_too_late_segment_is_rejected_after_its_place_was_sealed() -> None:
    state = CallState("c", EngineConfig(late_tolerance_ms=10_000))
    state.apply(TranscriptSegment("c", "1", A, 0, 5000, "hello"))
    state.apply(TranscriptSegment("c", "2", C, 400_000, 405_000, "hi"))  # seals segment 1
    with pytest.raises(InvalidEventError) as caught:
        state.apply(TranscriptSegment("c", "0", C, 1000, 2000, "late"))
    assert caught.value.reason == "too_late"
    assert state.metrics().window("call").agent_speech_seconds == 5.0


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40))
def test_the_medians_of_response_gaps_are_the_statistics_median(buckets: list[int]) -> None:
    expected = statistics.median(buckets)
    assert _median(sorted(buckets)) == expected
    assert _median_of_counts(dict(Counter(buckets))) == expected
