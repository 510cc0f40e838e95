"""The admin pages in Chromium: the PWA tests' browser and store on the real clock, plus a
second browser context for the manager's admin pages beside the tablet's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from appliance.devices.print_queue import PrintWorker
from appliance.runtime import Runtime
from tests.pwa.conftest import page, rt

__all__ = ["admin_page", "page", "rt", "worker"]


@pytest.fixture
def admin_page(browser: Browser) -> Iterator[Page]:
    """The manager's browser on a desktop-sized window: its own cookies, apart from the tablet."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def worker(catalog: Runtime) -> Iterator[PrintWorker]:
    """The appliance's print worker, as `tillbox appliance serve` runs it."""
    running = PrintWorker(catalog, poll_s=0.1).start()
    yield running
    running.stop()
