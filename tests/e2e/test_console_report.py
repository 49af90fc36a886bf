"""The console's HTML report in headless Chromium, under the policy the console serves it with:
its inline script (sorting) and style sheet run, nothing else is asked for, no CSP error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.unit.test_console_agents import summary
from tests.unit.test_console_views import console_app

TOKEN = "s3cret-report"
HOUR_MS = 3_600_000


@pytest.fixture
def console_url() -> Iterator[str]:
    """A console holding a few summaries of two teams, served on a real port in a thread."""
    app, console = console_app(console_token=TOKEN)
    ended = int(time.time() * 1000) - HOUR_MS
    for number, (agent, score) in enumerate([("ana", 82.0), ("bo", 41.0), ("chen", 67.0)]):
        console.state.apply_summary(summary(f"c{number}", score, ended, agent_id=agent, team="billing"))
    console.state.apply_summary(summary("s1", 55.0, ended, agent_id="dee", team="sales"))
    port = free_port()
    loop = asyncio.new_event_loop()  # in a thread of its own: Playwright's loop runs in this one
    runner = web.AppRunner(app.web.web_app)  # type: ignore[attr-defined]
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30), "the console did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_the_served_report_sorts_under_its_own_policy(page: Any, artifacts: Path, console_url: str) -> None:
    url = f"{console_url}/api/report?format=html&team=billing&token={TOKEN}"
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(url)
    page.wait_for_load_state("load")

    assert response.status == 200
    assert "script-src 'sha256-" in response.headers["content-security-policy"]
    assert requests == [url], f"the page asked for more than itself: {requests}"
    board = page.locator("table.leaderboard").first
    agents = board.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.agent)")
    assert agents == ["ana", "chen", "bo"]  # highest mean score first, as rendered
    assert "dee" not in page.content()  # the team asked, not sales
    # the style sheet applies (its digest is allowed): headings have their background
    background = board.locator("thead th").first.evaluate("th => getComputedStyle(th).backgroundColor")
    assert background == "rgb(243, 245, 248)"
    # the script runs (its digest is allowed): a click on "Mean score" sorts, twice reverses
    heading = board.locator('thead th[data-figure="mean_score"]')
    heading.click()
    sorted_desc = board.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.agent)")
    heading.click()
    sorted_asc = board.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.agent)")
    assert (sorted_desc, sorted_asc) == (["ana", "chen", "bo"], ["bo", "chen", "ana"])
    assert "sorted-asc" in (heading.get_attribute("class") or "")
    page.screenshot(path=str(artifacts / "console-report.png"), full_page=True)
    # the page fixture fails the test on any console error: a CSP violation is one
