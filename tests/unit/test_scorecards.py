"""Scorecards: summaries added per agent and team, per day and definitions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.coaching.scorecards import (
    TEAM_CARD,
    Scorecard,
    ScorecardKey,
    add_summary,
    build_scorecards,
    call_day,
    roll_up,
)

DAY_MS = 86_400_000
MONDAY = int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp() * 1000)


def summary(
    agent: str = "a1",
    team: str = "billing",
    started_at: int | None = MONDAY,
    score: float | None = 70.0,
    duration: float = 300.0,
    **values: Any,
) -> dict[str, Any]:
    return {
        "call_id": f"c{random.random()}",
        "agent_id": agent,
        "team": team,
        "started_at": started_at,
        "ended_at": (started_at or MONDAY) + int(duration * 1000),
        "duration_seconds": duration,
        "customer_focus_score": score,
        "agent_talk_ratio": values.get("talk", 0.5),
        "questions_per_minute": values.get("qpm", 1.0),
        "open_question_ratio": values.get("open", 0.5),
        "monologue_longest_seconds": values.get("monologue", 30.0),
        "nudges": values.get("nudges", []),
        "tracker_hits": values.get("hits", []),
        "definitions": values.get("definitions", "1.0+abc"),
    }


def test_one_call_gives_its_own_values() -> None:
    cards = build_scorecards(
        [summary(qpm=2.0, open=0.25, monologue=41.2, nudges=["n1", "n2"], hits=[{"tracker": "t", "hits": 3}])]
    )
    agent = ScorecardKey(date(2026, 11, 30), "billing", "a1", "1.0+abc")
    team = ScorecardKey(date(2026, 11, 30), "billing", TEAM_CARD, "1.0+abc")
    assert set(cards) == {agent, team}
    figures = cards[agent].figures()
    assert figures.calls == 1 and figures.talk_seconds == 300.0
    assert figures.mean_score == figures.p10_score == 70.0
    assert figures.questions_per_call == pytest.approx(10.0)  # 2 per minute over 5 minutes
    assert figures.open_question_ratio == pytest.approx(0.25)
    assert figures.monologue_p90_seconds == 42.0  # whole seconds, rounded up
    assert figures.nudges_per_call == 2.0 and figures.tracker_hits_per_call == 3.0
    assert cards[team].figures() == figures


def test_percentiles_are_nearest_rank() -> None:
    cards = build_scorecards([summary(score=float(s), monologue=float(s)) for s in range(1, 101)])
    figures = next(card for key, card in cards.items() if not key.is_team).figures()
    assert figures.p10_score == 10.0 and figures.monologue_p90_seconds == 90.0
    assert figures.mean_score == pytest.approx(50.5)


def test_unscored_calls_count_but_give_no_score() -> None:
    figures = build_scorecards([summary(score=None), summary(score=80.0)])[
        ScorecardKey(date(2026, 11, 30), "billing", "a1", "1.0+abc")
    ].figures()
    assert figures.calls == 2 and figures.mean_score == 80.0 and figures.p10_score == 80.0


def test_definitions_never_mix() -> None:
    cards = build_scorecards([summary(definitions="1.0+abc"), summary(definitions="1.1+def", score=10.0)])
    assert {key.definitions for key in cards} == {"1.0+abc", "1.1+def"}
    assert all(card.calls == 1 for card in cards.values())


def test_the_day_is_the_start_day_in_the_zone_given() -> None:
    late = int(datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp() * 1000)
    assert call_day(summary(started_at=late)) == date(2026, 11, 30)
    assert call_day(summary(started_at=late), ZoneInfo("Europe/Berlin")) == date(2026, 12, 1)
    assert call_day(summary(started_at=None)) == date(2026, 11, 30)  # falls back to the end


def test_merging_is_the_same_in_any_order_and_the_same_as_adding_all() -> None:
    rng = random.Random(7)
    calls = [
        summary(
            agent=rng.choice(["a1", "a2"]),
            started_at=MONDAY + rng.randrange(7) * DAY_MS,
            score=rng.choice([None, rng.uniform(0, 100)]),
            monologue=rng.uniform(0, 4000),
            qpm=rng.uniform(0, 3),
        )
        for _ in range(300)
    ]
    week = roll_up(build_scorecards(calls), "week")
    shuffled = calls[:]
    rng.shuffle(shuffled)
    again = roll_up(build_scorecards(shuffled), "week")
    whole = Scorecard()
    for call in calls:
        whole.add(call)
    team_week = week[ScorecardKey(date(2026, 11, 30), "billing", TEAM_CARD, "1.0+abc")]
    shuffled_week = again[next(iter(k for k in again if k.is_team))].figures().as_dict()
    assert team_week.figures().as_dict() == pytest.approx(shuffled_week)
    assert team_week.calls == whole.calls == 300
    assert team_week.score_bins == whole.score_bins and team_week.monologue_bins == whole.monologue_bins
    assert team_week.figures().mean_score == pytest.approx(whole.figures().mean_score)
    assert max(team_week.monologue_bins) <= 3600


def test_a_card_survives_its_table_form() -> None:
    cards: dict[ScorecardKey, Scorecard] = {}
    (key, _) = add_summary(cards, summary(hits=[{"tracker": "t", "hits": 2}]))
    back = Scorecard.from_dict(cards[key].to_dict())
    assert back == cards[key]
    assert ScorecardKey.from_text(key.as_text()) == key


def test_roll_up_refuses_an_unknown_period() -> None:
    with pytest.raises(ValueError, match="period must be one of day, week, month"):
        roll_up({}, "fortnight")
