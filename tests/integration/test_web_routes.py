"""Every route a real worker serves is public by design or needs the console token.

The routes are listed from the worker's own aiohttp router, built the way ``callfocus
worker`` builds it (same environment, Faust's autodiscovery), then each is requested on
the running worker: without the token, a token route answers 401. Faust's own pages
(``/table/``, ``/router/`` ...) answer 404. With ``metrics_port``, ``/metrics`` is served
there and only there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.integration.worker import WorkerProcess

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
# path -> what it is; a route in neither table fails the test until it is classified here
# and in docs/console.md ("HTTP endpoints")
OPEN_ROUTES = {
    "/metrics": "Prometheus exposition (set metrics_port to move it to a port of its own)",
    "/healthz": "liveness",
    "/readyz": "readiness",
    "/console": "the console page: asks for the token, holds no data",
    "/console/static/{name}": "the page's script and style sheet",
}
NEEDS_TOKEN = {
    "/api/calls": "live calls",
    "/api/calls/{call_id}": "one call's snapshot, history and nudges",
    "/api/teams": "teams",
    "/api/nudges/stream": "nudges and the call list, live (Server-Sent Events)",
    "/api/feed": "the feed: nudges and call alerts merged per call and type",
    "/api/alertmanager": "Alertmanager's webhook notifications (POST)",
    "/api/agents/{agent_id}": "one agent's calls and score trend",
    "/api/nudges/{nudge_id}/ack": "mark a nudge handled (POST)",
    "/api/scorecards": "scorecards of the call summaries the console holds",
    "/api/report": "the same cards as a CSV, JSON or HTML report",
}
POST_ONLY = {"/api/alertmanager", "/api/nudges/{nudge_id}/ack"}
PATH_PARAMETERS = {
    "name": "console.js",
    "call_id": "any-call",
    "agent_id": "any-agent",
    "nudge_id": "any-nudge",
}
# Faust's own pages and what they served before (call state, cluster layout, statistics)
FAUST_PAGES = (
    "/",
    "/table/",
    "/table/call-state/",
    "/table/call-state/any-call/",
    "/router/",
    "/router/topics",
    "/router/call-state/any-call/",
    "/graph/",
    "/stats/",
    "/assignment/",
    "/performance/",
)

LIST_ROUTES = """
import json
from streams.settings import Settings
from streams.worker.app import create_worker
app = create_worker(Settings()).app  # every page is registered as `callfocus worker` does
app.web.init_server()  # Faust mounts its blueprints and our pages, as when the server starts
print(json.dumps(sorted({(r.method, r.resource.canonical) for r in app.web.web_app.router.routes()})))
"""


def served_routes(env: dict[str, str]) -> list[tuple[str, str]]:
    done = subprocess.run(
        [sys.executable, "-c", LIST_ROUTES], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [(method, path) for method, path in json.loads(done.stdout.splitlines()[-1])]


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method=method, headers=headers or {}), timeout=10
        ) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_PARAMETERS[m.group(1)], path)


def test_every_route_is_public_by_design_or_needs_the_token(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker(console_token=TOKEN)
    routes = served_routes(worker.env)

    paths = {path for _, path in routes}
    assert paths == set(OPEN_ROUTES) | set(NEEDS_TOKEN), f"unclassified or missing: {sorted(paths)}"
    assert {method for method, path in routes if path not in POST_ONLY} == {"GET", "HEAD"}
    assert {method for method, path in routes if path in POST_ONLY} == {"POST", "HEAD"}
    for method, path in routes:
        url = worker.url + concrete(path)
        status, body = request(url, method)
        if path in NEEDS_TOKEN:
            assert status == 401, (method, path, status)
            if method in ("GET", "POST"):
                assert json.loads(body)["error"] == "unauthorized"
            assert request(url, method, {"Authorization": "Bearer wrong"})[0] == 401, (method, path)
        else:
            assert status == 200, (method, path, status, body[:200])
    # the token opens them (the stream is left out: it does not end)
    for path in ("/api/calls", "/api/teams", "/api/feed", "/api/scorecards", "/api/report?format=csv"):
        assert request(worker.url + path, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200, path
    assert request(worker.url + "/api/calls/any-call", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 404

    for path in FAUST_PAGES:
        assert request(worker.url + path)[0] == 404, path


def test_metrics_port_serves_metrics_and_the_web_port_no_longer_does(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    metrics_port = free_port()
    worker = start_worker(metrics_port=str(metrics_port))

    status, body = request(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"process_cpu_seconds", "python_gc_collections"} <= families, sorted(families)
    assert any(name.startswith("callfocus_") for name in families), sorted(families)
    # ?name[]= selects sample names, as on the web port
    filtered = request(f"http://127.0.0.1:{metrics_port}/metrics?name[]=process_cpu_seconds_total")[1]
    assert {f.name for f in text_string_to_metric_families(filtered.decode())} == {"process_cpu_seconds"}
    for path in ("/", "/healthz", "/readyz", "/console", "/api/calls", "/table/"):
        assert request(f"http://127.0.0.1:{metrics_port}{path}")[0] == 404, path

    assert request(worker.url + "/metrics")[0] == 404
    assert request(worker.url + "/readyz")[0] == 200
    assert "/metrics" not in {path for _, path in served_routes(worker.env)}
