"""The console's scorecards and reports through the real routes: who may ask (401, 403 with a
supervisor's real OIDC token, every team with the static token), what a query may hold (400),
the cards and figures of the summaries the console holds, and each report format."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from streams.console.views import Console
from tests.oidc_provider import AUDIENCE, ISSUER, IdentityProvider
from tests.unit.test_console_agents import summary
from tests.unit.test_console_views import console_app, served

STATIC = "s3cret-static"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
OTHER_TEAM, OTHER_AGENT = "nightowls", "agent-zed"  # names no report text holds


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def held_app(provider: IdentityProvider) -> tuple[Any, Console, int]:
    """A console holding five summaries: three recent calls of sales (agent-a twice,
    agent-b), one of sales three days back and one of another team; returns the recent
    calls' end (ms)."""
    app, console = console_app(
        console_token=STATIC,
        console_oidc_jwks_url=provider.url,
        console_oidc_issuer=ISSUER,
        console_oidc_audience=AUDIENCE,
    )
    recent = int(time.time() * 1000) - HOUR_MS
    state = console.state
    state.apply_summary(summary("a1", 60.0, recent, nudges=("n1",), hits=2))
    state.apply_summary(summary("a2", 80.0, recent))
    state.apply_summary(summary("b1", 40.0, recent, agent_id="agent-b"))
    state.apply_summary(summary("a-old", 90.0, recent - 3 * DAY_MS))
    state.apply_summary(summary("z1", 10.0, recent, agent_id=OTHER_AGENT, team=OTHER_TEAM))
    return app, console, recent


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def fetch(client: TestClient[Any, Any], path: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
    response = await client.get(path, headers=headers)
    body = await response.read()
    if response.content_type == "application/json":
        return response.status, response.headers, json.loads(body)
    return response.status, response.headers, body.decode()


def ask_all(app: Any, requests: dict[str, tuple[str, dict[str, str]]]) -> dict[str, tuple[int, Any, Any]]:
    async def scenario(client: TestClient[Any, Any]) -> dict[str, tuple[int, Any, Any]]:
        return {name: await fetch(client, path, headers) for name, (path, headers) in requests.items()}

    return served(app, scenario)


def test_who_may_ask_and_what_a_query_may_hold(provider: IdentityProvider) -> None:
    app, _, _ = held_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "no token": ("/api/scorecards", {}),
            "no token: report": ("/api/report?format=csv", {}),
            "wrong token": ("/api/report", bearer("wrong")),
            "supervisor, other team": (f"/api/scorecards?team={OTHER_TEAM}", sales),
            "supervisor, other team: report": (f"/api/report?team={OTHER_TEAM}&format=html", sales),
            "static, other team": (f"/api/scorecards?team={OTHER_TEAM}", static),
            "static, other team: report": (f"/api/report?team={OTHER_TEAM}&format=json", static),
            "bad period": ("/api/scorecards?period=quarter", static),
            "bad since": ("/api/scorecards?since=last-tuesday", static),
            "bad until": ("/api/report?until=2026-13-40&format=csv", static),
            "since after until": ("/api/scorecards?since=1d&until=2d", static),
            "bad zone": ("/api/scorecards?timezone=Mars/Olympus", static),
            "bad format": ("/api/report?format=pdf", static),
            "bad format, other team": (f"/api/report?format=pdf&team={OTHER_TEAM}", sales),
        },
    )
    for name in ("no token", "no token: report", "wrong token"):
        assert answers[name][0] == 401, name
        assert answers[name][1]["WWW-Authenticate"].startswith("Bearer"), name
    for name in ("supervisor, other team", "supervisor, other team: report", "bad format, other team"):
        assert answers[name][0] == 403, name
        assert answers[name][2] == {"error": "forbidden", "detail": f"not a team of yours: {OTHER_TEAM}"}
    assert answers["static, other team"][0] == 200
    assert {card["key"]["team"] for card in answers["static, other team"][2]["cards"]} == {OTHER_TEAM}
    assert answers["static, other team: report"][0] == 200
    bad = ("bad period", "bad since", "bad until", "since after until", "bad zone", "bad format")
    details = {name: answers[name][2]["detail"] for name in bad}
    assert {name: answers[name][0] for name in details} == dict.fromkeys(details, 400)
    assert details["bad period"] == "period: 'quarter' is not one of day, week, month"
    assert details["bad since"].startswith("since: 'last-tuesday' is not a time: give an ISO-8601 date")
    assert details["bad until"].startswith("until: '2026-13-40' is not a time")
    assert re.fullmatch(r"since \(.+\) must be before until \(.+\)", details["since after until"])
    assert details["bad zone"] == "timezone: 'Mars/Olympus' is not an IANA time zone (UTC, Europe/Berlin)"
    assert details["bad format"] == "format: 'pdf' is not one of csv, json, html"


def test_the_cards_and_their_figures_newest_period_first(provider: IdentityProvider) -> None:
    app, _, recent = held_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "static": ("/api/scorecards", static),
            "supervisor": ("/api/scorecards", sales),
            "supervisor, team": ("/api/scorecards?team=sales", sales),
            "agent": ("/api/scorecards?agent=agent-a", sales),
            "last two days": ("/api/scorecards?since=2d", sales),
            "per month": ("/api/scorecards?period=month&since=2026-01-01&until=now", static),
        },
    )
    assert {name: status for name, (status, _, _) in answers.items()} == dict.fromkeys(answers, 200)
    today, old = day_of(recent - 300_000), day_of(recent - 3 * DAY_MS - 300_000)  # the calls' starts

    def keys(body: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [(c["key"]["period_start"], c["key"]["team"], c["key"]["agent_id"]) for c in body["cards"]]

    static_body = answers["static"][2]
    assert keys(static_body) == [
        (today, OTHER_TEAM, ""),
        (today, OTHER_TEAM, OTHER_AGENT),
        (today, "sales", ""),
        (today, "sales", "agent-a"),
        (today, "sales", "agent-b"),
        (old, "sales", ""),
        (old, "sales", "agent-a"),
    ]
    assert static_body["period"] == "day" and static_body["timezone"] == "UTC"
    assert static_body["summaries"] == {"held": 5, "kept": 5} and static_body["history_days"] == 14.0
    cards = dict(zip(keys(static_body), static_body["cards"], strict=True))
    agent_a = cards[(today, "sales", "agent-a")]
    assert agent_a["key"] == {
        "period_start": today,
        "team": "sales",
        "agent_id": "agent-a",
        "kind": "agent",
        "definitions": "d1",
    }
    figures = agent_a["figures"]
    assert (figures["calls"], figures["talk_seconds"], figures["mean_score"], figures["p10_score"]) == (
        2,
        600.0,
        70.0,
        60.0,
    )
    assert figures["nudges_per_call"] == 0.5 and figures["tracker_hits_per_call"] == 1.0
    assert figures["questions_per_call"] == 5.0 and figures["open_question_ratio"] == 0.5
    sales_today = cards[(today, "sales", "")]
    assert sales_today["key"]["kind"] == "team"
    assert sales_today["figures"]["calls"] == 3 and sales_today["figures"]["mean_score"] == 60.0
    assert sales_today["figures"]["p10_score"] == 40.0
    assert cards[(old, "sales", "agent-a")]["figures"]["mean_score"] == 90.0

    supervisor = answers["supervisor"][2]
    assert keys(supervisor) == [k for k in keys(static_body) if k[1] == "sales"]
    assert supervisor["summaries"] == {"held": 4, "kept": 4}  # another team's calls are not counted
    assert supervisor["teams"] == ["sales"]
    assert answers["supervisor, team"][2]["cards"] == supervisor["cards"]
    assert keys(answers["agent"][2]) == [(today, "sales", "agent-a"), (old, "sales", "agent-a")]
    assert keys(answers["last two days"][2]) == [k for k in keys(supervisor) if k[0] == today]
    assert answers["last two days"][2]["summaries"] == {"held": 4, "kept": 3}
    monthly = answers["per month"][2]
    months = sorted({day_of(recent)[:7] + "-01", old[:7] + "-01"}, reverse=True)
    assert [k[0] for k in keys(monthly) if k[1] == "sales" and k[2] == ""] == months
    assert sum(c["figures"]["calls"] for c in monthly["cards"] if c["key"]["kind"] == "team") == 5


def test_each_report_format_and_a_supervisors_report_names_no_other_team(provider: IdentityProvider) -> None:
    app, _, _ = held_app(provider)
    sales = bearer(provider.token(["sales"], subject="alice"))
    static = bearer(STATIC)
    answers = ask_all(
        app,
        {
            "csv": ("/api/report?format=csv&since=7d", static),
            "json": ("/api/report?format=json&since=7d", static),
            "html": ("/api/report?format=html&since=7d", static),
            "scorecards": ("/api/scorecards?since=7d", static),
            "supervisor html": ("/api/report?format=html&period=week", sales),
            "supervisor csv": ("/api/report?format=csv", sales),
            "supervisor json": ("/api/report?format=json", sales),
        },
    )
    assert {name: status for name, (status, _, _) in answers.items()} == dict.fromkeys(answers, 200)
    expected = {
        "csv": ("text/csv; charset=utf-8", "attachment"),
        "json": ("application/json; charset=utf-8", "attachment"),
        "html": ("text/html; charset=utf-8", "inline"),
    }
    for fmt, (content_type, disposition) in expected.items():
        headers = answers[fmt][1]
        assert headers["Content-Type"] == content_type, fmt
        assert re.fullmatch(
            rf'{disposition}; filename="callfocus-scorecards-\d{{4}}-\d\d-\d\d-\d{{4}}-\d\d-\d\d\.{fmt}"',
            headers["Content-Disposition"],
        ), headers["Content-Disposition"]
        assert headers["X-Content-Type-Options"] == "nosniff"

    rows = list(csv.DictReader(io.StringIO(answers["csv"][2])))
    document = answers["json"][2]
    scorecards = answers["scorecards"][2]
    assert len(rows) == len(document["cards"]) == len(scorecards["cards"]) == 7
    assert document["format"] == "callfocus.scorecards" and document["counts"]["kept"] == 5
    assert sorted(json.dumps(c, sort_keys=True) for c in document["cards"]) == sorted(
        json.dumps(c, sort_keys=True) for c in scorecards["cards"]
    )

    # the HTML's policy allows its own inline script and style by digest, nothing else
    html_text, policy = answers["html"][2], answers["html"][1]["Content-Security-Policy"]
    [script] = re.findall(r"<script>(.*?)</script>", html_text, flags=re.S)
    [style] = re.findall(r"<style>(.*?)</style>", html_text, flags=re.S)

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"script-src {digest(script)};" in policy and f"style-src {digest(style)};" in policy
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert OTHER_TEAM in html_text and OTHER_AGENT in html_text  # the static token sees every team

    for name in ("supervisor html", "supervisor csv", "supervisor json"):
        text = answers[name][2] if isinstance(answers[name][2], str) else json.dumps(answers[name][2])
        assert "agent-a" in text and "sales" in text, name
        assert OTHER_TEAM not in text and OTHER_AGENT not in text, name
    assert "<dt>Teams</dt><dd>sales</dd>" in answers["supervisor html"][2]
    assert answers["supervisor json"][2]["filters"]["teams"] == ["sales"]
    assert answers["supervisor json"][2]["counts"]["records"] == 4
