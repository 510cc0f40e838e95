"""The app factory: the PWA build at `/`, the API's own 404s, and nothing started at import."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from appliance import __version__
from appliance.app import create_app
from appliance.runtime import Runtime, open_runtime
from appliance.server import start_in_thread
from appliance.settings import Settings
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]

INDEX = "<!doctype html><title>Tillbox register</title><script src=/assets/app-abc123.js></script>"
SCRIPT = "console.log('till');"
MANIFEST = '{"name": "Tillbox", "start_url": "/"}'


class Fetched(NamedTuple):
    status: int
    mimetype: str | None
    headers: dict[str, str]
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


def fetch(client: FlaskClient, path: str) -> Fetched:
    """GET and read the whole body, closing the response (file responses hold the file open)."""
    with client.get(path) as response:
        return Fetched(
            response.status_code, response.mimetype, dict(response.headers), response.get_data()
        )


@pytest.fixture
def pwa_dir(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "app-abc123.js").write_text(SCRIPT)
    (root / "manifest.webmanifest").write_text(MANIFEST)
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (root / "icons").mkdir()
    (root / "icons" / "icon-192.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    return root


@pytest.fixture
def pwa_client(data_dir: Path, pwa_dir: Path, rt: Runtime) -> FlaskClient:
    settings = make_settings(data_dir, pwa_dir=pwa_dir)
    return create_app(settings, runtime=rt).test_client()


@pytest.fixture
def bare_client(data_dir: Path, tmp_path: Path, rt: Runtime) -> FlaskClient:
    settings = make_settings(data_dir, pwa_dir=tmp_path / "not-built")
    return create_app(settings, runtime=rt).test_client()


def test_without_a_build_the_root_is_a_notice_naming_the_store(bare_client: FlaskClient) -> None:
    response = fetch(bare_client, "/")
    assert response.status == 200
    assert response.mimetype == "text/html"
    page = response.text
    assert "store s01" in page
    assert __version__ in page
    assert "not built" in page
    assert fetch(bare_client, "/assets/app.js").status == 404


def test_the_build_is_served_at_the_root_without_caching(pwa_client: FlaskClient) -> None:
    response = fetch(pwa_client, "/")
    assert response.status == 200
    assert response.text == INDEX
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_shell_is_also_served_by_name_for_the_service_worker(pwa_client: FlaskClient) -> None:
    # Workbox precaches "index.html": without it the service worker never installs.
    response = fetch(pwa_client, "/index.html")
    assert response.status == 200
    assert response.text == INDEX
    assert response.headers["Cache-Control"] == "no-cache"


def test_hashed_assets_are_cached_for_good(pwa_client: FlaskClient) -> None:
    response = fetch(pwa_client, "/assets/app-abc123.js")
    assert response.status == 200
    assert response.text == SCRIPT
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fetch(pwa_client, "/assets/app-zzz999.js").status == 404


def test_top_level_files_are_served_and_revalidated(pwa_client: FlaskClient) -> None:
    manifest = fetch(pwa_client, "/manifest.webmanifest")
    assert manifest.status == 200
    assert manifest.text == MANIFEST
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.headers["Cache-Control"] == "no-cache"
    # A service worker that is cached for a year could never be updated.
    worker = fetch(pwa_client, "/sw.js")
    assert worker.status == 200
    assert worker.headers["Cache-Control"] == "no-cache"


def test_other_folders_of_the_build_are_served(pwa_client: FlaskClient) -> None:
    icon = fetch(pwa_client, "/icons/icon-192.png")
    assert icon.status == 200
    assert icon.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../index.html",
        "/assets/%2e%2e/manifest.webmanifest",
        "/tillbox.toml",
        "/icons/../../x",
    ],
)
def test_nothing_outside_the_build_is_served(pwa_client: FlaskClient, path: str) -> None:
    response = fetch(pwa_client, path)
    assert response.status == 404 or response.text in (INDEX, MANIFEST)
    assert b"[appliance]" not in response.data


@pytest.mark.parametrize("client_name", ["pwa_client", "bare_client"])
def test_unknown_api_paths_keep_the_json_error_shape(
    request: pytest.FixtureRequest, client_name: str
) -> None:
    client: FlaskClient = request.getfixturevalue(client_name)
    response = client.get("/api/v1/whatever")
    assert response.status_code == 404
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == "not_found"
    posted = client.post("/api/v1/whatever", json={})
    assert posted.status_code == 404 and posted.get_json()["error"] == "not_found"
    wrong_method = client.delete("/api/v1/health")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"] == "method_not_allowed"


def test_the_build_is_served_by_waitress(data_dir: Path, pwa_dir: Path, rt: Runtime) -> None:
    settings = make_settings(data_dir, pwa_dir=pwa_dir)
    running = start_in_thread(create_app(settings, runtime=rt), settings)
    try:
        with requests.Session() as http:
            index = http.get(f"{running.url}/", timeout=10)
            asset = http.get(f"{running.url}/assets/app-abc123.js", timeout=10)
            missing = http.get(f"{running.url}/api/v1/nope", timeout=10)
    finally:
        running.stop()
    assert index.text == INDEX and index.headers["Cache-Control"] == "no-cache"
    assert "immutable" in asset.headers["Cache-Control"]
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_create_app_starts_no_threads(settings: Settings, rt: Runtime) -> None:
    before = threading.active_count()
    app = create_app(settings, runtime=rt)
    assert isinstance(app, Flask)
    assert app.extensions["tillbox"] is rt
    assert threading.active_count() == before


@pytest.fixture
def own_runtime(settings: Settings) -> Iterator[list[Runtime]]:
    opened: list[Runtime] = []
    yield opened
    for runtime in opened:
        runtime.db.close()


def test_create_app_opens_the_runtime_itself_when_not_given_one(
    settings: Settings, own_runtime: list[Runtime]
) -> None:
    before = threading.active_count()
    app = create_app(settings)
    own_runtime.append(app.extensions["tillbox"])
    assert threading.active_count() == before
    assert app.test_client().get("/api/v1/health").get_json()["store"] == "s01"


def test_importing_the_appliance_starts_no_threads() -> None:
    """In a fresh interpreter: importing every appliance module starts nothing."""
    code = (
        "import threading\n"
        "before = threading.active_count()\n"
        "import appliance.app, appliance.cli, appliance.server, appliance.doctor, appliance.setup\n"
        "import appliance.journal, appliance.api\n"
        "print(before, threading.active_count())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, after = result.stdout.split()
    assert before == after == "1"


def test_opening_the_runtime_needs_an_initialised_store(tmp_path: Path) -> None:
    from appliance.runtime import NotInitialised

    empty = make_settings(tmp_path)
    with pytest.raises(NotInitialised, match="tillbox appliance init"):
        open_runtime(empty)
    missing = make_settings(tmp_path, store="s01")
    with pytest.raises(NotInitialised, match="tillbox appliance init"):
        open_runtime(missing)
    assert not missing.database_path.exists()


def test_status_page_counts_the_catalog(bare_client: FlaskClient, catalog: Runtime) -> None:
    """Three active variants in two categories (the fourth, in Electronics, is inactive)."""
    page = fetch(bare_client, "/").text
    assert "Test Store" in page
    assert '<td>Apparel</td><td class="num">2</td>' in page
    assert '<td>Home &amp; Kitchen</td><td class="num">1</td>' in page
    assert "Electronics" not in page
