from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from streams.engine import CallState
from streams.tools.scoring import score_recording
from streams.tools.simulate import HOLD_LINES, AgentStyle, CustomerMood, SimulationConfig, simulate
from streams.tools.sources import read_recordings
from streams.wire.events import HoldEnded, HoldStarted


def by_style(minutes: float = 6.0, seed: int = 5) -> dict[AgentStyle, list]:
    config = SimulationConfig(
        calls=10, concurrency=10, minutes=minutes, seed=seed, moods=(CustomerMood.CALM,)
    )
    scored: dict[AgentStyle, list] = {}
    for _, recording in simulate(config):
        started = recording.started
        assert started is not None
        scored.setdefault(AgentStyle(started.attributes["simulated_style"]), []).append(
            score_recording(recording).metrics
        )
    return scored


def test_the_engine_tells_the_styles_apart() -> None:
    scored = by_style()
    assert set(scored) == set(AgentStyle)
    focused = scored[AgentStyle.CUSTOMER_FOCUSED]
    for m in focused:
        assert m.customer_focus_score is not None and m.customer_focus_score >= 85
        assert m.window("call").agent_talk_ratio < 0.5  # type: ignore[operator]
    others = [m for style, ms in scored.items() if style is not AgentStyle.CUSTOMER_FOCUSED for m in ms]
    assert max(m.customer_focus_score or 0 for m in others) < min(
        m.customer_focus_score or 0 for m in focused
    )
    assert all(m.window("call").pitch_ratio == 1.0 for m in scored[AgentStyle.PITCHER])
    assert all(m.monologue_longest_seconds >= 90 for m in scored[AgentStyle.MONOLOGUER])
    assert all(m.window("call").interruptions >= 5 for m in scored[AgentStyle.INTERRUPTER])
    assert all(m.window("call").questions == 0 for m in scored[AgentStyle.SILENT])


def test_same_seed_same_calls_and_concurrency_waves() -> None:
    config = SimulationConfig(calls=7, concurrency=3, minutes=2, seed=9)
    first, second = list(simulate(config)), list(simulate(config))
    assert first == second
    offsets = [offset for offset, _ in first]
    assert offsets[:3] == sorted(offsets[:3]) and offsets[3] >= 120_000 and offsets[6] >= 240_000
    assert list(simulate(SimulationConfig(calls=7, concurrency=3, minutes=2, seed=10))) != first


def test_simulate_command_writes_jsonl_that_scores(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.tools.cli",
            "simulate",
            "--calls",
            "3",
            "--minutes",
            "1",
            "--seed",
            "4",
            "--styles",
            "pitcher,monologuer",
            "--jsonl",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    recordings = read_recordings(out, "jsonl")
    assert [r.call_id for r in recordings] == ["sim-00000", "sim-00001", "sim-00002"]
    expected = [
        r
        for _, r in simulate(
            SimulationConfig(calls=3, minutes=1, seed=4, styles=(AgentStyle.PITCHER, AgentStyle.MONOLOGUER))
        )
    ]
    for read, made in zip(recordings, expected, strict=True):
        assert score_recording(read).metrics == score_recording(made).metrics


def test_every_eighth_call_has_one_hold_in_silence_and_the_others_are_unchanged() -> None:
    config = SimulationConfig(calls=24, concurrency=24, minutes=4, seed=7)
    calls = [r for _, r in simulate(config)]
    without = [r for _, r in simulate(dataclasses.replace(config, hold_every=0))]
    for i, (call, plain) in enumerate(zip(calls, without, strict=True)):
        holds = [t.event for t in call.events if isinstance(t.event, HoldStarted | HoldEnded)]
        if (i + 1) % 8:
            assert call == plain and not holds
            continue
        assert not any(isinstance(t.event, HoldStarted | HoldEnded) for t in plain.events)
        texts = [getattr(t.event, "text", None) for t in call.events]
        asked = texts.index(HOLD_LINES[0])  # "please hold"
        assert call.events[:asked] == plain.events[:asked]  # the same call up to its hold
        assert texts[asked + 3] == HOLD_LINES[1]  # the hold's two events, then the agent is back
        started, ended = holds
        assert isinstance(started, HoldStarted) and isinstance(ended, HoldEnded)
        assert started.hold_id == ended.hold_id
        assert 30_000 <= ended.at_ms - started.at_ms <= 90_000
        # silence: no one speaks while the customer is on hold
        assert not [s for s in call.segments if s.end_ms > started.at_ms and s.start_ms < ended.at_ms]
        state = CallState(call.call_id)
        state.hold_started(started)
        state.hold_ended(ended)
        assert state.holds() == [(started.at_ms, ended.at_ms)]
        assert not score_recording(call).invalid
