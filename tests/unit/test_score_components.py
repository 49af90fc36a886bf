"""The score's components: what the engine reports adds up to the score, in every output."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from streams.console.state import ConsoleState
from streams.engine import CallMetrics, CallState, EngineConfig, ScoreComponent, ScoreConfig
from streams.tools.scoring import score_recording
from streams.tools.sources import Recording, TimedEvent
from streams.wire.codec import AvroCodec
from streams.wire.events import CallStarted, Speaker, TranscriptSegment
from streams.worker.calls import CallLabels, LiveCall
from streams.worker.outputs import metrics_record
from tests.unit.test_engine_properties import calls

A, C = Speaker.AGENT, Speaker.CUSTOMER
NAMES = ("talk_balance", "longest_monologue", "open_questions", "you_focus", "reflection", "interruptions")


def metrics_of(segments: list[TranscriptSegment], config: EngineConfig | None = None) -> CallMetrics:
    state = CallState("c", config or EngineConfig())
    for segment in segments:
        state.apply(segment)
    return state.metrics()


def conversation() -> list[TranscriptSegment]:
    # agent 70 s of 100 s, one 50 s monologue, one open question, an interruption
    lines = [
        (A, 0, 50, "let me tell you about our premium plan and our product roadmap for your team"),
        (C, 50, 70, "we mostly need the invoices to be right"),
        (A, 69, 80, "how do the invoices reach your finance team"),
        (C, 80, 90, "by email every month"),
        (A, 90, 100, "so the invoices come by email"),
    ]
    return [
        TranscriptSegment("c", f"s{n}", who, start * 1000, end * 1000, text)
        for n, (who, start, end, text) in enumerate(lines)
    ]


def weighted_score(metrics: CallMetrics) -> float:
    parts = metrics.score_components
    return 100 * sum(p.weight * p.grade for p in parts) / sum(p.weight for p in parts)


def test_every_component_is_reported_with_its_value_grade_and_weight() -> None:
    m = metrics_of(conversation())
    config = EngineConfig().score.components()
    assert [p.name for p in m.score_components] == list(NAMES)
    whole = m.window("call")
    ten_minutes = m.media_time_ms / 600_000
    values = {p.name: p.value for p in m.score_components}
    assert values["talk_balance"] == pytest.approx(whole.agent_talk_ratio)
    assert values["talk_balance"] == pytest.approx(71 / 101)  # 1 s of overlap counts for both
    assert values["longest_monologue"] == pytest.approx(m.monologue_longest_seconds)
    assert values["open_questions"] == pytest.approx(whole.open_questions / ten_minutes)
    assert values["you_focus"] == pytest.approx(whole.you_focus_ratio)
    assert values["reflection"] == pytest.approx(whole.reflection_ratio)
    assert values["interruptions"] == pytest.approx(whole.interruptions / ten_minutes)
    for part in m.score_components:
        assert part.weight == config[part.name].weight
        assert part.grade == config[part.name].grade(part.value)
        assert 0.0 <= part.grade <= 1.0
    # the defaults weigh 1 in all: with every component present the score is 100 x sum(w x g)
    assert sum(p.weight for p in m.score_components) == pytest.approx(1.0)
    assert m.customer_focus_score == pytest.approx(100 * sum(p.weight * p.grade for p in m.score_components))
    assert 0 < m.customer_focus_score < 100  # neither extreme: the sum is not trivially right


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_the_components_weighted_mean_is_the_score(segments: list[TranscriptSegment]) -> None:
    m = metrics_of(segments)
    if m.customer_focus_score is None:
        assert m.score_components == ()
        return
    assert m.score_components, "a score without components"
    assert m.customer_focus_score == pytest.approx(weighted_score(m), abs=1e-5)  # the score is rounded
    assert {p.name for p in m.score_components} <= set(NAMES)


def test_a_component_without_a_value_leaves_the_mean_and_the_others_count_for_more() -> None:
    # the customer never speaks after the agent: no reflection to grade; no agent words
    # about anyone: no you-focus
    segments = [TranscriptSegment("c", "s1", A, 0, 30_000, "hello")]
    m = metrics_of(segments)
    names = [p.name for p in m.score_components]
    assert "reflection" not in names and "you_focus" not in names
    assert sum(p.weight for p in m.score_components) < 1.0
    assert m.customer_focus_score == pytest.approx(weighted_score(m))


def test_a_component_weighted_zero_is_not_reported() -> None:
    score = ScoreConfig(interruptions=ScoreComponent(0.0, best=0.0, worst=6.0))
    m = metrics_of(conversation(), EngineConfig(score=score))
    assert "interruptions" not in {p.name for p in m.score_components}
    assert m.customer_focus_score == pytest.approx(weighted_score(m))


def test_no_speech_no_score_no_components() -> None:
    state = CallState("c", EngineConfig())
    state.start(CallStarted("c", 0))
    assert state.metrics().customer_focus_score is None
    assert state.metrics().score_components == ()


def test_the_snapshot_record_carries_the_components_through_avro_and_the_console() -> None:
    state = CallState("c", EngineConfig())
    state.start(CallStarted("c", 0, agent_id="a1", team="sales", queue="q"))
    for segment in conversation():
        state.apply(segment)
    call = LiveCall(state, 0, labels=CallLabels("a1", "sales", "q"))
    metrics = state.metrics()
    record = metrics_record(call, metrics, 1_000)
    expected = [p.to_dict() for p in metrics.score_components]
    assert record["score_components"] == expected
    codec = AvroCodec()
    name, decoded = codec.decode(codec.encode("CallMetrics", record))
    assert name == "CallMetrics" and decoded["score_components"] == expected

    console = ConsoleState(history_seconds=600)
    assert console.apply_metrics(decoded)
    detail = console.call_detail("c")
    assert detail is not None and detail["snapshot"]["score_components"] == expected
    # the list of calls stays small: components are in the detail only
    assert "score_components" not in console.call_list()[0]


def test_callfocus_score_json_lists_the_components() -> None:
    events = [TimedEvent(0, CallStarted("c", 0)), *(TimedEvent(0, s) for s in conversation())]
    scored = score_recording(Recording("c", tuple(events))).as_dict()
    assert [c["name"] for c in scored["score_components"]] == list(NAMES)
    assert set(scored["score_components"][0]) == {"name", "value", "grade", "weight"}
    total = sum(c["weight"] * c["grade"] for c in scored["score_components"])
    weights = sum(c["weight"] for c in scored["score_components"])
    assert scored["customer_focus_score"] == pytest.approx(100 * total / weights)
