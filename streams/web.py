"""HTTP endpoints served by every worker (Faust's web server)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from streams import broker_contact as contact
from streams.app import app, broker_contact, live_call_collector, live_calls, registry
from streams.exporter import exposition


@app.page("/metrics")
async def metrics(web: Any, request: Any) -> Any:
    names = request.query.getall("name[]", None)
    body = exposition(registry, live_call_collector, names)
    return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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
