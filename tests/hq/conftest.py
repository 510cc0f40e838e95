"""HQ fixtures: the real PostgreSQL (a migrated database per test), two stores, one user per
role (the store manager scoped to s01), and a browser-like client that signs in."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from waitress import wasyncore
from waitress.server import create_server
from werkzeug.test import TestResponse

from cloud.catalog import import_csv
from cloud.hq import accounts, create_app
from cloud.hq.settings import HqSettings
from protocol.ids import new_id
from tests.appliance.sync.test_chain import other_store
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (the DB fixtures)

PASSWORDS = {
    "admin": "admin-password-1",
    "buyer": "buyer-password-1",
    "manager": "manager-password-1",
}
ROLES = {"admin": "admin", "buyer": "buyer", "manager": "store_manager"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "no form with a CSRF token on this page"
    return match.group(1)


def field_errors(html: str) -> dict[str, str]:
    """The errors shown next to fields: {field name: message}."""
    return dict(re.findall(r'id="(?:[^"]*?-)?([a-z_]+)-error"[^>]*>([^<]+)<', html))


def fast_settings(dsn: str, **overrides: Any) -> HqSettings:
    """HQ settings for tests: plain-HTTP cookies and a cheap argon2id."""
    values: dict[str, Any] = {
        "dsn": dsn,
        "cookie_secure": "never",
        "password_time_cost": 1,
        "password_memory_kib": 64,
    }
    values.update(overrides)
    return HqSettings(**values)


@dataclass
class HqBrowser:
    """One browser on the HQ pages (its own cookie jar)."""

    client: FlaskClient
    csrf: str = ""
    user: str = ""

    def login_form(self) -> str:
        page = self.client.get("/hq/login")
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    def try_sign_in(self, username: str, password: str, **kwargs: Any) -> TestResponse:
        token = self.login_form()
        return self.client.post(
            "/hq/login",
            data={"csrf_token": token, "username": username, "password": password},
            **kwargs,
        )

    def sign_in(self, who: str) -> HqBrowser:
        """Sign in as `who` (a key of PASSWORDS) and keep the session's CSRF token."""
        return self.sign_in_as(who, PASSWORDS[who])

    def sign_in_as(self, who: str, password: str) -> HqBrowser:
        """Sign in with a username and password and keep the session's CSRF token."""
        answer = self.try_sign_in(who, password)
        assert answer.status_code == 303, answer.text
        page = self.client.get("/hq/account")
        assert page.status_code == 200, page.text
        self.csrf = csrf_of(page.text)
        self.user = who
        return self

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """A form POST with this session's CSRF token."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)


@dataclass
class Hq:
    """HQ on a test database: the app, its DSN, the users' ids, a way to open browsers."""

    app: Flask
    dsn: str
    users: dict[str, int] = field(default_factory=dict)

    def browser(self, address: str = "192.0.2.10") -> HqBrowser:
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return HqBrowser(client=client)

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run SQL on the test database; the rows it gives, if any."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description else []


def seed_users(dsn: str, hashes: accounts.Passwords) -> dict[str, int]:
    """Stores s01 and s02, and one user per role (the manager scoped to s01)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO store (id, name) VALUES ('s01', 'Dublin'), ('s02', 'Cork')"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name"
        )
        return {
            who: accounts.add_user(
                conn,
                hashes,
                username=who,
                name=who.title(),
                role=ROLES[who],
                password=PASSWORDS[who],
                stores=["s01"] if who == "manager" else [],
                by=None,
                address="test",
            ).id
            for who in PASSWORDS
        }


def make_hq(dsn: str, **overrides: Any) -> Hq:
    """HQ over `dsn` (test settings with `overrides`) with one user per role."""
    app = create_app(fast_settings(dsn, **overrides))
    users = seed_users(dsn, app.extensions["tillbox_hq_passwords"])
    return Hq(app=app, dsn=dsn, users=users)


@pytest.fixture
def hq(cloud_dsn: str) -> Hq:  # noqa: F811  (the imported fixture)
    return make_hq(cloud_dsn, page_size=10)


@pytest.fixture
def browser_for(hq: Hq) -> Callable[..., HqBrowser]:
    """A new browser (its own cookies) from an address."""
    return hq.browser


def setup_grid(hq: Hq) -> dict[str, str]:
    """A 12-variant catalog; s01 and s02 with their own ids for the tee; goods received."""
    lines = [
        "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,reorder_qty,pack_size,active"
    ]
    lines.append(
        "TEE-M-RED,Classic Tee,Size=M;Color=Red,,Apparel,Acme,4.50,12.99,standard,5,24,1,1"
    )
    lines.append('FORM-1,"=HYPERLINK(""http://x"")",,,Home,Potters,1.00,2.00,standard,,,1,1')
    lines += [
        f"SOCK-{n:02d},Sock {n:02d},,,Apparel,Acme,1.00,3.00,standard,2,10,1,1" for n in range(10)
    ]
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        report = import_csv(conn, ("\r\n".join(lines) + "\r\n").encode())
        assert report.applied, report
        s01, s02 = new_id(), new_id()
        other_store(conn, "s01", {s01: "TEE-M-RED"}, {s01: 4})
        other_store(conn, "s02", {s02: "tee-m-red"}, {s02: 9})
    return {"s01": s01, "s02": s02}


@dataclass
class HqServer:
    """HQ served by waitress on a free port, on a background thread."""

    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}"

    def stop(self) -> None:
        server = self.server

        def shut_down() -> None:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)

        # Closed on the server's own loop thread, as appliance.server does.
        server.trigger.pull_trigger(shut_down)
        self.thread.join(timeout=10)


@pytest.fixture
def hq_server(hq: Hq) -> Iterator[HqServer]:
    server = create_server(hq.app, host="127.0.0.1", port=0, threads=4, ident="tillbox-hq")
    thread = threading.Thread(target=server.run, name="waitress-hq", daemon=True)
    thread.start()
    running = HqServer(server=server, thread=thread)
    yield running
    running.stop()
