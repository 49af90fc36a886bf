"""The agent page's and the acknowledgements' routes: who may ask (401, 403), what is not there
(404), what a body may hold (400, 413, 415) and the JSON they answer with."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp.test_utils import TestClient

from streams.console.access import Principal
from streams.console.acks import MAX_NOTE_CHARS
from tests.unit.test_console_agents import summary
from tests.unit.test_console_state import nudge, snapshot
from tests.unit.test_console_views import console_app, served

JSON = {"Content-Type": "application/json"}


def scoped_to(console: Any, teams: set[str] | None) -> None:
    """Answer as a supervisor of ``teams`` (None: every team) when the token is right."""
    token = console.principal

    def principal(request: Any) -> Principal | None:
        if token(request) is None:
            return None
        return Principal("sam@example.com", None if teams is None else frozenset(teams))

    console.principal = principal


def test_the_agent_route_answers_401_403_404_and_the_agent_of_a_visible_team() -> None:
    app, console = console_app(console_token="s3cret")
    scoped_to(console, {"sales"})
    now_ms = int(time.time() * 1000)
    console.state.apply_metrics(snapshot("live1", 55.0, emitted_at=now_ms, agent_id="agent-a"))
    console.state.apply_summary(summary("ended1", 72.0, now_ms - 3_600_000))
    console.state.apply_summary(summary("s1", 30.0, now_ms - 3_600_000, agent_id="agent-s", team="support"))
    auth = {"Authorization": "Bearer s3cret"}

    async def ask(client: TestClient[Any, Any]) -> dict[str, tuple[int, Any]]:
        answers = {}
        for name, path, headers in [
            ("no token", "/api/agents/agent-a", {}),
            ("agent", "/api/agents/agent-a", auth),
            ("agent in team", "/api/agents/agent-a?team=sales", auth),
            ("other team asked", "/api/agents/agent-a?team=support", auth),
            ("agent of another team", "/api/agents/agent-s", auth),
            ("unknown agent", "/api/agents/nobody", auth),
            ("team the agent is not in", "/api/agents/agent-s?team=sales", auth),
        ]:
            response = await client.get(path, headers=headers)
            answers[name] = (response.status, await response.json())
        return answers

    answers = served(app, ask)
    assert answers["no token"][0] == 401
    assert answers["other team asked"] == (
        403,
        {"error": "forbidden", "detail": "not a team of yours: support"},
    )
    assert answers["agent of another team"][0] == 403
    assert answers["unknown agent"] == (404, {"error": "not found", "agent_id": "nobody"})
    assert answers["team the agent is not in"][0] == 404
    status, body = answers["agent"]
    in_team = answers["agent in team"]
    assert status == 200 and in_team[0] == 200
    assert {**in_team[1], "server_time": 0} == {**body, "server_time": 0}  # asked at another ms
    assert set(body) == {"agent_id", "teams", "calls", "trend", "today", "history_days", "server_time"}
    assert body["agent_id"] == "agent-a" and body["teams"] == ["sales"]
    assert [(c["call_id"], c["live"]) for c in body["calls"]] == [("live1", True), ("ended1", False)]
    assert set(body["calls"][1]) >= {"score", "duration_seconds", "nudges", "tracker_hits", "held", "day"}
    assert body["calls"][1]["score"] == 72.0 and body["calls"][1]["held"] is False
    [point] = body["trend"]
    assert point["calls"] == 1 and point["mean_score"] == 72.0 and point["p10_score"] == 72.0


def test_an_ack_needs_a_token_a_known_nudge_a_team_of_yours_and_a_bounded_note() -> None:
    app, console = console_app(console_token="s3cret")
    scoped_to(console, {"sales"})
    console.state.apply_nudge(nudge("n1", call_id="a"))
    console.state.apply_nudge({**nudge("n2", call_id="b"), "team": "support"})
    auth = {"Authorization": "Bearer s3cret", **JSON}

    async def post(client: TestClient[Any, Any]) -> dict[str, tuple[int, Any]]:
        answers = {}
        for name, path, headers, data in [
            ("no token", "/api/nudges/n1/ack", JSON, "{}"),
            ("unknown nudge", "/api/nudges/nope/ack", auth, "{}"),
            ("another team's nudge", "/api/nudges/n2/ack", auth, "{}"),
            ("not json", "/api/nudges/n1/ack", auth, "{note"),
            ("a form", "/api/nudges/n1/ack", {"Authorization": "Bearer s3cret"}, "note=x"),
            ("long note", "/api/nudges/n1/ack", auth, json.dumps({"note": "x" * (MAX_NOTE_CHARS + 1)})),
            ("huge body", "/api/nudges/n1/ack", auth, json.dumps({"note": "x" * 20_000})),
            ("other fields", "/api/nudges/n1/ack", auth, json.dumps({"note": "x", "acked_by": "ceo"})),
        ]:
            response = await client.post(path, data=data, headers=headers)
            answers[name] = (response.status, await response.json())
        response = await client.head("/api/nudges/n1/ack", headers=auth)
        answers["head"] = (response.status, None)
        response = await client.get("/api/nudges/n1/ack", headers=auth)
        answers["get"] = (response.status, None)  # no GET route: aiohttp's own 405
        return answers

    answers = served(app, post)
    assert answers["no token"][0] == 401
    assert answers["unknown nudge"] == (404, {"error": "not found", "nudge_id": "nope"})
    assert answers["another team's nudge"] == (
        403,
        {"error": "forbidden", "detail": "not a team of yours: support"},
    )
    assert answers["not json"][0] == 400 and answers["not json"][1]["detail"].startswith("not JSON")
    assert answers["a form"][0] == 415
    assert answers["long note"] == (
        400,
        {
            "error": "bad request",
            "detail": f"note: {MAX_NOTE_CHARS + 1} characters, at most {MAX_NOTE_CHARS}",
        },
    )
    assert answers["huge body"][0] == 413
    assert answers["other fields"] == (400, {"error": "bad request", "detail": "unknown fields: acked_by"})
    assert answers["head"][0] == 405 and answers["get"][0] == 405
    assert len(console.state.acks) == 0  # none of them was taken


def test_an_ack_kafka_does_not_take_is_a_503_and_not_shown() -> None:
    # the unit tests' bootstrap is a port where nothing listens: the real producer fails
    app, console = console_app()
    console.state.apply_nudge(nudge("n1", call_id="a"))

    async def post(client: TestClient[Any, Any]) -> tuple[int, Any]:
        response = await client.post("/api/nudges/n1/ack", data=json.dumps({"note": "ok"}), headers=JSON)
        return response.status, await response.json()

    status, body = served(app, post)
    assert status == 503 and body["error"] == "unavailable" and "Kafka" in body["detail"]
    assert console.state.recent_entries()[0]["ack"] is None
