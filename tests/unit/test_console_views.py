"""The console's HTTP side on Faust apps built in this process: token, static files, Server-Sent Events.

Each test installs the console on an app of its own (no Kafka: the reader is never started,
and the tests mark it caught up), then talks HTTP to the app's real aiohttp server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from streams.console.views import STATIC_DIR, Console, install_console
from streams.settings import Settings
from streams.wire.codec import AvroCodec
from tests.unit.test_console_state import nudge, snapshot

_app_ids = itertools.count()


def console_app(**settings: Any) -> tuple[faust.App, Console]:
    config = Settings(kafka_bootstrap="127.0.0.1:9", **settings)
    app = faust.App(f"console-views-{next(_app_ids)}", env={}, autodiscover=False, web_in_thread=False)
    console = install_console(app, config, AvroCodec())
    console.demand.caught_up.set()  # no reader here: requests need not wait for one
    return app, console


def served(app: faust.App, scenario: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with TestClient(TestServer(app.web.web_app)) as client:  # type: ignore[attr-defined]
            return await scenario(client)

    return asyncio.run(run())


def test_importing_the_views_builds_no_app_and_reads_no_environment() -> None:
    # a setting no Settings() accepts: reading the environment would raise
    env = {**os.environ, "CALLFOCUS_WEB_PORT": "not-a-port"}
    probe = (
        "import sys, faust, streams.console.views as views; "
        "print('streams.worker.app' in sys.modules, "
        "any(isinstance(v, faust.App) for v in vars(views).values()))"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_two_apps_in_one_process_each_answer_with_their_own_settings() -> None:
    locked_app, locked = console_app(console_token="s3cret")
    open_app, opened = console_app()
    locked.state.apply_metrics(snapshot("a", 40.0, team="sales"))
    opened.state.apply_metrics(snapshot("b", 70.0, team="support"))

    async def locked_answers(client: TestClient[Any, Any]) -> list[Any]:
        answers = []
        for path, headers in [
            ("/api/teams", {}),
            ("/api/teams", {"Authorization": "Bearer wrong"}),
            ("/api/teams?token=wrong", {}),
            ("/api/teams", {"Authorization": "Bearer s3cret"}),
            ("/api/teams?token=s3cret", {}),
            ("/api/nudges/stream", {}),
        ]:
            response = await client.get(path, headers=headers)
            answers.append((response.status, await response.json()))
        return answers

    unauthorized = {"error": "unauthorized", "detail": "console token required"}
    assert served(locked_app, locked_answers) == [
        (401, unauthorized),
        (401, unauthorized),
        (401, unauthorized),
        (200, ["sales"]),
        (200, ["sales"]),
        (401, unauthorized),
    ]

    async def open_answers(client: TestClient[Any, Any]) -> tuple[Any, ...]:
        teams = await client.get("/api/teams")
        call = await client.get("/api/calls/b")
        missing = await client.get("/api/calls/a")
        return teams.status, await teams.json(), call.status, (await call.json())["call_id"], missing.status

    assert served(open_app, open_answers) == (200, ["support"], 200, "b", 404)


def test_static_files_have_their_content_types_and_security_headers() -> None:
    app, console = console_app()

    async def fetch(client: TestClient[Any, Any]) -> dict[str, Any]:
        page = await client.get("/console")
        script = await client.get("/console/static/console.js")
        style = await client.get("/console/static/console.css")
        etag = {"If-None-Match": script.headers["ETag"]}
        again = await client.get("/console/static/console.js", headers=etag)
        return {
            "page": (page.status, dict(page.headers), await page.read()),
            "script": (script.status, script.headers["Content-Type"], await script.read()),
            "style": (style.status, style.headers["Content-Type"]),
            "again": again.status,
        }

    answers = served(app, fetch)
    status, headers, body = answers["page"]
    assert status == 200 and body == (STATIC_DIR / "console.html").read_bytes()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-cache"
    script = (STATIC_DIR / "console.js").read_bytes()
    assert answers["script"] == (200, "text/javascript; charset=utf-8", script)
    assert answers["style"] == (200, "text/css; charset=utf-8")
    assert answers["again"] == 304  # aiohttp's file response revalidates by ETag
    assert console.demand.wanted.is_set()  # the page starts the reader


def test_static_names_outside_the_list_are_not_found() -> None:
    app, _ = console_app()
    names = [
        "views.py",
        "..",
        "%2e%2e",
        "..%2Fviews.py",
        "%2e%2e%2fviews.py",
        "..%5Cviews.py",
        "console.js%00.html",
        "CONSOLE.JS",
    ]

    async def fetch(client: TestClient[Any, Any]) -> list[tuple[str, int, bytes]]:
        answers = []
        for name in names:
            response = await client.get(f"/console/static/{name}")
            answers.append((name, response.status, await response.read()))
        return answers

    python_source = b"from __future__ import annotations"
    for name, status, body in served(app, fetch):
        assert status == 404, name
        assert python_source not in body, name


async def read_events(response: ClientResponse, count: int) -> list[dict[str, str]]:
    """The next ``count`` events of a stream, each as its fields (comments skipped)."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    while len(events) < count:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line == "":
            if fields:
                events.append(fields)
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


def test_the_stream_sends_the_backlog_the_calls_and_live_entries_of_its_team() -> None:
    app, console = console_app()
    console.state.apply_metrics(snapshot("a", 40.0, team="sales"))
    console.state.apply_nudge(nudge("n1", call_id="a"))
    console.state.apply_nudge({**nudge("n2", call_id="z"), "team": "support"})

    async def stream(client: TestClient[Any, Any]) -> tuple[Any, ...]:
        response = await client.get("/api/nudges/stream?team=sales")
        first = await read_events(response, 2)
        console.state.apply_nudge({**nudge("n3", call_id="y"), "team": "support"})  # another team's
        console.state.apply_nudge(nudge("n4", call_id="a"))
        live = await read_events(response, 1)
        subscribers = len(console.state.subscribers)
        response.close()
        return response.status, dict(response.headers), first, live, subscribers

    status, headers, first, live, subscribers = served(app, stream)
    assert status == 200 and subscribers == 1
    assert headers["Content-Type"] == "text/event-stream"
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Accel-Buffering"] == "no"
    # the backlog (the team's only), with the browser's reconnect delay on the first event
    assert first[0]["event"] == "entry" and first[0]["retry"] == "2000"
    assert json.loads(first[0]["data"])["nudge_id"] == "n1"
    assert first[1]["event"] == "calls" and "retry" not in first[1]
    calls = json.loads(first[1]["data"])
    assert [c["call_id"] for c in calls["calls"]] == ["a"] and calls["total"] == 1
    # the same call and type as n1: the same entry, updated (the page replaces its row)
    [update] = [(e["event"], json.loads(e["data"])) for e in live]
    assert update[0] == "entry" and update[1]["nudge_id"] == "n4"
    assert update[1]["key"] == json.loads(first[0]["data"])["key"] == "a/monologue"
    assert update[1]["nudge_count"] == 2


def test_shutting_the_web_server_down_ends_open_streams() -> None:
    app, console = console_app()

    async def stream(client: TestClient[Any, Any]) -> int:
        response = await client.get("/api/nudges/stream")
        await read_events(response, 1)
        assert len(console.state.subscribers) == 1
        # the server's shutdown: without the hook the handler would wait for the browser
        await asyncio.wait_for(client.server.close(), 10)
        return len(console.state.subscribers)

    assert served(app, stream) == 0


def test_alertmanager_posts_need_the_token_and_join_the_feed() -> None:
    from tests.unit.test_console_feed import T0, alert, notification

    app, console = console_app(console_token="s3cret")
    console.state.apply_nudge(nudge("n1", call_id="a", created_at=T0))
    body = notification(alert())

    async def post(client: TestClient[Any, Any]) -> list[tuple[int, Any]]:
        answers = []
        for headers, data in (
            ({}, json.dumps(body)),  # no token
            ({"Authorization": "Bearer s3cret"}, "{not json"),
            ({"Authorization": "Bearer s3cret"}, json.dumps({"version": "3", "alerts": []})),
            ({"Authorization": "Bearer s3cret"}, "x" * (600 * 1024)),
            ({"Authorization": "Bearer s3cret"}, json.dumps(body)),
        ):
            response = await client.post("/api/alertmanager", data=data, headers=headers)
            answers.append((response.status, await response.json()))
        response = await client.get("/api/alertmanager", headers={"Authorization": "Bearer s3cret"})
        answers.append((response.status, None))
        response = await client.get("/api/feed?team=sales", headers={"Authorization": "Bearer s3cret"})
        answers.append((response.status, await response.json()))
        return answers

    unauthorized, not_json, old_version, too_large, accepted, get, feed = served(app, post)
    assert unauthorized[0] == 401
    assert not_json[0] == 400 and not_json[1]["detail"].startswith("not JSON")
    assert old_version[0] == 400 and "unsupported webhook payload version '3'" in old_version[1]["detail"]
    assert too_large[0] == 413
    assert accepted == (200, {"shown": 1, "ignored": 0})
    assert get[0] == 405
    [entry] = console.state.recent_entries()
    assert entry["sources"] == ["nudge", "alert"] and entry["key"] == "a/monologue"
    assert feed == (200, [entry])
