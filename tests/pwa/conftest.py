"""End-to-end fixtures: the built PWA served by a real appliance, driven in Debian's Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from appliance.app import SOURCE_PWA_DIR
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings

CHROMIUM = os.environ.get("TILLBOX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    """The store on the real clock: the tablet stamps its events with the browser's clock."""
    assert (SOURCE_PWA_DIR / "index.html").is_file(), (
        "pwa/dist is not built: run `make test` (or scripts/bootstrap.sh) first"
    )
    runtime = open_runtime(settings)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh profile (no IndexedDB, no service worker) at a tablet's 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
    opened = context.new_page()
    yield opened
    context.close()
