"""Bad input over HTTP: always a 4xx in the one error shape, and nothing stored changes."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.conftest import PINS, FakeWall, Store

# Columns that legitimately move on a rejected request: PIN lockout counters.
VOLATILE = {"failed_pins", "last_failed_ms", "locked_until_ms", "last_seen_ms", "lockouts"}


def _snapshot(rt: Runtime, *, skip: tuple[str, ...] = ()) -> str:
    """Every row of every table, minus the lockout counters."""
    lines = []
    tables = rt.db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'catalog_search_%' ORDER BY name"
    )
    for (table,) in tables:
        if table in skip:
            continue
        rows = rt.db.query(f"SELECT * FROM {table}")
        for row in rows:
            kept = {k: row[k] for k in row.keys() if k not in VOLATILE}  # noqa: SIM118  # sqlite3.Row iterates values
            lines.append(f"{table} {sorted(kept.items(), key=lambda kv: kv[0])!r}")
    return "\n".join(sorted(lines))


def _shape(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json() if hasattr(response, "get_json") else response.json()
    assert set(body) == {"error", "message", "details"}, body
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    return body


@pytest.fixture
def before(store: Store, catalog: Runtime) -> Iterator[str]:
    snapshot = _snapshot(store.rt)
    yield snapshot
    assert _snapshot(store.rt) == snapshot, "a rejected request changed stored data"


BODIES = [
    (b"{", 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b"[]", 422, "invalid_body"),
    (b"null", 422, "invalid_body"),
    (b'{"name": 5, "role": "cashier", "pin": "55555"}', 422, "invalid_body"),
    (b'{"name": "A", "role": "owner", "pin": "55555"}', 422, "invalid_body"),
    (b'{"name": "A", "role": "cashier", "pin": "55555", "admin": true}', 422, "invalid_body"),
    (b'{"name": "A", "role": "cashier"}', 422, "invalid_body"),
    (b'{"name": "A", "role": "cashier", "pin": 55555}', 422, "invalid_body"),
    (b'{"name": "", "role": "cashier", "pin": "55555"}', 422, "invalid_body"),
    (b'{"name": "A", "role": "cashier", "pin": "5555555"}', 422, "invalid_body"),
    (b'{"name": "\\u0000", "role": "cashier", "pin": "55555"}', 422, "invalid_body"),
    (b'{"name": "\x00", "role": "cashier", "pin": "55555"}', 400, "malformed_json"),
    (b'{"name": "A", "role": "cashier", "pin": "55555"} trailing', 400, "malformed_json"),
    (b"\xff\xfe{}", 400, "malformed_json"),
]


@pytest.mark.parametrize(("payload", "status", "code"), BODIES)
def test_bad_bodies(store: Store, catalog: Runtime, payload: bytes, status: int, code: str) -> None:
    manager = store.login("manager")
    snapshot = _snapshot(store.rt)
    response = store.client.post(
        "/api/v1/staff",
        data=payload,
        headers={**store.bearer(manager), "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.get_json()
    assert _shape(response)["error"] == code
    assert _snapshot(store.rt) == snapshot


def test_validation_errors_say_where(store: Store) -> None:
    manager = store.login("manager")
    response = store.client.post(
        "/api/v1/staff",
        json={"name": "A", "role": "cashier", "pin": 12345},
        headers=store.bearer(manager),
    )
    assert _shape(response)["details"] == {"path": "$.pin"}


def test_wrong_content_type_is_415(store: Store, before: str) -> None:
    response = store.client.post(
        "/api/v1/sessions",
        data="staff=s01-staff-1&pin=1357",
        headers={**store.bearer(store.device), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    _shape(response)


def test_huge_body_is_413(store: Store, before: str) -> None:
    size = store.rt.settings.max_body_bytes + 1
    response = store.client.post(
        "/api/v1/sessions",
        data=b"{" + b" " * size + b"}",
        headers={**store.bearer(store.device), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    _shape(response)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer tbd_not-a-real-token",
        "Bearer tbs_not-a-real-token",
        "Bearer tbo_an-approval-is-not-a-login",
        "Bearer " + "x" * 5000,
        "bearer\ttbd_x",
    ],
)
def test_wrong_tokens_are_401(store: Store, before: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = store.client.get("/api/v1/catalog/search?q=tee", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    _shape(response)


def test_expired_token_is_401(store: Store, wall: FakeWall) -> None:
    token = store.login("cashier")
    wall.advance(store.rt.settings.staff_idle_minutes * 60 + 1)
    response = store.client.get("/api/v1/sessions/current", headers=store.bearer(token))
    assert response.status_code == 401
    assert _shape(response)["error"] == "session_expired"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "q=",
        "q=tee&limit=0",
        "q=tee&limit=101",
        "q=tee&limit=ten",
        "q=tee&page=2",
        "q=" + "x" * 101,
    ],
)
def test_bad_queries_are_422(store: Store, before: str, query: str) -> None:
    response = store.client.get(
        f"/api/v1/catalog/search?{query}", headers=store.bearer(store.device)
    )
    assert response.status_code == 422, response.get_json()
    _shape(response)


@pytest.mark.parametrize("query", ["since=-1", "since=abc", "limit=0", "limit=999999", "since=1.5"])
def test_bad_feed_queries_are_422(store: Store, before: str, query: str) -> None:
    response = store.client.get(
        f"/api/v1/catalog/changes?{query}", headers=store.bearer(store.device)
    )
    assert response.status_code == 422
    _shape(response)


def test_unknown_routes_and_methods(store: Store, before: str) -> None:
    missing = store.client.get("/api/v1/nope", headers=store.bearer(store.device))
    assert missing.status_code == 404
    _shape(missing)
    posted = store.client.post("/api/v1/nope", json={})
    assert posted.status_code in (404, 405)
    _shape(posted)
    wrong = store.client.put("/api/v1/health")
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]
    _shape(wrong)


def test_path_parameters(store: Store, catalog: Runtime) -> None:
    manager = store.login("manager")
    for path in ("/api/v1/staff/NOT%20AN%20ID/unlock", "/api/v1/staff/s01-staff-999/unlock"):
        response = store.client.post(path, json={}, headers=store.bearer(manager))
        assert response.status_code == 404
        _shape(response)
    odd = store.client.get("/api/v1/catalog/barcodes/%00%01", headers=store.bearer(store.device))
    assert odd.status_code == 422
    _shape(odd)


def test_pin_guessing_changes_only_lockout_counters(store: Store, before: str) -> None:
    for _ in range(7):
        store.client.post(
            "/api/v1/sessions",
            json={"staff": store.staff["cashier"], "pin": "0000"},
            headers=store.bearer(store.device),
        )


# ---- through the real waitress server ------------------------------------------------------


@pytest.fixture
def web() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_real_server_bad_input(
    store: Store, catalog: Runtime, server: RunningServer, web: requests.Session
) -> None:
    snapshot = _snapshot(store.rt)
    base = server.url + "/api/v1"
    token = store.device
    auth = {"Authorization": f"Bearer {token}"}
    assert web.get(base + "/health", timeout=5).json()["status"] == "ok"
    bad_json = web.post(
        base + "/sessions",
        data=b'{"staff": ',
        headers={**auth, "Content-Type": "application/json"},
        timeout=5,
    )
    assert bad_json.status_code == 400
    _shape(bad_json)
    # A body larger than the limit, announced by Content-Length.
    huge = web.post(
        base + "/sessions",
        data=b"[" + b"1," * store.rt.settings.max_body_bytes + b"1]",
        headers={**auth, "Content-Type": "application/json"},
        timeout=30,
    )
    assert huge.status_code == 413
    _shape(huge)

    # The same, sent chunked with no Content-Length.
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(store.rt.settings.max_body_bytes // 65536 + 2):
            yield b"1," * 32768
        yield b"1]"

    chunked = web.post(
        base + "/sessions",
        data=chunks(),
        headers={**auth, "Content-Type": "application/json"},
        timeout=30,
    )
    assert chunked.status_code == 413
    _shape(chunked)
    # A login still works afterwards, and nothing else changed.
    good = web.post(
        base + "/sessions",
        json={"staff": store.staff["cashier"], "pin": PINS["cashier"]},
        headers=auth,
        timeout=5,
    )
    assert good.status_code == 201
    assert _snapshot(store.rt, skip=("staff_session",)) == "\n".join(
        line for line in snapshot.splitlines() if not line.startswith("staff_session ")
    )


def test_real_server_garbage_request_line(server: RunningServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.putrequest("GET", "/api/v1/health?q=%ZZ")
    connection.endheaders()
    response = connection.getresponse()
    try:
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"
    finally:
        connection.close()


def test_a_write_blocked_by_another_process_answers_503(
    data_dir: Path, wall: FakeWall, tmp_path: Path
) -> None:
    """Another process (a big CLI import) holds the write lock past busy_timeout: the request
    gets 503 busy with Retry-After, nothing is half-written, and it works once the lock goes."""
    import subprocess
    import sys

    from appliance.app import create_app
    from appliance.runtime import open_runtime
    from appliance.staff.directory import add_staff
    from appliance.staff.registers import add_register
    from protocol.permissions import Role
    from tests.conftest import make_settings

    settings = make_settings(data_dir, busy_timeout_ms=200)
    rt = open_runtime(settings, wall=wall)
    try:
        manager = add_staff(rt, name="M", role=Role.MANAGER, pin="9753")
        _, device = add_register(rt, "Till")
        client = create_app(settings, runtime=rt).test_client()
        token = client.post(
            "/api/v1/sessions",
            json={"staff": manager.id, "pin": "9753"},
            headers={"Authorization": f"Bearer {device}"},
        ).get_json()["token"]
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(settings.database_path)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('locked', flush=True)\n"
                "sys.stdin.readline()\n"
                "c.execute('ROLLBACK')\n",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            busy = client.post(
                "/api/v1/staff",
                json={"name": "Blocked", "role": "cashier", "pin": "24680"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert busy.status_code == 503
            assert _shape(busy)["error"] == "busy"
            assert busy.headers["Retry-After"] == "2"
        finally:
            assert holder.stdin is not None
            holder.stdin.write("\n")
            holder.stdin.close()
            holder.wait(timeout=10)
            holder.stdout.close()
        assert rt.db.scalar("SELECT count(*) FROM staff WHERE name = 'Blocked'") == 0
        again = client.post(
            "/api/v1/staff",
            json={"name": "Blocked", "role": "cashier", "pin": "24680"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert again.status_code == 201
    finally:
        rt.close()
