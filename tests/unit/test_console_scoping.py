"""Team-scoped console access through the real routes: supervisors' OIDC tokens (real keys, a
JWKS served over real HTTP), the static token, no token; and the access records.

The access matrix (case -> status) is printed and written to
tests/e2e/artifacts/access-matrix.md, for notes to quote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric import rsa

from streams.console.views import Console
from tests.oidc_provider import AUDIENCE, ISSUER, IdentityProvider
from tests.unit.test_console_state import nudge, snapshot
from tests.unit.test_console_views import console_app, read_events, served

STATIC = "s3cret-static"
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
SNIPPET = "my card number is [card] and my name is Jane"


def scoped_app(provider: IdentityProvider, **settings: Any) -> tuple[Any, Console]:
    app, console = console_app(
        console_token=STATIC,
        console_oidc_jwks_url=provider.url,
        console_oidc_issuer=ISSUER,
        console_oidc_audience=AUDIENCE,
        console_oidc_jwks_refresh_seconds=0.3,
        **settings,
    )
    state = console.state
    state.apply_metrics(snapshot("sales-1", 40.0, team="sales"))
    state.apply_metrics(snapshot("sales-2", 70.0, team="sales"))
    state.apply_metrics(snapshot("support-1", 20.0, team="support"))
    state.apply_metrics(snapshot("retention-1", 55.0, team="retention"))
    state.apply_nudge({**nudge("n-sales", call_id="sales-1"), "snippet": SNIPPET})
    state.apply_nudge({**nudge("n-support", call_id="support-1"), "team": "support"})
    return app, console


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def answer(
    client: TestClient[Any, Any], method: str, path: str, headers: dict[str, str]
) -> tuple[int, Any]:
    response = await client.request(method, path, headers=headers, data=b"{}" if method == "POST" else None)
    body = await response.read()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body.decode(errors="replace")


def test_the_access_matrix(provider: IdentityProvider, caplog: pytest.LogCaptureFixture) -> None:
    app, _ = scoped_app(provider)
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sales = provider.token(["sales"], subject="alice")
    sales_es = provider.token(["sales"], alg="ES256", subject="alice")
    support = provider.token(["support"], subject="bob")
    rotated = provider.token(["sales"], key=other_key, kid="rsa-2", subject="alice")
    # case, method, path, headers, expected status, what the answer must hold
    cases: list[tuple[str, str, str, dict[str, str], int, Any]] = [
        ("no token", "GET", "/api/calls", {}, 401, "bearer token required"),
        (
            "static token: calls",
            "GET",
            "/api/calls",
            bearer(STATIC),
            200,
            ["support-1", "sales-1", "retention-1", "sales-2"],
        ),
        ("static token: teams", "GET", "/api/teams", bearer(STATIC), 200, ["retention", "sales", "support"]),
        ("static token: support call", "GET", "/api/calls/support-1", bearer(STATIC), 200, "support-1"),
        ("team A (RS256): calls", "GET", "/api/calls", bearer(sales), 200, ["sales-1", "sales-2"]),
        ("team A (ES256): calls", "GET", "/api/calls", bearer(sales_es), 200, ["sales-1", "sales-2"]),
        ("team A: token as ?token=", "GET", f"/api/calls?token={sales}", {}, 200, ["sales-1", "sales-2"]),
        ("team A: ?team=A", "GET", "/api/calls?team=sales", bearer(sales), 200, ["sales-1", "sales-2"]),
        ("team A: teams", "GET", "/api/teams", bearer(sales), 200, ["sales"]),
        ("team A: own call", "GET", "/api/calls/sales-1", bearer(sales), 200, "sales-1"),
        ("team A: feed", "GET", "/api/feed", bearer(sales), 200, ["sales-1"]),
        (
            "team A asks team B: calls",
            "GET",
            "/api/calls?team=support",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        (
            "team A asks team B: call",
            "GET",
            "/api/calls/support-1",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        (
            "team A asks team B: feed",
            "GET",
            "/api/feed?team=support",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        (
            "team A asks team B: stream",
            "GET",
            "/api/nudges/stream?team=support",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        ("team A: scorecard table", "GET", "/api/scorecards?source=table", bearer(sales), 200, None),
        (
            "team A asks team B: scorecard table",
            "GET",
            "/api/scorecards?source=table&team=support",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        (
            "team A asks team B: report",
            "GET",
            "/api/report?team=support&format=csv",
            bearer(sales),
            403,
            "not a team of yours: support",
        ),
        ("team A: unknown call", "GET", "/api/calls/nope", bearer(sales), 404, None),
        ("team B: calls", "GET", "/api/calls", bearer(support), 200, ["support-1"]),
        (
            "team A: Alertmanager webhook",
            "POST",
            "/api/alertmanager",
            bearer(sales),
            403,
            "takes the console token only",
        ),
        (
            "expired",
            "GET",
            "/api/calls",
            bearer(provider.token(exp=now - 120, iat=now - 600, nbf=now - 600)),
            401,
            "token expired",
        ),
        (
            "wrong audience",
            "GET",
            "/api/calls",
            bearer(provider.token(aud="another-app")),
            401,
            "token is for another audience",
        ),
        (
            "wrong issuer",
            "GET",
            "/api/calls",
            bearer(provider.token(iss="https://evil.example.test")),
            401,
            "token from another issuer",
        ),
        (
            "wrong signature (same kid)",
            "GET",
            "/api/calls",
            bearer(provider.token(key=other_key, kid="rsa-1")),
            401,
            "token signature does not verify",
        ),
        (
            "alg none",
            "GET",
            "/api/calls",
            bearer(provider.unsigned_token()),
            401,
            "token algorithm not accepted (RS256 or ES256 only)",
        ),
        (
            "HS256 signed with the public key",
            "GET",
            "/api/calls",
            bearer(provider.hs256_with_public_key()),
            401,
            "token algorithm not accepted (RS256 or ES256 only)",
        ),
        (
            "missing teams claim",
            "GET",
            "/api/calls",
            bearer(provider.token(teams=None)),
            401,
            "token has no teams claim 'teams'",
        ),
        ("wrong static token", "GET", "/api/calls", bearer("s3cret-wrong"), 401, "not a signed JWT"),
        (
            "unknown kid (not published)",
            "GET",
            "/api/calls",
            bearer(rotated),
            401,
            "token signed by an unknown key",
        ),
        (
            "unknown kid, published, re-fetched",
            "GET",
            "/api/calls",
            bearer(rotated),
            200,
            ["sales-1", "sales-2"],
        ),
    ]

    async def run(client: TestClient[Any, Any]) -> list[tuple[str, int, Any]]:
        results = []
        for case, method, path, headers, _, _ in cases:
            if case.startswith("unknown kid, published"):
                provider.publish(other_key, "rsa-2")
                await asyncio.sleep(0.35)  # past the re-fetch interval
            status, body = await answer(client, method, path, headers)
            results.append((case, status, body))
        return results

    with caplog.at_level(logging.INFO, logger="callfocus.access"):
        results = served(app, run)
    fetches = provider.fetches

    matrix = ["| case | request | expected | status | detail |", "| --- | --- | --- | --- | --- |"]
    for (case, method, path, _, expected, _), (_, status, body) in zip(cases, results, strict=True):
        shown = path.split("?token=")[0] + ("?token=…" if "?token=" in path else "")
        detail = body.get("detail", "") if isinstance(body, dict) else ""
        matrix.append(f"| {case} | `{method} {shown}` | {expected} | {status} | {detail} |")
    table = "\n".join(matrix)
    print("\n" + table)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "access-matrix.md").write_text(table + "\n")

    for (case, _, _, _, expected, holds), (_, status, body) in zip(cases, results, strict=True):
        assert status == expected, (case, status, body)
        if isinstance(holds, list) and status == 200:
            ids = [item["call_id"] if isinstance(item, dict) and "call_id" in item else item for item in body]
            assert ids == holds, (case, body)
        elif isinstance(holds, str) and status == 200:
            assert body["call_id"] == holds, case
        elif isinstance(holds, str):
            assert holds in body["detail"], (case, body)
            assert body["error"] in ("unauthorized", "forbidden"), (case, body)
    # the first load, then one for the unknown kid once the re-fetch interval had passed (its
    # first request came within the interval of the first load: rate-limited, no fetch)
    assert fetches == 2

    # access records: one per request, who and what, never a token or transcript text
    records = [
        json.loads(r.getMessage().removeprefix("access "))
        for r in caplog.records
        if r.name == "callfocus.access"
    ]
    assert len(records) == len(cases)
    tokens = {sales, sales_es, support, rotated, STATIC}
    for record in caplog.records:
        message = record.getMessage()
        assert not any(token in message for token in tokens), message
        assert SNIPPET not in message
    by_case = dict(zip([c[0] for c in cases], records, strict=True))
    ask_b = by_case["team A asks team B: calls"]
    assert {k: ask_b[k] for k in ("subject", "method", "path", "team", "status")} == {
        "subject": "alice",
        "method": "GET",
        "path": "/api/calls?team=support",
        "team": "support",
        "status": 403,
    }
    assert ask_b["duration_seconds"] >= 0 and ask_b["at"].endswith("Z")
    assert by_case["team A: token as ?token="]["path"] == "/api/calls"  # the token left out
    assert by_case["static token: calls"]["subject"] == "console-token"
    assert by_case["team B: calls"]["subject"] == "bob"
    expired = by_case["expired"]
    assert (expired["subject"], expired["status"], expired["refused"]) == (None, 401, "token expired")


def test_a_supervisors_stream_carries_only_their_teams(provider: IdentityProvider) -> None:
    app, console = scoped_app(provider)
    token = provider.token(["sales"])

    async def stream(client: TestClient[Any, Any]) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
        response = await client.get(f"/api/nudges/stream?token={token}")
        first = await read_events(response, 2)  # the sales entry's backlog, then the calls
        console.state.apply_nudge({**nudge("n-support-2", call_id="support-1"), "team": "support"})
        console.state.apply_metrics(snapshot("support-2", 10.0, team="support", emitted_at=2_000))
        console.state.apply_nudge(nudge("n-sales-2", call_id="sales-2"))
        live = await read_events(response, 2)
        response.close()
        return response.status, first, live

    status, first, live = served(app, stream)
    assert status == 200
    assert [(e["event"], json.loads(e["data"]).get("call_id")) for e in first] == [
        ("entry", "sales-1"),
        ("calls", None),
    ]
    calls = json.loads(first[1]["data"])
    assert [c["call_id"] for c in calls["calls"]] == ["sales-1", "sales-2"]
    assert calls["teams"] == ["sales"] and calls["total"] == 2  # no count of other teams' calls
    # the support nudge and the support call never reach this stream
    assert live[0]["event"] == "entry" and json.loads(live[0]["data"])["call_id"] == "sales-2"
    assert live[1]["event"] == "calls"
    later = json.loads(live[1]["data"])
    assert {c["team"] for c in later["calls"]} == {"sales"} and later["total"] == 2


def test_a_stream_ends_when_its_token_expires(provider: IdentityProvider) -> None:
    app, _ = scoped_app(provider, console_oidc_leeway_seconds=0)
    token = provider.token(["sales"], exp=int(time.time()) + 2)

    async def stream(client: TestClient[Any, Any]) -> tuple[int, float, tuple[int, Any]]:
        started = time.monotonic()
        response = await client.get(f"/api/nudges/stream?token={token}")
        await read_events(response, 2)
        await asyncio.wait_for(response.content.read(), 10)  # the server ends the stream
        ended_after = time.monotonic() - started
        again = await answer(client, "GET", f"/api/nudges/stream?token={token}", {})
        return response.status, ended_after, again

    status, ended_after, (again_status, again_body) = served(app, stream)
    assert status == 200 and ended_after < 6
    assert again_status == 401 and again_body["detail"] == "token expired"


def test_without_oidc_the_static_token_and_the_open_console_see_every_team() -> None:
    app, console = console_app()
    console.state.apply_metrics(snapshot("a", 40.0, team="sales"))
    console.state.apply_metrics(snapshot("b", 40.0, team="support"))

    async def fetch(client: TestClient[Any, Any]) -> tuple[int, Any]:
        return await answer(client, "GET", "/api/teams", {})

    assert served(app, fetch) == (200, ["sales", "support"])


def test_signing_keys_that_cannot_be_loaded_are_a_503_not_a_401() -> None:
    provider = IdentityProvider()  # never started: nothing listens on its port
    provider.server = None
    app, _ = console_app(
        console_oidc_jwks_url="http://127.0.0.1:9/jwks",
        console_oidc_issuer=ISSUER,
        console_oidc_audience=AUDIENCE,
        console_oidc_jwks_timeout_seconds=1,
    )

    async def fetch(client: TestClient[Any, Any]) -> tuple[int, Any]:
        return await answer(client, "GET", "/api/calls", bearer(provider.token()))

    status, body = served(app, fetch)
    assert status == 503 and body["error"] == "unavailable"
    assert "signing keys could not be loaded" in body["detail"]
