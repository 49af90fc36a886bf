"""The worker's web port mounts none of Faust's own pages (/, /table/, /router/ ...)."""

from __future__ import annotations

import faust
import pytest
from pydantic import ValidationError

from streams.settings import Settings
from streams.worker.app import create_app
from streams.worker.faust_adapter import drop_faust_pages


def routes(app: faust.App) -> set[str]:
    """What the app's aiohttp server would serve, once Faust has mounted its blueprints."""
    app.web.init_server()
    return {route.resource.canonical for route in app.web.web_app.router.routes() if route.resource}


def test_a_plain_faust_app_serves_its_own_pages() -> None:
    """What drop_faust_pages is up against (if Faust stops serving these, this says so)."""
    served = routes(faust.App("plain", env={}, store="memory://"))
    assert {"/", "/table/", "/table/{name}/{key}/", "/router/"} <= served


def test_the_callfocus_app_mounts_no_faust_page() -> None:
    app = create_app(Settings(app_id="routes-test", store="memory"))
    for flag in ("router", "tables", "stats", "graph", "metrics"):
        assert getattr(app.conf, f"web_{flag}_enabled") is False, flag
    # only callfocus' own pages (none on a fresh app): Faust's index at "/" needs
    # drop_faust_pages, which edits a Faust internal; this fails if that changes
    assert routes(app) == set()


def test_drop_faust_pages_keeps_the_blueprints_of_others() -> None:
    app = faust.App("others", env={}, store="memory://")
    mine = faust.web.Blueprint("mine")

    @mine.route("/mine", name="mine")
    class Mine(faust.web.View):
        async def get(self, request: faust.web.Request) -> faust.web.Response:
            return self.json({})

    app.web.blueprints.add("", mine)
    drop_faust_pages(app)
    assert routes(app) == {"/mine"}


def test_metrics_port_is_another_port_than_the_web_port() -> None:
    assert Settings(web_port=7000, metrics_port=7001).metrics_port == 7001
    assert Settings(web_port=7000).metrics_port is None
    with pytest.raises(ValidationError, match="metrics_port is another port than web_port"):
        Settings(web_port=7000, metrics_port=7000)
