"""The nudge webhook against a real local HTTP server: delivery, retries, timeout, full queue."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from streams.worker.webhook import NudgeWebhook, slack_payload

NUDGE = {
    "nudge_id": "c1:monologue:95000",
    "call_id": "c1",
    "agent_id": "a7",
    "team": "sales",
    "type": "monologue",
    "severity": "warning",
    "message": "Agent has talked for 1m35s without a customer turn.",
    "evidence": {"monologue_current_seconds": 95.0},
    "media_time_ms": 95000,
    "created_at": 1,
    "snippet": None,
}


def failures_counter() -> Counter:
    return Counter("failures", "test", registry=CollectorRegistry())


async def serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook"


def test_slack_payload_has_text_and_the_nudge() -> None:
    payload = slack_payload(NUDGE)
    assert "*monologue*" in payload["text"] and "monologue_current_seconds=95" in payload["text"]
    assert payload["nudge"]["nudge_id"] == NUDGE["nudge_id"]


def test_delivered_after_retries_and_counted_when_it_never_works() -> None:
    async def scenario() -> tuple[list[int], list[dict[str, Any]], float]:
        attempts: list[int] = []
        received: list[dict[str, Any]] = []

        async def flaky(request: web.Request) -> web.Response:
            body = await request.json()
            attempts.append(1)
            if body["nudge"]["call_id"] == "never" or len(attempts) == 1:
                return web.Response(status=503)
            received.append(body)
            return web.Response(status=200)

        runner, url = await serve(flaky)
        failures = failures_counter()
        hook = NudgeWebhook(url, failures, timeout_seconds=1, retries=2, backoff_seconds=0.01)
        hook.offer(NUDGE)  # first attempt 503, then delivered
        hook.offer({**NUDGE, "call_id": "never", "nudge_id": "never:monologue:1"})
        task = asyncio.create_task(hook.run())
        for _ in range(300):
            if len(attempts) >= 5 and failures._value.get() == 1:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await runner.cleanup()
        return attempts, received, failures._value.get()  # type: ignore[attr-defined]

    attempts, received, failed = asyncio.run(scenario())
    assert [r["nudge"]["call_id"] for r in received] == ["c1"]
    assert len(attempts) == 2 + 3  # 1 retry for the first, 1 + 2 retries for the second
    assert failed == 1


def test_retries_wait_twice_as_long_each_time_and_log_the_last_problem(caplog: Any) -> None:
    async def scenario() -> list[float]:
        arrivals: list[float] = []

        async def refusing(request: web.Request) -> web.Response:
            arrivals.append(time.monotonic())
            return web.Response(status=500)

        runner, url = await serve(refusing)
        failures = failures_counter()
        hook = NudgeWebhook(url, failures, timeout_seconds=1, retries=3, backoff_seconds=0.05)
        async with aiohttp.ClientSession() as session:
            delivered = await hook._deliver(session, slack_payload(NUDGE))
        await runner.cleanup()
        assert not delivered and failures._value.get() == 1  # type: ignore[attr-defined]
        return arrivals

    with caplog.at_level(logging.WARNING, logger="streams.worker.webhook"):
        arrivals = asyncio.run(scenario())
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) == 1 + 3
    # a sleep lasts at least what it was asked for: 0.05, 0.1, 0.2 s (a constant backoff fails)
    assert [gap >= wait for gap, wait in zip(gaps, [0.05, 0.1, 0.2], strict=True)] == [True] * 3
    assert "gave up on c1:monologue:95000: HTTP 500" in caplog.text


def test_timeout_counts_as_a_failure() -> None:
    async def scenario() -> float:
        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(2)
            return web.Response(status=200)

        runner, url = await serve(slow)
        failures = failures_counter()
        hook = NudgeWebhook(url, failures, timeout_seconds=0.1, retries=1, backoff_seconds=0.01)
        hook.offer(NUDGE)
        task = asyncio.create_task(hook.run())
        for _ in range(200):
            if failures._value.get() == 1:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await runner.cleanup()
        return failures._value.get()  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == 1


def test_offer_never_blocks_and_a_full_queue_drops_and_counts() -> None:
    async def scenario() -> tuple[int, float]:
        failures = failures_counter()
        hook = NudgeWebhook("http://127.0.0.1:9/hook", failures, queue_size=2)
        for _ in range(5):
            hook.offer(NUDGE)
        return hook.queue.qsize(), failures._value.get()  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == (2, 3)
