"""Nudge rules: thresholds, minimum age, cooldown, hysteresis, evidence, masking (pure, no Kafka)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.engine import CallMetrics, CallState, EngineConfig, WindowMetrics
from streams.engine.nudges import (
    DEFAULT_RULES,
    NUDGE_TYPES,
    NudgeTracker,
    load_rules,
    masked_snippet,
)
from streams.wire.events import CallStarted, Speaker, TranscriptSegment
from streams.worker.calls import CallLabels, LiveCall

QUIET: dict[str, Any] = {
    "agent_talk_ratio": 0.5,
    "questions_per_minute": 1.0,
    "open_question_ratio": 0.5,
    "you_focus_ratio": 0.7,
    "pitch_ratio": 0.1,
    "reflection_ratio": 0.5,
    "interruptions": 0,
    "response_gap_seconds": 1.0,
    "customer_sentiment": 0.2,
    "agent_speech_seconds": 60.0,
    "customer_speech_seconds": 60.0,
    "questions": 2.0,
    "open_questions": 1.0,
    "reference_words": 50.0,
    "customer_turns": 5,
    "dead_air_silences": 0,
    "dead_air_longest_seconds": 0.0,
    "dead_air_ratio": 0.0,
    "overtalk_ratio": 0.02,
    "agent_words_per_minute": 150.0,
    "speaker_switches_per_minute": 4.0,
}


def metrics(
    seconds: float,
    monologue: float = 5.0,
    open_questions_call: float | None = None,
    w60: dict[str, Any] | None = None,
    w180: dict[str, Any] | None = None,
    hold_end_ms: int = -1,
) -> CallMetrics:
    """A call's metrics at ``seconds`` of media time: calm everywhere unless overridden
    (one open question a minute by default)."""
    if open_questions_call is None:
        open_questions_call = seconds // 60
    windows = (
        WindowMetrics("60s", **{**QUIET, **(w60 or {})}),
        WindowMetrics("180s", **{**QUIET, **(w180 or {})}),
        WindowMetrics("call", **{**QUIET, "open_questions": open_questions_call}),
    )
    return CallMetrics(
        "c1", int(seconds * 1000), windows, monologue, monologue, 10.0, 50.0, (), hold_end_ms=hold_end_ms
    )


def fired(tracker: NudgeTracker, m: CallMetrics) -> list[str]:
    return [n.type for n in tracker.evaluate(m, DEFAULT_RULES)]


def test_calm_call_raises_nothing() -> None:
    tracker = NudgeTracker("c1")
    assert all(fired(tracker, metrics(s)) == [] for s in range(0, 1200, 30))


@pytest.mark.parametrize(
    ("nudge_type", "hot", "evidence_key"),
    [
        ("monologue", {"monologue": 95.0}, "monologue_current_seconds"),
        ("talk_dominance", {"w180": {"agent_talk_ratio": 0.8}}, "agent_talk_ratio_180s"),
        ("self_focus", {"w180": {"you_focus_ratio": 0.2}}, "you_focus_ratio_180s"),
        ("customer_negative", {"w180": {"customer_sentiment": -0.5}}, "customer_sentiment_180s"),
        ("interrupting", {"w60": {"interruptions": 3}}, "interruptions_60s"),
        ("dead_air", {"w60": {"dead_air_longest_seconds": 20.0}}, "dead_air_longest_seconds_60s"),
        ("overtalk", {"w60": {"overtalk_ratio": 0.2}}, "overtalk_ratio_60s"),
        ("speech_rate", {"w60": {"agent_words_per_minute": 320.0}}, "agent_words_per_minute_60s"),
    ],
)
def test_each_threshold_rule_fires_once_with_its_evidence(
    nudge_type: str, hot: dict[str, Any], evidence_key: str
) -> None:
    tracker = NudgeTracker("c1")
    (nudge,) = tracker.evaluate(metrics(200, **hot))
    assert nudge.type == nudge_type and nudge.media_time_ms == 200_000
    assert nudge.nudge_id == f"c1:{nudge_type}:200000"
    assert evidence_key in nudge.evidence and nudge.message
    assert fired(tracker, metrics(201, **hot)) == []  # disarmed: no repeat while it stays hot
    assert tracker.fired == [nudge.nudge_id]


def test_dead_air_during_a_hold_is_no_nudge_and_it_rearms_after_a_quiet_minute() -> None:
    silent = {"dead_air_longest_seconds": 40.0, "dead_air_silences": 1}
    held = metrics(200, w60=silent, hold_end_ms=190_000)  # a hold ended 10 s ago
    assert fired(NudgeTracker("c1"), held) == []
    # a call younger than a minute that was never on hold (hold_end_ms -1)
    assert fired(NudgeTracker("c1"), metrics(40, w60=silent)) == ["dead_air"]
    tracker = NudgeTracker("c1")
    (nudge,) = tracker.evaluate(metrics(200, w60=silent))
    assert "40s of dead air" in nudge.message
    assert fired(tracker, metrics(400, w60=silent)) == []  # still the same minute's silence: disarmed
    assert fired(tracker, metrics(460)) == []  # a minute without dead air re-arms
    assert fired(tracker, metrics(470, w60=silent)) == ["dead_air"]


def test_monologue_message_says_how_long() -> None:
    (nudge,) = NudgeTracker("c1").evaluate(metrics(120, monologue=105.0))
    assert "1m45s without a customer turn" in nudge.message
    assert nudge.evidence == {"monologue_current_seconds": 105.0}


def test_minimum_call_age() -> None:
    tracker = NudgeTracker("c1")
    assert fired(tracker, metrics(170, w180={"agent_talk_ratio": 0.9})) == []  # talk_dominance needs 180 s
    assert fired(tracker, metrics(181, w180={"agent_talk_ratio": 0.9})) == ["talk_dominance"]


def test_hysteresis_value_hovering_at_the_threshold_does_not_flap() -> None:
    tracker = NudgeTracker("c1")
    hovering = [0.76, 0.74, 0.77, 0.70, 0.76, 0.74, 0.78]
    raised = [
        fired(tracker, metrics(200 + 400 * i, w180={"agent_talk_ratio": v})) for i, v in enumerate(hovering)
    ]
    assert sum(len(r) for r in raised) == 1  # never back under the re-arm level (0.65)
    assert fired(tracker, metrics(4000, w180={"agent_talk_ratio": 0.6})) == []  # re-armed
    assert fired(tracker, metrics(4400, w180={"agent_talk_ratio": 0.8})) == ["talk_dominance"]


def test_cooldown_per_call_and_type() -> None:
    tracker = NudgeTracker("c1")
    assert fired(tracker, metrics(100, monologue=95)) == ["monologue"]
    assert fired(tracker, metrics(110, monologue=2)) == []  # customer spoke: re-armed
    assert fired(tracker, metrics(200, monologue=91)) == []  # 100 s after the last one: cooldown 120 s
    assert fired(tracker, metrics(225, monologue=116)) == ["monologue"]


def test_no_discovery_in_the_first_five_minutes_and_later() -> None:
    tracker = NudgeTracker("c1")
    assert fired(tracker, metrics(290, open_questions_call=0)) == []
    (nudge,) = tracker.evaluate(metrics(301, open_questions_call=0))
    assert nudge.type == "no_discovery" and "first 5m01s" in nudge.message
    assert fired(tracker, metrics(320, open_questions_call=1)) == []  # an open question re-arms it
    assert fired(tracker, metrics(610, open_questions_call=1)) == []  # 290 s since it
    (later,) = tracker.evaluate(metrics(625, open_questions_call=1))
    assert later.type == "no_discovery" and "No open question for 5m05s" in later.message


def test_pitching_early_only_before_any_open_question() -> None:
    hot = {"pitch_ratio": 0.8}
    assert fired(NudgeTracker("c1"), metrics(90, open_questions_call=0, w180=hot)) == ["pitching_early"]
    assert fired(NudgeTracker("c1"), metrics(90, open_questions_call=1, w180=hot)) == []


def test_minimum_counts_behind_ratios() -> None:
    few_words = {"you_focus_ratio": 0.1, "reference_words": 39.0}
    few_turns = {"customer_sentiment": -0.9, "customer_turns": 2}
    assert fired(NudgeTracker("c1"), metrics(200, w180=few_words)) == []
    assert fired(NudgeTracker("c1"), metrics(200, w180=few_turns)) == []


def test_monologue_from_real_segments() -> None:
    state = CallState("c1", EngineConfig())
    state.start(CallStarted("c1", 1, agent_id="a1", team="sales"))
    state.apply(TranscriptSegment("c1", "1", Speaker.CUSTOMER, 0, 5000, "hi i have a question"))
    tracker = NudgeTracker("c1")
    assert fired(tracker, state.metrics()) == []
    state.apply(
        TranscriptSegment("c1", "2", Speaker.AGENT, 5000, 100_000, "our product is the best on the market")
    )
    raised = {n.type: n for n in tracker.evaluate(state.metrics())}
    assert raised["monologue"].evidence["monologue_current_seconds"] == 95.0
    assert "pitching_early" in raised  # a pitch, and no open question yet


def test_tracker_survives_the_durable_state() -> None:
    call = LiveCall(CallState("c1", EngineConfig()), 3)
    call.nudges.evaluate(metrics(100, monologue=95))
    loaded = LiveCall.from_bytes(call.to_bytes(), EngineConfig())
    assert loaded.nudges == call.nudges
    assert loaded.nudges.evaluate(metrics(101, monologue=96)) == []  # still disarmed after a restart


def test_a_state_written_before_nudges_existed_loads_with_fresh_nudge_state() -> None:
    call = LiveCall(CallState("c1", EngineConfig()), 3, labels=CallLabels("a1", "sales", "q"))
    call.state.apply(TranscriptSegment("c1", "1", Speaker.AGENT, 0, 5000, "hello there"))
    older = orjson.loads(call.to_bytes())
    del older["nudges"]
    loaded = LiveCall.from_bytes(orjson.dumps(older), EngineConfig())
    assert loaded.labels == ("a1", "sales", "q") and loaded.partition == 3
    assert loaded.state.metrics() == call.state.metrics()
    assert loaded.nudges == LiveCall(CallState("c1", EngineConfig()), 3).nudges


def test_rules_file_overrides_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[monologue]\nthreshold = 120\n\n[interrupting]\nenabled = false\n")
    rules = {r.type: r for r in load_rules(path)}
    assert rules["monologue"].threshold == 120 and rules["monologue"].rearm == 30
    assert not rules["interrupting"].enabled
    assert set(rules) == set(NUDGE_TYPES)
    tracker = NudgeTracker("c1")
    assert tracker.evaluate(metrics(200, monologue=100), tuple(rules.values())) == []


@pytest.mark.parametrize(
    "text", ["[monolog]\nthreshold = 1\n", "[monologue]\nthreshhold = 1\n", "[monologue]\ntype = 'x'\n"]
)
def test_rules_file_mistakes_are_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"rules\.toml"):
        load_rules(path)


def test_snippets_mask_digits_emails_and_cards() -> None:
    text = "card 4111 1111 1111 1111, mail jane.doe@example.com, account 12345, call me at 555-0100"
    masked = masked_snippet(text)
    assert "[card]" in masked and "[email]" in masked
    assert not any(ch.isdigit() for ch in masked)
    assert "jane" not in masked
    assert len(masked_snippet("word " * 100)) == 200


def test_offline_scoring_raises_the_nudges_each_agent_style_deserves() -> None:
    from streams.tools.scoring import score_recording
    from streams.tools.simulate import AgentStyle, CustomerMood, SimulationConfig, simulate

    config = SimulationConfig(
        calls=5, concurrency=5, minutes=4, seed=7, moods=(CustomerMood.CALM,), id_prefix="style"
    )
    by_style = {}
    for _, recording in simulate(config):
        started = recording.started
        assert started is not None
        by_style[started.agent_id.split("-")[1]] = {n.type for n in score_recording(recording).nudges}
    assert by_style[AgentStyle.CUSTOMER_FOCUSED] == set()
    assert by_style[AgentStyle.SILENT] == set()
    assert {"monologue", "talk_dominance"} <= by_style[AgentStyle.MONOLOGUER]
    assert {"pitching_early", "self_focus"} <= by_style[AgentStyle.PITCHER]
    assert "interrupting" in by_style[AgentStyle.INTERRUPTER]
