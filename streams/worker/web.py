"""HTTP endpoints served by every worker (Faust's web server).

The worker's web port serves ``/metrics``, ``/healthz``, ``/readyz`` and the supervisor
console (streams/console/views.py) and nothing else: Faust's own pages are off
(streams/worker/app.py). With ``metrics_port`` set, ``/metrics`` moves to a small server of its
own on that port (:class:`MetricsServer`) and the web port no longer serves it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web as aiohttp_web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST

from streams.worker import broker_contact as contact
from streams.worker.app import app, broker_contact, live_call_collector, live_calls, registry, settings
from streams.worker.exporter import exposition

log = logging.getLogger(__name__)


def metrics_body(request: Any) -> bytes:
    """The exposition: all series, or those of the families named by ``?name[]=``."""
    names = request.query.getall("name[]", None)
    return exposition(registry, live_call_collector, names)


async def metrics(web: Any, request: Any) -> Any:
    return web.bytes(metrics_body(request), headers={"Content-Type": CONTENT_TYPE_LATEST})


class MetricsServer(Service):
    """``GET /metrics`` on ``metrics_port``, in the worker's event loop, and nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runner: aiohttp_web.AppRunner | None = None

    async def on_start(self) -> None:
        web_app = aiohttp_web.Application()
        web_app.router.add_get("/metrics", self.handle)
        self.runner = aiohttp_web.AppRunner(web_app, access_log=None)
        await self.runner.setup()
        await aiohttp_web.TCPSite(self.runner, settings.web_host, settings.metrics_port).start()
        log.info("metrics on %s:%s/metrics", settings.web_host, settings.metrics_port)

    async def on_stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            await runner.cleanup()

    async def handle(self, request: aiohttp_web.Request) -> aiohttp_web.Response:
        return aiohttp_web.Response(body=metrics_body(request), headers={"Content-Type": CONTENT_TYPE_LATEST})


if settings.metrics_port is None:
    app.page("/metrics")(metrics)
else:
    app.service(MetricsServer)


def crashed_services() -> list[str]:
    """The app, its consumer or an agent that crashed (mode keeps the reason)."""
    services = [app, app.consumer, *app.agents.values()]
    return [f"{service.label}: {service.crash_reason!r}" for service in services if service.crashed]


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    """Liveness: the event loop answers and nothing has crashed (a restart is the cure)."""
    crashed = crashed_services()
    body = {
        "status": "crashed" if crashed else "ok",
        "app_id": app.conf.id,
        "calls": len(live_calls),
        "crashed": crashed,
    }
    return web.json(body, status=500 if crashed else 200)


@app.page("/readyz")
async def readyz(web: Any, request: Any) -> Any:
    """Readiness: table recovery finished, no rebalance under way, nothing crashed, and a
    broker answered within ready_broker_timeout_seconds."""
    recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
    crashed = crashed_services()
    broker = broker_contact.reachable
    ready = recovered and not app.rebalancing and not crashed and broker
    body = {
        "ready": ready,
        "recovered": recovered,
        "rebalancing": app.rebalancing,
        "crashed": crashed,
        "broker_reachable": broker,
        "broker_silent_seconds": round(broker_contact.silent_for(), 1),
    }
    return web.json(body, status=200 if ready else 503)


@app.timer(interval=1.0)
async def watch_broker_contact() -> None:
    await contact.probe(broker_contact, app.consumer)
