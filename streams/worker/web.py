"""HTTP endpoints served by every worker (Faust's web server).

The worker's web port serves ``/metrics``, ``/healthz``, ``/readyz`` and the supervisor
console (streams/console/views.py) and nothing else: Faust's own pages are off
(streams/worker/app.py). With ``metrics_port`` set, ``/metrics`` moves to a small server of its
own on that port (:class:`MetricsServer`) and the web port no longer serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp import web as aiohttp_web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from streams.settings import Settings
from streams.worker import broker_contact as contact
from streams.worker.broker_contact import BrokerContact
from streams.worker.call_series import LiveCallCollector, exposition
from streams.worker.calls import LiveCalls

log = logging.getLogger(__name__)

PageHandler = Callable[..., Awaitable[Any]]


def add_page(app: faust.App, path: str, handler: PageHandler) -> None:
    """Serve ``handler(view, request, **path_parameters)`` at ``path``.

    Faust makes a page's function the ``get`` method of a view class, so it must be a plain
    function (bound to the view); a bound method of another object would get no view.
    """

    async def page(view: Any, request: Any, **parameters: Any) -> Any:
        return await handler(view, request, **parameters)

    page.__name__ = page.__qualname__ = handler.__name__
    page.__doc__ = handler.__doc__
    app.page(path)(page)


class MetricsServer(Service):
    """``GET /metrics`` on ``metrics_port``, in the worker's event loop, and nothing else."""

    def __init__(self, pages: WorkerPages, host: str, port: int) -> None:
        super().__init__()
        self.pages = pages
        self.host = host
        self.port = port
        self.runner: aiohttp_web.AppRunner | None = None

    async def on_start(self) -> None:
        web_app = aiohttp_web.Application()
        web_app.router.add_get("/metrics", self.handle)
        self.runner = aiohttp_web.AppRunner(web_app, access_log=None)
        await self.runner.setup()
        await aiohttp_web.TCPSite(self.runner, self.host, self.port).start()
        log.info("metrics on %s:%s/metrics", self.host, self.port)

    async def on_stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            await runner.cleanup()

    async def handle(self, request: aiohttp_web.Request) -> aiohttp_web.Response:
        body = self.pages.metrics_body(request)
        return aiohttp_web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class WorkerPages:
    """Registers ``/metrics``, ``/healthz`` and ``/readyz`` and the broker watch on a worker's app."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        registry: CollectorRegistry,
        broker_contact: BrokerContact,
        live_calls: LiveCalls,
        live_call_collector: LiveCallCollector,
    ) -> None:
        self.app = app
        self.registry = registry
        self.broker_contact = broker_contact
        self.live_calls = live_calls
        self.live_call_collector = live_call_collector
        if settings.metrics_port is None:
            add_page(app, "/metrics", self.metrics)
        else:
            app.service(MetricsServer(self, settings.web_host, settings.metrics_port))  # type: ignore[arg-type]
        add_page(app, "/healthz", self.healthz)
        add_page(app, "/readyz", self.readyz)
        app.timer(interval=1.0)(self.watch_broker_contact)

    def metrics_body(self, request: Any) -> bytes:
        """The exposition: all series, or those of the families named by ``?name[]=``."""
        names = request.query.getall("name[]", None)
        return exposition(self.registry, self.live_call_collector, names)

    async def metrics(self, web: Any, request: Any) -> Any:
        return web.bytes(self.metrics_body(request), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def crashed_services(self) -> list[str]:
        """The app, its consumer or an agent that crashed (mode keeps the reason)."""
        app = self.app
        services = [app, app.consumer, *app.agents.values()]
        return [f"{service.label}: {service.crash_reason!r}" for service in services if service.crashed]

    async def healthz(self, web: Any, request: Any) -> Any:
        """Liveness: the event loop answers and nothing has crashed (a restart is the cure)."""
        crashed = self.crashed_services()
        body = {
            "status": "crashed" if crashed else "ok",
            "app_id": self.app.conf.id,
            "calls": len(self.live_calls),
            "crashed": crashed,
        }
        return web.json(body, status=500 if crashed else 200)

    async def readyz(self, web: Any, request: Any) -> Any:
        """Readiness: table recovery finished, no rebalance under way, nothing crashed, and a
        broker answered within ready_broker_timeout_seconds."""
        app = self.app
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        crashed = self.crashed_services()
        broker = self.broker_contact.reachable
        ready = recovered and not app.rebalancing and not crashed and broker
        body = {
            "ready": ready,
            "recovered": recovered,
            "rebalancing": app.rebalancing,
            "crashed": crashed,
            "broker_reachable": broker,
            "broker_silent_seconds": round(self.broker_contact.silent_for(), 1),
        }
        return web.json(body, status=200 if ready else 503)

    async def watch_broker_contact(self) -> None:
        await contact.probe(self.broker_contact, self.app.consumer)
