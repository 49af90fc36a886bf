"""Browser tests: Debian's headless Chromium driven by Playwright, against real workers and Kafka."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import start_worker, topics  # noqa: F401  (fixtures)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path(os.environ.get("CALLFOCUS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.integration)  # real Kafka and worker processes


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop in this thread until it stops,
    and later tests call asyncio.run()."""
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} not found: `make test` installs Debian's chromium "
        "(deploy/local/ensure-deps.sh chromium); the browser tests never download one"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page
    finally:
        if not page.is_closed():
            page.screenshot(path=str(artifacts / f"{request.node.name}-last.png"), full_page=True)
        context.close()
    # 401 responses the token test provokes on purpose show up as console errors
    unexpected = [e for e in errors if "401" not in e and "Unauthorized" not in e]
    assert not unexpected, f"JavaScript errors on the page: {unexpected}"
