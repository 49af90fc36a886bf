"""Nudges to a Slack-compatible webhook, off the stream's path.

The agent only offers a nudge to a bounded queue (never awaits the network); one task
posts them in order with a timeout and retries with exponential backoff (tenacity). A
nudge the endpoint never accepts, or one dropped because the queue is full, is counted in
``callfocus_nudge_webhook_failures_total`` and logged; the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

SEVERITY_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


def slack_payload(nudge: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook JSON (``text``), with the whole nudge alongside for other tools."""
    evidence = ", ".join(f"{name}={value:g}" for name, value in sorted(nudge["evidence"].items()))
    text = (
        f"{SEVERITY_EMOJI.get(nudge['severity'], '')} *{nudge['type']}* on call `{nudge['call_id']}` "
        f"(agent {nudge['agent_id']}, team {nudge['team']}): {nudge['message']}"
    )
    if evidence:
        text += f"\nEvidence: {evidence}"
    return {"text": text.strip(), "nudge": dict(nudge)}


class EndpointRefused(Exception):
    """The webhook answered with a status other than 2xx: worth another try, like a timeout."""


class NudgeWebhook:
    def __init__(
        self,
        url: str,
        failures: Counter,
        timeout_seconds: float = 2.0,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        queue_size: int = 1000,
    ) -> None:
        self.url = url
        self.failures = failures
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)

    def offer(self, nudge: Mapping[str, Any]) -> None:
        """Queue a nudge for delivery; never blocks."""
        try:
            self.queue.put_nowait(slack_payload(nudge))
        except asyncio.QueueFull:
            self.failures.inc()
            log.warning("nudge webhook queue full: dropped nudge %s", nudge["nudge_id"])

    async def run(self) -> None:
        """Deliver queued nudges until cancelled."""
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            while True:
                payload = await self.queue.get()
                await self._deliver(session, payload)

    async def _deliver(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> bool:
        # waits backoff, 2 x backoff, 4 x backoff ... between the retries + 1 attempts
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_seconds),
            retry=retry_if_exception_type((TimeoutError, aiohttp.ClientError, EndpointRefused)),
        )
        try:
            await retrying(self._post, session, payload)
        except RetryError as exc:
            self.failures.inc()
            problem = exc.last_attempt.exception()
            described = (
                str(problem)
                if isinstance(problem, EndpointRefused)
                else f"{type(problem).__name__}: {problem}"
            )
            log.warning("nudge webhook gave up on %s: %s", payload["nudge"]["nudge_id"], described)
            return False
        return True

    async def _post(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> None:
        async with session.post(self.url, json=payload) as response:
            if response.status >= 300:
                raise EndpointRefused(f"HTTP {response.status}")
