"""Scans over HTTP against a real waitress server: the register's SSE stream (delivery to the
right register only, Last-Event-ID replay, one stream per register, the stream cap, ending on
disconnect, revocation and shutdown) and the fake scanner, POST /api/v1/scans."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance.app import create_app
from appliance.runtime import Runtime, open_runtime
from appliance.scans import ScanBus
from appliance.server import RunningServer, start_in_thread
from appliance.settings import Settings, load_settings
from tests.conftest import FakeWall, Store

# Every read has a deadline, so a stream that never sends cannot hang a test.
TIMEOUT = (3, 3)


@pytest.fixture
def rt(settings: Settings, wall: FakeWall) -> Iterator[Runtime]:
    """The store's runtime with keepalives every 0.2 s instead of 15, so a stream notices a
    gone client, a revoked register, within a fraction of a second."""
    runtime = dataclasses.replace(open_runtime(settings, wall=wall), scans=ScanBus(keepalive_s=0.2))
    yield runtime
    runtime.close()


class EventStream:
    """A Server-Sent Events reader over a streaming `requests` response."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self._chunks = response.iter_content(chunk_size=None)
        self._buffer = b""

    def block(self) -> dict[str, str] | None:
        """The next block's fields (a comment comes as {"comment": …}); None at the end."""
        while b"\n\n" not in self._buffer:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return None
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in raw.decode().split("\n"):
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        return fields

    def event(self, within: float = 2.0) -> dict[str, str] | None:
        """The next event (not a comment or a retry line), or None when the stream ends."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            block = self.block()
            if block is None or "event" in block:
                return block
        raise AssertionError(f"no event within {within} s")

    def scan(self, within: float = 2.0) -> dict[str, Any]:
        """The next scan's data, checked against its SSE id."""
        block = self.event(within)
        assert block is not None and block["event"] == "scan", block
        data: dict[str, Any] = json.loads(block["data"])
        assert set(data) == {"code", "source", "at", "id"}
        assert block["id"] == data["id"]
        return data

    def close(self) -> None:
        self.response.close()


def open_stream(base: str, token: str | None, last_event_id: str | None = None) -> EventStream:
    """GET /scans/stream, checked to be an open event stream."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    response = requests.get(
        f"{base}/api/v1/scans/stream", headers=headers, stream=True, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = EventStream(response)
    assert stream.block() == {"retry": "1000"}
    return stream


def send_scan(base: str, token: str, register: str, code: str) -> dict[str, Any]:
    """POST /scans (the fake scanner), checked to be accepted."""
    response = requests.post(
        f"{base}/api/v1/scans",
        json={"register": register, "code": code},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_scan_reaches_its_register_within_a_second_and_no_other(
    server: RunningServer, store: Store
) -> None:
    manager = store.login("manager")
    back, back_device = store.new_register("Back till")
    front_stream = open_stream(server.url, store.device)
    # A staff session of a register opens that register's stream too.
    back_stream = open_stream(server.url, store.login("cashier", device=back_device))

    started = time.monotonic()
    sent = send_scan(server.url, manager, store.register_id, "4006381333931")
    got = front_stream.scan()
    assert time.monotonic() - started < 1.0
    assert sent["streaming"] is True and sent["register"] == store.register_id
    assert got == {"code": "4006381333931", "source": "fake", "at": sent["at"], "id": sent["id"]}

    # Had the front till's scan leaked, it would come first on the back till's stream.
    send_scan(server.url, manager, back, "96385074")
    assert back_stream.scan()["code"] == "96385074"
    send_scan(server.url, manager, store.register_id, "TB-0001")
    assert front_stream.scan()["code"] == "TB-0001"
    front_stream.close()
    back_stream.close()


def test_last_event_id_replays_what_was_missed_then_goes_live(
    server: RunningServer, store: Store
) -> None:
    manager = store.login("manager")
    first = open_stream(server.url, store.device)
    seen = send_scan(server.url, manager, store.register_id, "SEEN")
    assert first.scan()["id"] == seen["id"]
    first.close()
    missed = [send_scan(server.url, manager, store.register_id, f"MISSED-{n}") for n in (1, 2)]

    resumed = open_stream(server.url, store.device, last_event_id=seen["id"])
    assert [resumed.scan()["id"], resumed.scan()["id"]] == [m["id"] for m in missed]
    live = send_scan(server.url, manager, store.register_id, "LIVE")
    assert resumed.scan()["id"] == live["id"]

    # A stream opened without Last-Event-ID starts from now, and replaces the older stream,
    # which is told so and ends.
    fresh = open_stream(server.url, store.device)
    assert resumed.event() == {"event": "superseded", "data": "{}"}
    assert resumed.block() is None
    after = send_scan(server.url, manager, store.register_id, "AFTER")
    assert fresh.scan()["id"] == after["id"]
    fresh.close()


def test_a_stream_needs_a_valid_token(server: RunningServer, store: Store) -> None:
    for headers in ({}, {"Authorization": "Bearer tbd_not-a-token"}):
        response = requests.get(
            f"{server.url}/api/v1/scans/stream", headers=headers, timeout=TIMEOUT
        )
        assert response.status_code == 401
        assert set(response.json()) == {"error", "message", "details"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert store.rt.scans.active == 0


def test_the_stream_ends_when_the_client_goes(server: RunningServer, store: Store) -> None:
    stream = open_stream(server.url, store.device)
    assert store.rt.scans.active == 1
    assert stream.block() == {"comment": "keepalive"}
    stream.close()
    wait_for(lambda: store.rt.scans.active == 0)
    # ...and its worker thread is free again.
    wait_for(lambda: server.server.task_dispatcher.active_count == 0)


def test_a_revoked_registers_stream_ends(server: RunningServer, store: Store) -> None:
    till, device = store.new_register("Spare till")
    stream = open_stream(server.url, device)
    manager = store.login("manager")
    revoked = requests.delete(
        f"{server.url}/api/v1/registers/{till}", headers=store.bearer(manager), timeout=TIMEOUT
    )
    assert revoked.status_code == 200, revoked.text
    assert stream.event() is None
    again = requests.get(
        f"{server.url}/api/v1/scans/stream", headers=store.bearer(device), timeout=TIMEOUT
    )
    assert again.status_code == 401
    wait_for(lambda: store.rt.scans.active == 0)


def test_stopping_the_server_ends_open_streams(server: RunningServer, store: Store) -> None:
    streams = [open_stream(server.url, store.device)]
    _, other = store.new_register("Back till")
    streams.append(open_stream(server.url, other))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    for stream in streams:
        assert stream.event() is None
    assert store.rt.scans.active == 0
    assert not server.thread.is_alive()


def test_streams_are_capped_at_threads_minus_two(data_dir: Path, rt: Runtime, store: Store) -> None:
    """With 4 worker threads, 2 registers may stream; a third gets 503 in the error shape,
    while a register that already streams may always reconnect."""
    small = load_settings(data_dir, env={}, overrides={"threads": 4})
    runtime = dataclasses.replace(rt, settings=small)
    running = start_in_thread(create_app(small, runtime=runtime), small)
    try:
        tills = [store.new_register(f"Till {n}") for n in range(3)]
        streams = [open_stream(running.url, device) for _, device in tills[:2]]
        refused = requests.get(
            f"{running.url}/api/v1/scans/stream", headers=store.bearer(tills[2][1]), timeout=TIMEOUT
        )
        assert refused.status_code == 503
        assert refused.json() == {
            "error": "too_many_streams",
            "message": "all 2 scan streams are in use; try again shortly",
            "details": {"limit": 2, "retry_after_s": 5},
        }
        assert refused.headers["Retry-After"] == "5"
        streams.append(open_stream(running.url, tills[0][1]))
        assert streams[0].event() == {"event": "superseded", "data": "{}"}
        for stream in streams:
            stream.close()
    finally:
        running.stop()


# ---- the fake scanner ----------------------------------------------------------------------

BAD_SCANS = [
    ({"code": "123"}, 422, "invalid_body"),
    ({"register": "s01-r01"}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": ""}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": "9" * 129}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": "40063\n81333931"}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": " 4006381333931"}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": "Crème"}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": 4006381333931}, 422, "invalid_body"),
    ({"register": "s01-r01", "code": "123", "source": "usb"}, 422, "invalid_body"),
    ({"register": "till one", "code": "123"}, 422, "invalid_body"),
    ({"register": "s01-r99", "code": "123"}, 404, "unknown_register"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_SCANS)
def test_a_bad_scan_is_refused_in_the_error_shape(
    store: Store, body: dict[str, Any], status: int, code: str
) -> None:
    manager = store.login("manager")
    response = store.client.post("/api/v1/scans", json=body, headers=store.bearer(manager))
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert set(response.get_json()) == {"error", "message", "details"}
    # Nothing was published: a stream resuming from an unknown id would replay it.
    for register in ("s01-r01", "s01-r99"):
        assert store.rt.scans.subscribe(register, "before-0", limit=10)[1] == []


def test_a_scan_for_a_revoked_register_is_404(store: Store) -> None:
    manager = store.login("manager")
    till, _ = store.new_register("Gone")
    assert (
        store.client.delete(f"/api/v1/registers/{till}", headers=store.bearer(manager)).status_code
        == 200
    )
    response = store.client.post(
        "/api/v1/scans", json={"register": till, "code": "123"}, headers=store.bearer(manager)
    )
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_register"


def test_only_managers_send_scans_unless_the_fake_scanner_is_on(store: Store) -> None:
    body = {"register": store.register_id, "code": "96385074"}
    as_device = store.client.post("/api/v1/scans", json=body, headers=store.bearer(store.device))
    assert as_device.status_code == 401 and as_device.get_json()["error"] == "login_required"
    cashier = store.login("cashier")
    as_cashier = store.client.post("/api/v1/scans", json=body, headers=store.bearer(cashier))
    assert as_cashier.status_code == 403 and as_cashier.get_json()["error"] == "role_required"

    fake = store.rt.settings.replace(fake_scanner=True)
    client = create_app(fake, runtime=dataclasses.replace(store.rt, settings=fake)).test_client()
    for token in (store.device, cashier):
        accepted = client.post("/api/v1/scans", json=body, headers=store.bearer(token))
        assert accepted.status_code == 202, accepted.get_json()
        assert accepted.get_json()["source"] == "fake"
        assert accepted.get_json()["streaming"] is False


def test_the_fake_scanner_setting_reads_from_file_and_environment(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).fake_scanner is False
    assert load_settings(tmp_path, env={"TILLBOX_FAKE_SCANNER": "yes"}).fake_scanner is True
    (tmp_path / "tillbox.toml").write_text("[appliance]\nfake_scanner = true\n")
    assert load_settings(tmp_path, env={}).fake_scanner is True
    assert load_settings(tmp_path, env={"TILLBOX_FAKE_SCANNER": "0"}).fake_scanner is False


def test_scans_are_in_the_openapi_document(store: Store) -> None:
    document = store.client.get("/api/v1/openapi.json").get_json()
    stream = document["paths"]["/api/v1/scans/stream"]["get"]
    content = stream["responses"]["200"]["content"]["text/event-stream"]
    assert content["x-event-data"] == {"$ref": "#/components/schemas/ScanEvent"}
    assert set(document["components"]["schemas"]["ScanEvent"]["properties"]) == {
        "code",
        "source",
        "at",
        "id",
    }
    assert {"name": "Last-Event-ID", "in": "header"}.items() <= stream["parameters"][0].items()
    assert "503" in stream["responses"]
    publish = document["paths"]["/api/v1/scans"]["post"]
    assert publish["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScanOut"
    }
    assert publish["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScanBody"
    }
