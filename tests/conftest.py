"""Shared fixtures: a real SQLite store per test, the app, a client, staff and registers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.app import create_app
from appliance.runtime import Runtime, open_runtime
from appliance.server import RunningServer, start_in_thread
from appliance.settings import Settings, load_settings
from appliance.setup import init_store
from appliance.staff.directory import add_staff
from appliance.staff.registers import add_register
from protocol.permissions import Role
from tests.browser import browser  # noqa: F401  (the one session-wide browser fixture)

# Real argon2id, at the smallest cost it accepts, so hundreds of PIN checks stay fast.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}

PINS = {"cashier": "1357", "supervisor": "2468", "manager": "9753", "cashier2": "1122"}


@dataclass
class FakeWall:
    """A physical clock that tests move by hand (lockouts, idle expiry, approval expiry)."""

    ms: int = 1_795_000_000_000

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test store in `data_dir`."""
    return load_settings(data_dir, env={}, overrides={**FAST_ARGON2, **overrides})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    init_store(root, store="s01", name="Test Store")
    return root


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


@pytest.fixture
def rt(settings: Settings, wall: FakeWall) -> Iterator[Runtime]:
    runtime = open_runtime(settings, wall=wall)
    yield runtime
    runtime.close()


@pytest.fixture
def app(settings: Settings, rt: Runtime) -> Flask:
    return create_app(settings, runtime=rt)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Store:
    """Staff and registers of the test store, and tokens for them (flaskr's AuthActions)."""

    rt: Runtime
    client: FlaskClient
    staff: dict[str, str] = field(default_factory=dict)
    device: str = ""
    register_id: str = ""

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def login(self, who: str, *, device: str | None = None) -> str:
        """A staff session token for `who` (a key of PINS) on the register."""
        response = self.client.post(
            "/api/v1/sessions",
            json={"staff": self.staff[who], "pin": PINS[who]},
            headers=self.bearer(device or self.device),
        )
        assert response.status_code == 201, response.get_json()
        token: str = response.get_json()["token"]
        return token

    def new_register(self, name: str = "Till") -> tuple[str, str]:
        created, token = add_register(self.rt, name)
        return created.id, token


@pytest.fixture
def store(rt: Runtime, client: FlaskClient) -> Store:
    """One staff member per role (plus a second cashier) and one paired register."""
    result = Store(rt=rt, client=client)
    for who, role in (
        ("cashier", Role.CASHIER),
        ("supervisor", Role.SUPERVISOR),
        ("manager", Role.MANAGER),
        ("cashier2", Role.CASHIER),
    ):
        result.staff[who] = add_staff(rt, name=who.title(), role=role, pin=PINS[who]).id
    result.register_id, result.device = result.new_register("Front till")
    return result


SMALL_CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,reorder_qty,pack_size,active\r\n"
    "TEE-M-RED,Classic Tee,Size=M;Color=Red,4006381333931,Apparel,Acme,4.50,12.99,standard,5,24,1,1\r\n"
    "TEE-L-RED,Classic Tee,Size=L;Color=Red,036000291452|TB-0001,Apparel,Acme,4.50,12.99,standard,5,24,1,1\r\n"
    'MUG-1,"Crème Brûlée Mug, ""Large""",,96385074,Home & Kitchen,Potters,3.00,9.50,standard,,,6,1\r\n'
    "OLD-1,Retired Gadget,,5901234123457,Electronics,Acme,1.00,2.00,standard,,,1,0\r\n"
)


@pytest.fixture
def catalog(rt: Runtime) -> Runtime:
    """The store with a four-variant catalog (one inactive)."""
    from appliance.catalog.csvio import import_csv

    report = import_csv(rt, SMALL_CATALOG.encode())
    assert report.applied and report.created == 4, report
    return rt


@pytest.fixture
def server(app: Flask, settings: Settings) -> Iterator[RunningServer]:
    """The app on a real waitress server on a free port."""
    running = start_in_thread(app, settings)
    yield running
    running.stop()
