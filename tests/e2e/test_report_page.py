"""The HTML scorecard report opened from a file in headless Chromium: charts drawn,
leaderboards sortable, no script error, no network request, printable."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.coaching.report import ReadCounts, ReportMeta, render_html
from streams.coaching.scorecards import build_scorecards, roll_up

SINCE = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
WEEKS = 8
AGENTS = {"billing": ["ana", "bo", "chen", "dee"], "sales-east": ["eli", "fay", "gus"]}


def calls() -> list[dict[str, Any]]:
    """Eight weeks of calls; each agent with a level and a trend, the last two weeks under
    new definitions (a lexicon change)."""
    rng = random.Random(23)
    out = []
    for team, agents in AGENTS.items():
        for number, agent in enumerate(agents):
            level, trend = rng.uniform(45, 75), rng.uniform(-2, 3)
            for week in range(WEEKS):
                for _ in range(rng.randrange(6, 14)):
                    started = SINCE + timedelta(days=week * 7 + rng.randrange(5), hours=rng.uniform(8, 17))
                    score = max(0.0, min(100.0, rng.gauss(level + trend * week, 9)))
                    minutes = rng.uniform(3, 12)
                    out.append(
                        {
                            "call_id": f"{agent}-{len(out)}",
                            "agent_id": agent,
                            "team": team,
                            "started_at": int(started.timestamp() * 1000),
                            "ended_at": int((started + timedelta(minutes=minutes)).timestamp() * 1000),
                            "duration_seconds": minutes * 60,
                            "customer_focus_score": score if rng.random() > 0.05 else None,
                            "agent_talk_ratio": min(0.95, max(0.2, rng.gauss(0.75 - score / 250, 0.05))),
                            "questions_per_minute": max(0.0, rng.gauss(0.4 + score / 80, 0.2)),
                            "open_question_ratio": min(1.0, max(0.0, rng.gauss(score / 110, 0.1))),
                            "monologue_longest_seconds": max(5.0, rng.gauss(110 - score, 15)),
                            "nudges": [f"n{i}" for i in range(rng.randrange(0, 2 + number % 3))],
                            "tracker_hits": [{"tracker": "refund", "hits": rng.randrange(0, 3)}],
                            "definitions": "1.4.0+5f2c" if week < WEEKS - 2 else "1.5.0+9a7e",
                        }
                    )
    return out


def write_report(folder: Path) -> Path:
    summaries = calls()
    cards = roll_up(build_scorecards(summaries), "week")
    meta = ReportMeta(
        since=SINCE,
        until=SINCE + timedelta(weeks=WEEKS),
        period="week",
        timezone="UTC",
        generated_at=datetime(2026, 12, 6, 19, 0, tzinfo=UTC),
        counts=ReadCounts(records=len(summaries) + 1, kept=len(summaries), undecodable={"unknown_format": 1}),
    )
    path = folder / "scorecards.html"
    path.write_text(render_html(cards, meta), encoding="utf-8")
    return path


def test_the_report_draws_its_charts_offline_and_sorts_its_leaderboards(
    page: Any, artifacts: Path, tmp_path: Path
) -> None:
    path = write_report(tmp_path)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    assert requests == [path.as_uri()], f"the page asked for more than itself: {requests}"
    assert page.locator("#definitions-apart").is_visible()
    # the leaderboards: one row per agent of each team, under each definitions
    for team, agents in AGENTS.items():
        for version in ("1.4.0+5f2c", "1.5.0+9a7e"):
            board = page.locator(
                f'section[data-definitions="{version}"] section.team[data-team="{team}"] table.leaderboard'
            )
            assert board.locator("tbody tr").count() == len(agents)
    # the charts: four panels per agent and team, each a drawn SVG with its points
    sections = sum(len(a) + 1 for a in AGENTS.values()) * 2
    assert page.locator("svg.chart").count() == 4 * sections
    first_agent = page.locator('section[data-definitions="1.4.0+5f2c"] section.agent').first
    score_chart = first_agent.locator('svg.chart[data-panel="score"]')
    assert score_chart.locator("circle.point").count() == WEEKS - 2
    assert score_chart.locator("polyline.line").count() == 1
    assert score_chart.locator("polygon.band").count() == 1
    box = score_chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    values = [
        float(v)
        for v in score_chart.locator("circle.point").evaluate_all(
            "points => points.map(p => p.getAttribute('data-value'))"
        )
    ]
    assert all(0 <= v <= 100 for v in values)
    page.screenshot(path=str(artifacts / "report.png"), full_page=False)

    # sorting: a click on "Calls" orders the first leaderboard by calls, most first
    board = page.locator("table.leaderboard").first
    board.locator('th[data-figure="calls"]').click()
    calls_column = board.locator("tbody tr td:nth-child(2)").evaluate_all(
        "cells => cells.map(c => Number(c.getAttribute('data-sort')))"
    )
    assert calls_column == sorted(calls_column, reverse=True) and len(calls_column) == 4
    board.locator('th[data-figure="calls"]').click()
    again = board.locator("tbody tr td:nth-child(2)").evaluate_all(
        "cells => cells.map(c => Number(c.getAttribute('data-sort')))"
    )
    assert again == sorted(calls_column)

    # printed: every chart is still there in print media, and Chromium makes a PDF of it
    page.emulate_media(media="print")
    assert page.locator("svg.chart circle.point").first.is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    (artifacts / "report.pdf").write_bytes(pdf)
