"""Two supervisors, each with an OIDC token for their own team, open the console in a real
headless Chromium against a real worker and Kafka: each sees only their team's calls and
feed, and the other team's call detail answers 403. The worker fetches the signing keys
over HTTP from a JWKS this test serves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.tools.replay import replay
from tests.e2e.test_console import http, live_sample_calls, monologue_notification, settings_for
from tests.integration.worker import WorkerProcess, eventually
from tests.oidc_provider import AUDIENCE, ISSUER, IdentityProvider

pytestmark = pytest.mark.integration

STATIC = "s3cret-static"
TEAM_OF = {"demo-focused": "retention", "demo-pitcher": "sales", "demo-monologue": "support"}
AGENT_OF = {"demo-focused": "agent-ana", "demo-pitcher": "agent-bo", "demo-monologue": "agent-cy"}


def alert_for(call_id: str) -> dict[str, Any]:
    """Alertmanager's monologue alert for ``call_id``, with that call's team and agent."""
    body = monologue_notification(call_id, "firing")
    alert = body["alerts"][0]
    alert["labels"].update(team=TEAM_OF[call_id], agent_id=AGENT_OF[call_id])
    alert["annotations"]["summary"] = f"Agent {AGENT_OF[call_id]} is in a monologue on call {call_id}"
    return body


def open_console(browser: Any, url: str, token: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{url}/console")
    page.wait_for_selector("#token-form:not([hidden])", timeout=10_000)
    page.fill("#token-input", token)
    page.click("#token-submit")
    page.wait_for_selector("#status[data-state=live]", timeout=15_000)
    return context, page, errors


def shown(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => ({
            rows: [...document.querySelectorAll('#calls tbody tr[data-call-id]')].map(r => r.dataset.callId),
            teams: [...document.querySelectorAll('#team-filter option')].map(o => o.value),
            feed: [...document.querySelectorAll('#nudge-feed li[data-call-id]')].map(li => li.dataset.callId),
            text: document.body.innerText,
        })"""
    )


def fetch_status(page: Any, path: str, token: str) -> int:
    return int(
        page.evaluate(
            """async ([path, token]) =>
                (await fetch(path, {headers: {Authorization: `Bearer ${token}`}})).status""",
            [path, token],
        )
    )


def test_two_supervisors_each_see_only_their_own_team(
    start_worker: Callable[..., WorkerProcess],
    topics: dict[str, str],
    browser: Any,
    provider: IdentityProvider,
    artifacts: Path,
) -> None:
    worker = start_worker(
        console_token=STATIC,
        console_oidc_jwks_url=provider.url,
        console_oidc_issuer=ISSUER,
        console_oidc_audience=AUDIENCE,
    )
    static = {"Authorization": f"Bearer {STATIC}"}
    replay(live_sample_calls(), settings_for(topics), speed=None)

    def every_call() -> list[str] | None:
        status, body = http(f"{worker.url}/api/calls", static)
        ids = sorted(c["call_id"] for c in json.loads(body)) if status == 200 else []
        return ids if ids == sorted(TEAM_OF) else None

    eventually(every_call, timeout=30)
    # a feed entry for each call (Alertmanager's call alerts, posted with the static token)
    for call_id in TEAM_OF:
        assert http(f"{worker.url}/api/alertmanager", static, body=alert_for(call_id))[0] == 200

    sales = provider.token(["sales"], subject="alice")
    support = provider.token(["support"], alg="ES256", subject="bob")
    contexts = []
    try:
        context_a, page_a, errors_a = open_console(browser, worker.url, sales)
        contexts.append(context_a)
        context_b, page_b, errors_b = open_console(browser, worker.url, support)
        contexts.append(context_b)

        def settled(page: Any, call_id: str) -> dict[str, Any] | None:
            seen = shown(page)
            return seen if seen["rows"] == [call_id] and seen["feed"] == [call_id] else None

        eventually(lambda: settled(page_a, "demo-pitcher"), timeout=20)
        eventually(lambda: settled(page_b, "demo-monologue"), timeout=20)
        time.sleep(2.5)  # a few more call lists on the stream: still only their own
        seen_a, seen_b = shown(page_a), shown(page_b)

        assert seen_a["rows"] == ["demo-pitcher"] and seen_a["feed"] == ["demo-pitcher"]
        assert seen_a["teams"] == ["", "sales"]
        assert seen_b["rows"] == ["demo-monologue"] and seen_b["feed"] == ["demo-monologue"]
        assert seen_b["teams"] == ["", "support"]
        # nothing of the sales team anywhere on the support supervisor's page
        for text in ("agent-bo", "demo-pitcher", "sales", "agent-ana", "retention"):
            assert text not in seen_b["text"], text
        assert "1 live calls" in seen_b["text"]  # the count is of their calls, not the cluster's
        page_b.screenshot(path=str(artifacts / "console-supervisor-support.png"), full_page=True)
        page_a.screenshot(path=str(artifacts / "console-supervisor-sales.png"), full_page=True)

        # the other team's call detail, its calls and its stream: 403, from inside the page
        assert fetch_status(page_b, "/api/calls/demo-pitcher", support) == 403
        assert fetch_status(page_b, "/api/calls?team=sales", support) == 403
        assert fetch_status(page_b, "/api/nudges/stream?team=sales", support) == 403
        assert fetch_status(page_b, "/api/calls/demo-monologue", support) == 200
        assert fetch_status(page_a, "/api/calls/demo-monologue", sales) == 403
        # (before leaving the page: the browser then asks for a favicon, a 404)
        unexpected = [e for e in errors_a + errors_b if not any(code in e for code in ("401", "403"))]
        assert not unexpected, unexpected
        # the support supervisor opens the sales call's detail URL directly
        page_b.goto(f"{worker.url}/api/calls/demo-pitcher?token={support}")
        body = page_b.text_content("body") or ""
        assert json.loads(body) == {"error": "forbidden", "detail": "not a team of yours: sales"}
        page_b.screenshot(path=str(artifacts / "console-supervisor-support-403.png"))

    finally:
        for context in contexts:
            context.close()

    # one access record per request, naming the supervisor; never the token. A stream's record
    # is written when it ends: the worker notices a browser has left at its next write to it
    # (a change of the call list or a heartbeat), or at its own stop, which comes first here
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    records = [json.loads(line.split(" access ", 1)[1]) for line in log.splitlines() if " access {" in line]
    assert sales not in log and support not in log and STATIC not in log
    denied = [r for r in records if r["subject"] == "bob" and r["path"] == "/api/calls/demo-pitcher"]
    assert denied and all(r["status"] == 403 for r in denied)
    streams = {r["subject"]: r for r in records if r["path"] == "/api/nudges/stream"}
    assert set(streams) == {"alice", "bob"}
    assert all(r["status"] == 200 and r["duration_seconds"] > 2 for r in streams.values())
    assert [r["refused"] for r in records if r["status"] == 401] == ["bearer token required"] * 2
    print(f"access records: {len(records)}; e.g. {json.dumps(denied[0])}")
