"""What the admin pages answer when something goes wrong: a page for a browser, the API's
error shape for a JSON caller, never a bare traceback; and their security headers."""

from __future__ import annotations

import pytest

from appliance.admin import dashboard
from appliance.db import DatabaseError
from tests.appliance.admin.conftest import AdminBrowser


def test_an_unexpected_error_is_a_page_or_the_error_shape(
    manager: AdminBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(dashboard, "sync_state", broken)
    page = manager.get("/admin/")
    assert page.status_code == 500 and "<html" in page.text
    assert "it has been logged" in page.text and "boom" not in page.text
    shaped = manager.get("/admin/", headers={"Accept": "application/json"})
    assert shaped.status_code == 500 and shaped.get_json()["error"] == "internal"


def test_a_busy_database_asks_to_try_again(
    manager: AdminBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object) -> object:
        raise DatabaseError("database is locked")

    monkeypatch.setattr(dashboard, "sync_state", busy)
    page = manager.get("/admin/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert "busy writing" in page.text


def test_unknown_pages_methods_and_the_bare_prefix(manager: AdminBrowser) -> None:
    assert manager.get("/admin").status_code == 308
    assert manager.get("/admin/devices/printers/999/test").status_code == 405
    assert manager.post("/admin/devices/printers/999/test").status_code == 404
    shaped = manager.post(
        "/admin/devices/printers/999/test", headers={"Accept": "application/json"}
    )
    assert shaped.get_json()["error"] == "unknown_printer"


def test_pages_are_never_cached_or_framed(manager: AdminBrowser) -> None:
    for path in ("/admin/", "/admin/login"):
        page = manager.get(path)
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    css = manager.get("/admin/ui/static/webui.css")
    assert css.status_code == 200 and "--accent: #22c55e" in css.text
    css.close()
