"""Admin page fixtures: a browser-like client that signs in with a staff ID and PIN."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from appliance.runtime import Runtime
from tests.conftest import PINS, Store

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no form with a CSRF token on this page"
    return match.group(1)


def field_errors(html: str) -> dict[str, str]:
    """The errors shown next to fields: {field name: message}."""
    return dict(re.findall(r'id="[^"]*?-?([a-z_]+)-error">([^<]+)<', html))


@dataclass
class AdminBrowser:
    """One browser on the admin pages (its own cookie jar)."""

    client: FlaskClient
    store: Store
    csrf: str = ""

    @property
    def rt(self) -> Runtime:
        return self.store.rt

    def login_form(self) -> str:
        page = self.client.get("/admin/login")
        assert page.status_code == 200
        return csrf_of(page.text)

    def try_sign_in(self, staff_id: str, pin: str, **kwargs: Any) -> TestResponse:
        token = self.login_form()
        return self.client.post(
            "/admin/login",
            data={"csrf_token": token, "staff_id": staff_id, "pin": pin},
            **kwargs,
        )

    def sign_in(self, who: str) -> AdminBrowser:
        """Sign in as `who` (a key of PINS) and keep the session's CSRF token."""
        answer = self.try_sign_in(self.store.staff[who], PINS[who])
        assert answer.status_code == 303, answer.text
        page = self.client.get("/admin/")
        assert page.status_code == 200
        self.csrf = csrf_of(page.text)
        return self

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """A form POST with this session's CSRF token."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)


@pytest.fixture
def browser_for(store: Store) -> Any:
    """A new browser (its own cookies) on the store's app, from any address."""

    def make(address: str = "192.0.2.10") -> AdminBrowser:
        client = store.client.application.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return AdminBrowser(client=client, store=store)

    return make


@pytest.fixture
def manager(browser_for: Any) -> AdminBrowser:
    browser: AdminBrowser = browser_for().sign_in("manager")
    return browser


@pytest.fixture
def supervisor(browser_for: Any) -> AdminBrowser:
    browser: AdminBrowser = browser_for("192.0.2.11").sign_in("supervisor")
    return browser
