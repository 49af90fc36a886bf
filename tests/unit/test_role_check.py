"""The speaker-role check: calls whose AGENT and CUSTOMER look swapped are flagged, and
with role_check "swap" their later segments are scored with the roles exchanged."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams.engine import CallState, EngineConfig
from streams.engine.lexicon import load_lexicon
from streams.engine.text import TextAnalyzer, tokens
from streams.wire.events import CallStarted, Speaker, TranscriptSegment
from streams.worker.call_series import LiveCallCollector, exposition
from streams.worker.calls import LiveCall, LiveCalls

A, C = Speaker.AGENT, Speaker.CUSTOMER
ENGLISH = TextAnalyzer(load_lexicon("en"))

# a bank call as it happened
OPENING = (
    (A, 0, 6, "hello this is harper valley national bank my name is john how can i help you today"),
    (C, 6, 10, "hi my name is mary i lost my debit card"),
    (A, 10, 14, "i can help you with that what is your account number"),
    (C, 14, 18, "it is one two three four"),
)
LATER = (
    (A, 130, 140, "do you want the new card sent to your home address"),
    (C, 140, 150, "yes please"),
)


def exchanged(
    segments: tuple[tuple[Speaker, int, int, str], ...],
) -> tuple[tuple[Speaker, int, int, str], ...]:
    return tuple((C if s == A else A, start, end, text) for s, start, end, text in segments)


def state_of(config: EngineConfig, *segments: tuple[Speaker, int, int, str]) -> CallState:
    state = CallState("c", config)
    state.start(CallStarted("c", 0))
    for n, (speaker, start, end, text) in enumerate(segments):
        state.apply(TranscriptSegment("c", f"s{n}", speaker, start * 1000, end * 1000, text))
    return state


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("hello how can i help you today", 1),
        # "is there anything else" and "anything else i can help" overlap: counted once
        ("thank you for calling is there anything else i can help you with", 2),
        ("hi i lost my card and i would like to order a new one", -2),
        ("my name is mary", 0),  # both sides say it
        ("i can help you with that but i need to check", 0),
    ],
)
def test_agent_lines_minus_customer_lines(text: str, lines: int) -> None:
    assert ENGLISH.role_lines(tokens(text)) == lines


def test_a_call_with_its_roles_as_sent_is_not_flagged() -> None:
    m = state_of(EngineConfig(), *OPENING, *LATER).metrics()
    assert not m.roles_swapped_suspected and not m.roles_exchanged


def test_a_swapped_call_is_flagged_and_only_flagged_by_default() -> None:
    swapped = state_of(EngineConfig(), *exchanged(OPENING), *exchanged(LATER)).metrics()
    right = state_of(EngineConfig(), *OPENING, *LATER).metrics()
    assert swapped.roles_swapped_suspected and not swapped.roles_exchanged
    # flag mode changes no metric: the agent's talk is counted as the customer's
    assert swapped.window("call").agent_talk_ratio == pytest.approx(1 - right.window("call").agent_talk_ratio)
    off = state_of(EngineConfig(role_check="off"), *exchanged(OPENING)).metrics()
    assert not off.roles_swapped_suspected


def test_swap_mode_scores_the_segments_after_the_flag_with_the_roles_exchanged() -> None:
    config = EngineConfig(role_check="swap")
    state = state_of(config, *exchanged(OPENING))
    assert state.metrics().roles_exchanged and state.metrics().roles_swapped_suspected
    for n, (speaker, start, end, text) in enumerate(exchanged(LATER)):
        state.apply(TranscriptSegment("c", f"later{n}", speaker, start * 1000, end * 1000, text))
    right = state_of(EngineConfig(), *OPENING, *LATER).metrics().window("call")
    got = state.metrics().window("call")
    # flagged at the opening's second segment: from the third on, the agent's questions are
    # the agent's again (the greeting's "how can i help" is no question on either side)
    assert got.questions == right.questions == 2
    swapped_only = state_of(EngineConfig(), *exchanged(OPENING), *exchanged(LATER)).metrics().window("call")
    assert swapped_only.questions == 0  # no exchange: the agent's questions are lost
    # the two segments kept before the flag are exchanged too: the times are exact again
    assert got.agent_speech_seconds == right.agent_speech_seconds == 6 + 4 + 10
    assert got.agent_talk_ratio == right.agent_talk_ratio
    assert swapped_only.agent_speech_seconds == 4 + 4 + 10  # the customer's segments


def test_the_exchange_survives_a_state_read_back() -> None:
    config = EngineConfig(role_check="swap")
    state = state_of(config, *exchanged(OPENING))
    again = CallState.from_dict(state.to_dict(), config)
    assert again.metrics() == state.metrics() and again.metrics().roles_exchanged
    again.apply(TranscriptSegment("c", "x", C, 130_000, 140_000, "what is your zip code"))
    assert again.metrics().window("call").questions == state.metrics().window("call").questions + 1


def test_lines_after_the_opening_are_not_looked_for() -> None:
    late = ((C, 200, 206, "thank you for calling how can i help you"), (A, 206, 210, "i would like to pay"))
    assert not state_of(EngineConfig(), *late).metrics().roles_swapped_suspected
    assert state_of(EngineConfig(role_check_ms=300_000), *late).metrics().roles_swapped_suspected


def test_the_gauge_counts_live_flagged_calls_by_team() -> None:
    calls = LiveCalls(EngineConfig())
    for call_id, segments in (("right", OPENING), ("swapped", exchanged(OPENING))):
        state = CallState(call_id, calls.config)
        state.start(CallStarted(call_id, 0, team="t"))
        for n, (speaker, start, end, text) in enumerate(segments):
            state.apply(TranscriptSegment(call_id, f"s{n}", speaker, start * 1000, end * 1000, text))
        live = LiveCall(state, 0)
        calls.add(live, fold_labels=True)
    registry = CollectorRegistry()
    collector = LiveCallCollector(calls, 10)
    registry.register(collector)
    text = exposition(registry, collector).decode()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    flagged = {k: v for k, v in values.items() if k[0] == "callfocus_calls_roles_swapped_suspected"}
    active = {k[1]: v for k, v in values.items() if k[0] == "callfocus_calls_active"}
    assert list(flagged.values()) == [1.0] and list(active.values()) == [2.0]
