"""HTTP endpoints served by every worker (Faust's web server)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app, live_calls, registry


@app.page("/metrics")
async def metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    """Liveness: the event loop answers."""
    return web.json({"status": "ok", "app_id": app.conf.id, "calls": len(live_calls)})


@app.page("/readyz")
async def readyz(web: Any, request: Any) -> Any:
    """Readiness: partitions assigned, table recovery finished, no rebalance under way."""
    recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
    ready = recovered and not app.rebalancing
    body = {"ready": ready, "recovered": recovered, "rebalancing": app.rebalancing}
    return web.json(body, status=200 if ready else 503)
