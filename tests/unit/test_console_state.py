"""The console's view of every call and nudge: ordering, filters, dedupe, bounds, fan-out (pure)."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.console.state import HISTORY_FIELDS, ConsoleDemand, ConsoleState, SkippedRecords


def snapshot(
    call_id: str,
    score: float | None,
    team: str = "sales",
    media_s: int = 60,
    emitted_at: int = 1_000,
    **extra: Any,
) -> dict[str, Any]:
    window = {
        "agent_talk_ratio": 0.6,
        "questions_per_minute": 1.0,
        "open_question_ratio": 0.5,
        "you_focus_ratio": 0.5,
        "pitch_ratio": 0.1,
        "reflection_ratio": 0.2,
        "interruptions": 0,
        "response_gap_seconds": 1.0,
        "customer_sentiment": 0.1,
    }
    return {
        "call_id": call_id,
        "agent_id": f"agent-{call_id}",
        "team": team,
        "queue": "q",
        "media_time_ms": media_s * 1000,
        "emitted_at": emitted_at,
        "ended": False,
        "customer_focus_score": score,
        "windows": [{"window": w, **window} for w in ("60s", "180s", "call")],
        "monologue_current_seconds": 3.0,
        "monologue_longest_seconds": 12.0,
        "customer_story_longest_seconds": 8.0,
        **extra,
    }


def nudge(nudge_id: str, call_id: str = "a", created_at: int = 1_000) -> dict[str, Any]:
    return {
        "nudge_id": nudge_id,
        "call_id": call_id,
        "agent_id": "agent-a",
        "team": "sales",
        "type": "monologue",
        "severity": "warning",
        "message": "m",
        "evidence": {"monologue_current_seconds": 95.0},
        "media_time_ms": 95_000,
        "created_at": created_at,
        "snippet": None,
    }


def test_calls_lowest_score_first_unscored_last_and_team_filter() -> None:
    state = ConsoleState(history_seconds=900)
    for call_id, score, team in [("a", 70.0, "sales"), ("b", 20.0, "support"), ("c", None, "sales")]:
        state.apply_metrics(snapshot(call_id, score, team))
    assert [c["call_id"] for c in state.call_list()] == ["b", "a", "c"]
    assert [c["call_id"] for c in state.call_list(team="sales")] == ["a", "c"]
    assert state.teams() == ["sales", "support"]
    row = state.call_list()[0]
    assert row["talk_ratio"] == 0.6 and row["agent_id"] == "agent-b" and "windows" not in row


def test_an_older_snapshot_never_replaces_a_newer_one_and_history_is_ordered() -> None:
    state = ConsoleState(history_seconds=900, history_points=3)
    assert state.apply_metrics(snapshot("a", 50.0, media_s=10, emitted_at=2_000))
    assert not state.apply_metrics(snapshot("a", 90.0, media_s=5, emitted_at=1_000))
    for second in (20, 30, 40):
        state.apply_metrics(snapshot("a", 40.0, media_s=second, emitted_at=2_000 + second))
    detail = state.call_detail("a")
    assert detail is not None and detail["snapshot"]["score"] == 40.0
    points = detail["history"]["points"]
    assert detail["history"]["fields"] == list(HISTORY_FIELDS)
    assert [p[0] for p in points] == [20_000, 30_000, 40_000]  # bounded to 3, oldest dropped


def test_nudges_are_deduplicated_and_attached_to_their_call() -> None:
    state = ConsoleState(history_seconds=900)
    state.apply_metrics(snapshot("a", 30.0))
    assert state.apply_nudge(nudge("a:monologue:95000"))
    assert not state.apply_nudge(nudge("a:monologue:95000"))  # at-least-once topic
    assert len(state.recent_nudges()) == 1
    last = state.call_list()[0]["last_nudge"]
    assert last is not None and last["nudge_id"] == "a:monologue:95000"


def test_ended_calls_linger_then_go_and_old_things_expire() -> None:
    state = ConsoleState(history_seconds=600, ended_linger_seconds=60)
    state.apply_metrics(snapshot("ended", 50.0, emitted_at=100_000, ended=True))
    state.apply_metrics(snapshot("live", 50.0, emitted_at=100_000))
    state.apply_nudge(nudge("old", call_id="live", created_at=100_000))
    assert state.expire(now_ms=150_000) == 0
    assert state.expire(now_ms=161_000) == 1 and [c["call_id"] for c in state.call_list()] == ["live"]
    assert state.expire(now_ms=701_000) == 1 and state.recent_nudges() == []


def test_a_slow_browser_is_cut_off_instead_of_blocking() -> None:
    async def scenario() -> tuple[list[Any], int, int]:
        state = ConsoleState(history_seconds=900, max_subscriber_queue=2)
        fast, slow = state.subscribe(), state.subscribe()
        state.apply_nudge(nudge("n1"))
        fast.get_nowait()
        state.apply_nudge(nudge("n2"))
        fast.get_nowait()
        state.apply_nudge(nudge("n3"))  # slow's queue is full: it gets a close marker
        drained = []
        while not slow.empty():
            drained.append(slow.get_nowait())
        return drained, len(state.subscribers), state.dropped_subscribers

    drained, subscribers, dropped = asyncio.run(scenario())
    assert drained[-1] is None and subscribers == 1 and dropped == 1


def test_the_console_reader_is_wanted_from_the_first_request_until_idle_without_streams() -> None:
    now = [100.0]
    demand = ConsoleDemand(idle_seconds=60.0, clock=lambda: now[0])
    assert not demand.wanted.is_set()
    demand.touch()
    assert demand.wanted.is_set()
    now[0] += 61.0
    assert not demand.idle(open_streams=1), "an open stream keeps the reader"
    assert demand.idle(open_streams=0)
    now[0] += 1.0
    demand.touch()
    assert not demand.idle(open_streams=0)


def test_a_cold_console_request_waits_for_the_catch_up_but_not_forever() -> None:
    async def scenario() -> tuple[float, float]:
        demand = ConsoleDemand(idle_seconds=60.0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await demand.ready(timeout=0.2)  # nobody catches up: gives up after the timeout
        gave_up = loop.time() - began
        loop.call_later(0.05, demand.caught_up.set)
        began = loop.time()
        await demand.ready(timeout=5.0)
        return gave_up, loop.time() - began

    gave_up, waited = asyncio.run(scenario())
    assert 0.2 <= gave_up < 1.0
    assert waited < 1.0


def test_clear_forgets_calls_and_nudges_and_moves_the_version() -> None:
    state = ConsoleState(history_seconds=900)
    state.apply_metrics(snapshot("c1", 1000, 0.5))
    state.apply_nudge(nudge("n1", "c1"))
    version = state.version
    state.clear()
    assert state.call_list() == [] and state.recent_nudges() == []
    assert state.version > version
    assert state.apply_nudge(nudge("n1", "c1")), "a re-read nudge is new again after a clear"


def test_records_the_console_cannot_decode_are_logged_once_a_minute_with_counts() -> None:
    now = [0.0]
    skipped = SkippedRecords(interval_seconds=60, clock=lambda: now[0])
    first = skipped.skip("cf.call-metrics", "unknown_schema")
    assert first is not None and "1 on cf.call-metrics (unknown_schema)" in first
    # a rolling upgrade: every snapshot of the newer release, no line for each
    assert all(skipped.skip("cf.call-metrics", "unknown_schema") is None for _ in range(999))
    assert skipped.skip("cf.nudges", "undecodable") is None
    now[0] = 61.0
    line = skipped.skip("cf.call-metrics", "unknown_schema")
    assert line is not None and "in the last 60 s" in line
    assert "1000 on cf.call-metrics (unknown_schema)" in line and "1 on cf.nudges (undecodable)" in line
    assert skipped.total == 1002


def test_the_call_detail_carries_every_catalogue_metric_for_the_page() -> None:
    from streams.engine.catalogue import CALL_METRICS, METRICS

    state = ConsoleState(history_seconds=900)
    hits = [{"tracker": "escalation_request", "hits": 2}]
    state.apply_metrics(snapshot("a", 70.0, holds=1, hold_seconds=42.0, tracker_hits=hits, definitions="d1"))
    detail = state.call_detail("a")
    assert detail is not None
    assert [row["name"] for row in detail["catalogue"]] == [m.name for m in METRICS]
    shown = detail["snapshot"]
    assert set(shown["call_metrics"]) == {m.name for m in CALL_METRICS}
    assert shown["call_metrics"]["hold_seconds"] == 42.0 and shown["call_metrics"]["holds"] == 1
    assert shown["tracker_hits"] == hits and shown["definitions"] == "d1"
    # a windowed metric's values are in windows, as the page reads them
    assert all(row["name"] in shown["windows"]["60s"] for row in detail["catalogue"][:2] if row["windows"])
