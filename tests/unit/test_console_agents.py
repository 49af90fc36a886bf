"""The console's agent page and nudge acknowledgements in its state (pure): summaries held and
bounded, the agent view, acknowledgements applied to the feed and sent to live browsers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.console.acks import (
    MAX_NOTE_CHARS,
    AckRequestError,
    NudgeAcks,
    ack_problem,
    ack_record,
    clean_note,
    parse_ack_request,
)
from streams.console.agents import DAY_MS, AgentHistory
from streams.console.state import ConsoleState
from tests.unit.test_console_state import nudge, snapshot

NOW_MS = 1_767_600_000_000  # 2026-01-05T08:00:00Z
NOW = NOW_MS / 1000


def summary(
    call_id: str,
    score: float | None,
    ended_at: int,
    agent_id: str = "agent-a",
    team: str = "sales",
    nudges: tuple[str, ...] = (),
    hits: int = 0,
    definitions: str = "d1",
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "agent_id": agent_id,
        "team": team,
        "queue": "q",
        "started_at": ended_at - 300_000,
        "ended_at": ended_at,
        "end_reason": "hangup",
        "duration_seconds": 300.0,
        "segments": 40,
        "customer_focus_score": score,
        "agent_talk_ratio": 0.5,
        "monologue_longest_seconds": 30.0,
        "questions_per_minute": 1.0,
        "open_question_ratio": 0.5,
        "nudges": list(nudges),
        "tracker_hits": [{"tracker": "escalation", "hits": hits}] if hits else [],
        "definitions": definitions,
        "customer_sentiment": 0.1,  # not kept
    }


def state(**bounds: Any) -> ConsoleState:
    return ConsoleState(history_seconds=900, clock=lambda: NOW, **bounds)


# -- summaries --------------------------------------------------------------------------
def test_summaries_are_kept_per_agent_trimmed_and_replaced_when_summarised_again() -> None:
    history = AgentHistory(history_days=14)
    assert history.add(summary("c1", 60.0, NOW_MS - 1000), NOW_MS)
    assert history.add(summary("c1", 70.0, NOW_MS - 500), NOW_MS)  # the same call again
    assert history.add(summary("c2", 50.0, NOW_MS - 2000, agent_id="agent-b"), NOW_MS)
    assert len(history) == 2
    [kept] = history.of_agent("agent-a")
    assert kept["customer_focus_score"] == 70.0
    assert "customer_sentiment" not in kept and "segments" not in kept
    assert [s["call_id"] for s in history.of_agent("agent-b")] == ["c2"]


def test_summaries_are_bounded_per_agent_in_all_and_by_age() -> None:
    history = AgentHistory(history_days=2, max_per_agent=3, max_summaries=5)
    # older than the history: never held
    assert not history.add(summary("old", 50.0, NOW_MS - 3 * DAY_MS), NOW_MS)
    for i in range(5):  # agent-a's five calls: the newest three stay
        history.add(summary(f"a{i}", 50.0, NOW_MS - (10 - i) * 60_000), NOW_MS)
    assert sorted(s["call_id"] for s in history.of_agent("agent-a")) == ["a2", "a3", "a4"]
    # an older call than the agent's three kept ones is not taken
    assert not history.add(summary("a-older", 50.0, NOW_MS - 60 * 60_000), NOW_MS)
    for i in range(3):  # three calls of agent-b: six in all, the call that ended first goes
        history.add(summary(f"b{i}", 50.0, NOW_MS - (5 - i) * 60_000, agent_id="agent-b"), NOW_MS)
    assert len(history) == 5
    assert sorted(history.by_call) == ["a3", "a4", "b0", "b1", "b2"]
    # two days after b0 ended: it and the calls that ended before it go
    assert history.expire(NOW_MS + 2 * DAY_MS - 5 * 60_000 + 1) == 3
    assert sorted(history.by_call) == ["b1", "b2"]
    assert history.of_agent("agent-a") == [] and "agent-a" not in history.by_agent


def test_the_agent_view_has_live_and_ended_calls_newest_first_and_the_trend_per_day() -> None:
    console = state()
    # two days of ended calls (agent-a), one of another agent, one in another team
    console.apply_summary(summary("d1-1", 80.0, NOW_MS - DAY_MS, nudges=("n-old",), hits=2))
    console.apply_summary(summary("d1-2", 40.0, NOW_MS - DAY_MS + 600_000))
    console.apply_summary(summary("d0-1", 90.0, NOW_MS - 3_600_000, nudges=("n-x", "n-y")))
    console.apply_summary(summary("other", 10.0, NOW_MS - 3_600_000, agent_id="agent-b"))
    console.apply_summary(summary("support", 20.0, NOW_MS - 1_800_000, team="support"))
    # a live call of agent-a, with a nudge
    live = snapshot("live1", 55.0, media_s=120, emitted_at=NOW_MS - 1000, agent_id="agent-a")
    live["tracker_hits"] = [{"tracker": "escalation", "hits": 1}]
    console.apply_metrics(live)
    console.apply_nudge({**nudge("n1", call_id="live1"), "created_at": NOW_MS - 2000})

    assert console.agent_teams("agent-a") == ["sales", "support"]
    view = console.agent_view("agent-a", ["sales"])
    assert view["agent_id"] == "agent-a" and view["teams"] == ["sales"]
    assert [c["call_id"] for c in view["calls"]] == ["live1", "d0-1", "d1-2", "d1-1"]
    live_row, today, *_ = view["calls"]
    assert live_row["live"] and live_row["score"] == 55.0 and live_row["duration_seconds"] == 120.0
    assert live_row["nudges"] == 1 and live_row["held"] is True
    assert live_row["tracker_hits"] == [{"tracker": "escalation", "hits": 1}]
    assert today["live"] is False and today["nudges"] == 2 and today["held"] is False
    assert today["day"] == view["today"] == "2026-01-05"
    assert view["calls"][-1]["tracker_hits"] == [{"tracker": "escalation", "hits": 2}]
    # the trend: the mean and the 10th percentile per day
    assert [(p["day"], p["calls"], p["mean_score"], p["p10_score"]) for p in view["trend"]] == [
        ("2026-01-04", 2, 60.0, 40.0),
        ("2026-01-05", 1, 90.0, 90.0),
    ]
    # both teams: the support call joins the calls and today's point
    both = console.agent_view("agent-a", ["sales", "support"])
    assert "support" in {c["team"] for c in both["calls"]}
    assert both["trend"][-1]["calls"] == 2 and both["trend"][-1]["mean_score"] == 55.0


def test_the_trend_keeps_definitions_apart() -> None:
    console = state()
    console.apply_summary(summary("x", 80.0, NOW_MS - 1000, definitions="d1"))
    console.apply_summary(summary("y", 20.0, NOW_MS - 2000, definitions="d2"))
    points = console.agent_view("agent-a", ["sales"])["trend"]
    assert [(p["definitions"], p["mean_score"]) for p in points] == [("d1", 80.0), ("d2", 20.0)]


# -- acknowledgements ---------------------------------------------------------------------
def test_notes_are_plain_text_bounded_and_optional() -> None:
    assert clean_note(None) is None and clean_note("   ") is None
    assert clean_note("  talked\tit through\n") == "talked\tit through"
    assert clean_note("a\x00b\x1bc") == "abc"  # control characters go
    assert clean_note("<b>ok</b>") == "<b>ok</b>"  # kept as text; the page never parses it
    assert clean_note("x" * MAX_NOTE_CHARS) == "x" * MAX_NOTE_CHARS
    with pytest.raises(AckRequestError, match=f"at most {MAX_NOTE_CHARS}"):
        clean_note("x" * (MAX_NOTE_CHARS + 1))
    with pytest.raises(AckRequestError, match="expected a string"):
        parse_ack_request({"note": 5})
    with pytest.raises(AckRequestError, match="unknown fields: by"):
        parse_ack_request({"note": "x", "by": "someone else"})
    with pytest.raises(AckRequestError, match="JSON object"):
        parse_ack_request(["note"])
    assert parse_ack_request({}) is None


def test_the_latest_ack_per_nudge_is_kept_and_bounded() -> None:
    acks = NudgeAcks(max_acks=2)
    first = ack_record(nudge("n1"), "sam", "first", NOW_MS)
    assert acks.apply(first) and not acks.apply(dict(first))  # read back: no change
    assert acks.apply({**first, "note": "second", "acked_by": "kim"})
    assert acks.get("n1") == {"by": "kim", "at": NOW_MS, "note": "second"}
    acks.apply(ack_record(nudge("n2"), "sam", None, NOW_MS))
    acks.apply(ack_record(nudge("n3"), "sam", None, NOW_MS))
    assert acks.get("n1") is None and len(acks) == 2
    assert ack_problem({**first, "nudge_id": ""}) == "ack_without_nudge_id"
    assert ack_problem({**first, "note": "x" * 501}) == "ack_note_too_long"
    assert not acks.apply({**first, "note": "x" * 501})


def test_an_ack_updates_the_feed_entry_and_is_sent_to_live_browsers() -> None:
    async def scenario() -> tuple[list[Any], list[dict[str, Any]]]:
        console = state()
        console.apply_nudge(nudge("n1", call_id="a", created_at=NOW_MS))
        queue = console.subscribe()
        record = ack_record(console.nudge("n1") or {}, "sam", "coached <live>", NOW_MS + 5)
        assert console.apply_ack(record)
        assert not console.apply_ack(dict(record))  # its own write read back: nothing sent
        sent = [queue.get_nowait() for _ in range(queue.qsize())]
        return sent, console.recent_entries()

    sent, entries = asyncio.run(scenario())
    ack = {"by": "sam", "at": NOW_MS + 5, "note": "coached <live>"}
    assert [(m["event"], m["data"]["nudge_id"], m["data"]["ack"]) for m in sent] == [("entry", "n1", ack)]
    assert entries[0]["ack"] == ack


def test_an_erased_ack_leaves_the_entry_and_is_sent_again() -> None:
    async def scenario() -> tuple[bool, bool, list[Any]]:
        console = state()
        console.apply_nudge(nudge("n1", call_id="a", created_at=NOW_MS))
        console.apply_ack(ack_record(console.nudge("n1") or {}, "sam", "private", NOW_MS))
        queue = console.subscribe()
        erased, again = console.forget_ack("n1"), console.forget_ack("n1")
        return erased, again, [queue.get_nowait() for _ in range(queue.qsize())]

    erased, again, sent = asyncio.run(scenario())
    assert erased and not again
    assert [(m["data"]["nudge_id"], m["data"]["ack"]) for m in sent] == [("n1", None)]


def test_a_newer_nudge_of_the_same_call_and_type_is_not_acknowledged() -> None:
    console = state()
    console.apply_nudge(nudge("n1", call_id="a", created_at=NOW_MS))
    console.apply_ack(ack_record(console.nudge("n1") or {}, "sam", None, NOW_MS))
    assert console.recent_entries()[0]["ack"]["by"] == "sam"
    console.apply_nudge(nudge("n2", call_id="a", created_at=NOW_MS + 60_000))
    [entry] = console.recent_entries()
    assert entry["nudge_id"] == "n2" and entry["ack"] is None
    # the call's detail lists both nudges, each with its own acknowledgement
    detail = console.call_detail("a")
    assert detail is not None
    assert [(n["nudge_id"], n["ack"] is not None) for n in detail["nudges"]] == [("n1", True), ("n2", False)]


def test_clearing_the_state_forgets_summaries_and_acks_which_the_reader_reads_again() -> None:
    console = state()
    console.apply_summary(summary("c1", 60.0, NOW_MS - 1000))
    console.apply_nudge(nudge("n1", created_at=NOW_MS))
    console.apply_ack(ack_record(console.nudge("n1") or {}, "sam", None, NOW_MS))
    console.clear()
    assert len(console.agents) == 0 and len(console.acks) == 0 and console.nudge("n1") is None
