"""Scorecard reports: CSV, JSON and the self-contained HTML page (streams/coaching/report.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from streams.coaching.report import (
    CSV_COLUMNS,
    ReadCounts,
    ReportMeta,
    period_starts,
    render_csv,
    render_html,
    render_json,
    report_document,
)
from streams.coaching.scorecards import ScorecardKey, build_scorecards, roll_up

DAY_MS = 86_400_000
MONDAY = int(datetime(2026, 11, 2, 9, tzinfo=UTC).timestamp() * 1000)


def summary(agent: str, team: str, day: int, score: float | None, **values: Any) -> dict[str, Any]:
    started = MONDAY + day * DAY_MS
    return {
        "call_id": f"{agent}-{day}-{score}",
        "agent_id": agent,
        "team": team,
        "started_at": started,
        "ended_at": started + 300_000,
        "duration_seconds": 300.0,
        "customer_focus_score": score,
        "agent_talk_ratio": values.get("talk", 0.5),
        "questions_per_minute": values.get("qpm", 1.2),
        "open_question_ratio": values.get("open", 0.5),
        "monologue_longest_seconds": values.get("monologue", 30.0),
        "nudges": values.get("nudges", []),
        "tracker_hits": values.get("hits", []),
        "definitions": values.get("definitions", "1.0+abc"),
    }


def meta(**changes: Any) -> ReportMeta:
    values: dict[str, Any] = {
        "since": datetime(2026, 11, 2, tzinfo=UTC),
        "until": datetime(2026, 11, 16, tzinfo=UTC),
        "period": "week",
        "timezone": "UTC",
        "generated_at": datetime(2026, 12, 6, 12, tzinfo=UTC),
        "counts": ReadCounts(records=7, kept=5, undecodable={"unknown_format": 1}, outside_window=1),
    }
    values.update(changes)
    return ReportMeta(**values)


@pytest.fixture
def cards() -> dict[ScorecardKey, Any]:
    calls = [
        summary("ana", "billing", 0, 80.0, nudges=["n1"]),
        summary("ana", "billing", 1, 60.0, talk=0.7, hits=[{"tracker": "refund", "hits": 2}]),
        summary("ana", "billing", 7, 90.0, qpm=2.4, open=0.25, monologue=61.5),
        summary("bo", "billing", 8, None),
        summary("bo", "billing", 9, 40.0, definitions="1.1+def"),
    ]
    return roll_up(build_scorecards(calls), "week")


def test_csv_has_the_header_and_one_exact_row_per_card(cards: dict[ScorecardKey, Any]) -> None:
    text = render_csv(cards, meta())
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[0] == (
        "period,period_start,team,agent_id,definitions,calls,talk_seconds,mean_score,p10_score,"
        "agent_talk_ratio,questions_per_call,open_question_ratio,monologue_p90_seconds,"
        "nudges_per_call,tracker_hits_per_call"
    )
    assert lines[1:] == [
        # definitions, then team, the team's own card (empty agent) before its agents, then period
        "week,2026-11-02,billing,,1.0+abc,2,600.0,70.0,60.0,0.6,6.0,0.5,30.0,0.5,1.0",
        "week,2026-11-09,billing,,1.0+abc,2,600.0,90.0,90.0,0.5,9.0,0.333333,62.0,0.0,0.0",
        "week,2026-11-02,billing,ana,1.0+abc,2,600.0,70.0,60.0,0.6,6.0,0.5,30.0,0.5,1.0",
        "week,2026-11-09,billing,ana,1.0+abc,1,300.0,90.0,90.0,0.5,12.0,0.25,62.0,0.0,0.0",
        "week,2026-11-09,billing,bo,1.0+abc,1,300.0,,,0.5,6.0,0.5,30.0,0.0,0.0",
        "week,2026-11-09,billing,,1.1+def,1,300.0,40.0,40.0,0.5,6.0,0.5,30.0,0.0,0.0",
        "week,2026-11-09,billing,bo,1.1+def,1,300.0,40.0,40.0,0.5,6.0,0.5,30.0,0.0,0.0",
    ]
    assert len(list(csv.reader(io.StringIO(text)))) == len(cards) + 1


def test_csv_quotes_a_name_with_a_comma() -> None:
    cards = build_scorecards([summary('a,"b"', "team, east", 0, 50.0)])
    rows = list(csv.reader(io.StringIO(render_csv(cards, meta(period="day")))))
    assert {(row[2], row[3]) for row in rows[1:]} == {("team, east", ""), ("team, east", 'a,"b"')}


def test_json_is_the_documented_structure(cards: dict[ScorecardKey, Any]) -> None:
    document = json.loads(render_json(cards, meta(teams=("billing",))))
    assert document == report_document(cards, meta(teams=("billing",)))
    assert set(document) == {
        "format",
        "version",
        "generated_at",
        "window",
        "period",
        "timezone",
        "filters",
        "definitions",
        "definitions_kept_apart",
        "counts",
        "cards",
    }
    assert document["format"] == "callfocus.scorecards" and document["version"] == 1
    assert document["window"] == {"since": "2026-11-02T00:00:00+00:00", "until": "2026-11-16T00:00:00+00:00"}
    assert document["filters"] == {"teams": ["billing"], "agents": []}
    assert document["definitions"] == ["1.0+abc", "1.1+def"] and document["definitions_kept_apart"] is True
    assert document["counts"] == {
        "records": 7,
        "kept": 5,
        "skipped": {"undecodable": 1, "undecodable_by_reason": {"unknown_format": 1}, "other_records": 0},
        "left_out": {"outside_window": 1, "other_teams_or_agents": 0},
    }
    assert len(document["cards"]) == 7
    first = document["cards"][0]
    assert first["key"] == {
        "period_start": "2026-11-02",
        "team": "billing",
        "agent_id": "",
        "kind": "team",
        "definitions": "1.0+abc",
    }
    assert first["figures"] == {
        "calls": 2,
        "talk_seconds": 600.0,
        "mean_score": 70.0,
        "p10_score": 60.0,
        "agent_talk_ratio": 0.6,
        "questions_per_call": 6.0,
        "open_question_ratio": 0.5,
        "monologue_p90_seconds": 30.0,
        "nudges_per_call": 0.5,
        "tracker_hits_per_call": 1.0,
    }
    unscored = next(c for c in document["cards"] if c["key"]["agent_id"] == "bo")
    assert unscored["figures"]["mean_score"] is None  # null, never 0


def test_json_of_no_cards_says_so() -> None:
    document = json.loads(render_json({}, meta(counts=None)))
    assert document["cards"] == [] and document["definitions"] == [] and document["counts"] is None


class Page(HTMLParser):
    """What the tests look at in a page: every tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_self_contained_and_holds_charts_and_leaderboards(cards: dict[ScorecardKey, Any]) -> None:
    text = render_html(cards, meta())
    page = parse(text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
        assert tag not in {"link", "img", "iframe", "object", "embed"}, tag
    assert "@import" not in text and "url(" not in text
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{}]  # one inline script, no src
    charts = [attrs for tag, attrs in page.tags if tag == "svg"]
    # per definitions and team: the team's trend and each agent's, four panels each
    assert len(charts) == 4 * (1 + 2) + 4 * (1 + 1)
    points = [attrs for tag, attrs in page.tags if tag == "circle" and attrs.get("class") == "point"]
    assert {p["data-period"] for p in points} == {"2026-11-02", "2026-11-09"}
    assert any(p["data-value"] == "90.0" for p in points)
    rows = [attrs for tag, attrs in page.tags if tag == "tr" and "data-agent" in attrs]
    assert [r["data-agent"] for r in rows] == ["ana", "bo", "bo"]  # ana: mean 80; bo: no score; 1.1+def
    words = " ".join(page.text)
    assert "These calls were scored under 2 definitions" in words
    assert "Definitions 1.0+abc" in words and "Definitions 1.1+def" in words
    assert "2026-11-02 00:00 to 2026-11-16 00:00 (UTC)" in words
    assert "1 undecodable skipped (unknown_format 1)" in words


def test_html_escapes_every_name() -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    cards = build_scorecards(
        [summary(f'"><svg onload=alert(2)>{attack}', f"{attack}team", 0, 70.0, definitions=f"{attack}")]
    )
    text = render_html(cards, meta(teams=(f"{attack}team",), agents=("x'\"<b>",)))
    page = parse(text)
    assert [tag for tag, _ in page.tags if tag == "script"] == ["script"]  # only the page's own
    assert not [tag for tag, _ in page.tags if tag == "img" or tag == "b"]
    assert all(not name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;team" in text
    assert f"{attack}team" in " ".join(page.text)  # shown as text, as it was written


def test_a_period_without_calls_leaves_a_gap_in_the_line() -> None:
    cards = roll_up(build_scorecards([summary("ana", "t", 0, 50.0), summary("ana", "t", 14, 70.0)]), "week")
    page = parse(render_html(cards, meta(until=datetime(2026, 11, 23, tzinfo=UTC))))
    score_lines = [a for t, a in page.tags if t == "polyline"]
    assert score_lines == []  # two points, a week apart with nothing between: no line joins them
    points = [a for t, a in page.tags if t == "circle" and a.get("data-period")]
    assert {p["data-period"] for p in points} == {"2026-11-02", "2026-11-16"}


def test_periods_cover_the_window_in_its_zone() -> None:
    window = meta(
        since=datetime(2026, 10, 30, 23, tzinfo=UTC),  # already the 31st in Berlin
        until=datetime(2027, 1, 1, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert period_starts(window.__class__(**{**window.__dict__, "period": "month"})) == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),  # until is 01:00 on the 1st in Berlin
    ]
    days = period_starts(
        meta(since=datetime(2026, 11, 2, tzinfo=UTC), until=datetime(2026, 11, 5, tzinfo=UTC), period="day")
    )
    assert days == [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]  # until excluded
    weeks = period_starts(
        meta(since=datetime(2026, 11, 4, tzinfo=UTC), until=datetime(2026, 11, 17, tzinfo=UTC))
    )
    assert weeks == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]


def test_an_empty_report_says_no_call_matched() -> None:
    text = render_html({}, meta())
    assert "No call of the teams and agents asked started in this window." in text
    assert render_csv({}, meta()) == ",".join(CSV_COLUMNS) + "\n"


def test_every_agent_section_has_its_own_id_and_the_leaderboard_links_to_it(
    cards: dict[ScorecardKey, Any],
) -> None:
    page = parse(render_html(cards, meta()))
    ids = [attrs["id"] for _, attrs in page.tags if attrs.get("id", "").startswith("agent-")]
    assert len(ids) == len(set(ids)) == 3  # ana and bo under 1.0+abc, bo under 1.1+def
    assert all(re.fullmatch(r"agent-[0-9a-f]{16}", i) for i in ids)
    links = {attrs["href"] for tag, attrs in page.tags if tag == "a"}
    assert links == {f"#{i}" for i in ids}
