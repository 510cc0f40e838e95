"""End-to-end fixtures: the built PWA served by a real appliance, driven in Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from appliance.app import SOURCE_PWA_DIR
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    """The store on the real clock: the tablet stamps its events with the browser's clock."""
    assert (SOURCE_PWA_DIR / "index.html").is_file(), (
        "pwa/dist is not built: run `make test` (or scripts/bootstrap.sh) first"
    )
    runtime = open_runtime(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh profile (no IndexedDB, no service worker) at a tablet's 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    opened = context.new_page()
    yield opened
    context.close()
