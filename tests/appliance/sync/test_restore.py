"""`restore --from-cloud` fails cleanly: a reply that is malformed, truncated, refused or
missing leaves the data directory as it was (no database, no temporary directory, the
operator's settings untouched). The whole restore against the real cloud is fault test 10
(tests/faults/test_appliance_disk_loss.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.cli import main
from appliance.restore import RestoreFailed, restore_from_cloud
from appliance.runtime import open_runtime
from appliance.settings import load_settings, write_settings_file
from appliance.setup import init_store
from appliance.staff.registers import add_register
from protocol.directory import Directory, ReasonEntry, RestoreBegin, StaffEntry
from protocol.topics import rpc_reply_topic
from tests.appliance.sync.mqtt_fakes import Broker

STORE = "s01"
PIN_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"

Answer = Callable[[str, bytes], bytes | None]


def _begin(**changes: Any) -> bytes:
    directory = Directory(
        version=3,
        staff=[
            StaffEntry(
                id="s01-staff-1",
                name="Mona",
                role="manager",
                pin_hash=PIN_HASH,
                active=True,
                created_at="2026-12-01T09:00:00Z",
                updated_at="2026-12-01T09:00:00Z",
            )
        ],
        registers=[],
        reasons=[ReasonEntry(code="theft", kind="adjust", label="Theft", active=True)],
        settings={"store_name": "Main St", "currency": "EUR"},
    )
    begin = RestoreBegin(
        store=STORE,
        generation=2,
        applied_through=3,
        origins={"s01-r01": 3},
        directory=directory,
        catalog_head=0,
        last_outbox_depth=5,
        last_online_ms=None,
    )
    return msgspec.json.encode(msgspec.structs.replace(begin, **changes))


class ScriptedCloud:
    """Answers a store's restore and catalog requests as `answer(name, request)` says
    (None: no answer at all)."""

    def __init__(self, port: int, answer: Answer) -> None:
        self.answer = answer
        self.asked: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="cloud", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *_: c.subscribe(f"tillbox/v1/stores/{STORE}/rpc/+", 1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        name = message.topic.rsplit("/", 1)[1]
        self.asked.append((name, bytes(message.payload)))
        reply = self.answer(name, bytes(message.payload))
        if reply is None:
            return
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = message.properties.CorrelationData
        client.publish(rpc_reply_topic(STORE, name), reply, qos=1, properties=props)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker").start()
    yield running
    running.kill()


def _data_dir(tmp_path: Path, port: int) -> Path:
    data_dir = tmp_path / "replacement"
    data_dir.mkdir()
    write_settings_file(
        load_settings(data_dir, env={}), mqtt_host="127.0.0.1", mqtt_port=port, mqtt_tls=False
    )
    return data_dir


def _assert_untouched(data_dir: Path, settings_before: bytes) -> None:
    assert sorted(p.name for p in data_dir.iterdir()) == ["tillbox.toml"]
    assert (data_dir / "tillbox.toml").read_bytes() == settings_before


def _events_page(after: int) -> bytes:
    return b'{"events":[{"store_seq":1,"envelope":{"v":1,"id":"tru'  # cut off mid-envelope


def _good_but_events(events: bytes) -> Answer:
    """A cloud that answers begin, the variants and the catalog well, and events with events."""
    return lambda name, req: (
        _begin()
        if b"begin" in req
        else b'{"variants":[]}'
        if b"variants" in req
        else b'{"changes":[],"next":0,"head":0}'
        if name == "catalog"
        else events
    )


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (lambda name, _: b'{"store":"s01","generation":2,"applied_thr', "could not be read"),
        (lambda name, _: b'{"error":"the cloud holds no directory for store s01"}', "refused"),
        (lambda name, _: _begin(store="s02"), "not s01"),
        (lambda name, _: _begin(directory=None), "could not be read"),
        (_good_but_events(_events_page(0)), "events reply could not be read"),
        (_good_but_events(b'{"events":[]}'), "events end at store_seq 0, not 3"),
    ],
    ids=["truncated-begin", "refused", "other-store", "no-directory", "truncated-events", "short"],
)
def test_a_bad_reply_leaves_nothing_behind(
    tmp_path: Path, broker: Broker, answer: Answer, reason: str
) -> None:
    data_dir = _data_dir(tmp_path, broker.port)
    before = (data_dir / "tillbox.toml").read_bytes()
    cloud = ScriptedCloud(broker.port, answer)
    try:
        with pytest.raises(RestoreFailed, match=reason):
            restore_from_cloud(data_dir, store=STORE, timeout_s=5)
    finally:
        cloud.stop()
    _assert_untouched(data_dir, before)


def test_no_answer_is_a_clean_failure_after_the_retries(tmp_path: Path, broker: Broker) -> None:
    data_dir = _data_dir(tmp_path, broker.port)
    before = (data_dir / "tillbox.toml").read_bytes()
    cloud = ScriptedCloud(broker.port, lambda name, _: None)
    try:
        result = CliRunner().invoke(
            main,
            [
                "appliance",
                "restore",
                "--from-cloud",
                "--store",
                STORE,
                "--data",
                str(data_dir),
                "--timeout",
                "0.5",
            ],
        )
    finally:
        cloud.stop()
    assert result.exit_code == 1, result.output
    assert "restore failed, nothing was written" in result.output
    assert "did not answer the restore request" in result.output
    assert [name for name, _ in cloud.asked] == ["restore"] * 3
    _assert_untouched(data_dir, before)


def test_it_refuses_a_data_directory_that_holds_a_store(tmp_path: Path, broker: Broker) -> None:
    data_dir = _data_dir(tmp_path, broker.port)
    (data_dir / "tillbox.sqlite3").write_bytes(b"not a database at all")
    with pytest.raises(RestoreFailed, match="cannot be read"):
        restore_from_cloud(data_dir, store=STORE, timeout_s=1)
    (data_dir / "tillbox.sqlite3").unlink()
    init_store(data_dir, store=STORE)
    rt = open_runtime(load_settings(data_dir, env={}))
    try:
        add_register(rt, "Till 1")  # a store in use: it has a paired register
    finally:
        rt.close()
    with pytest.raises(RestoreFailed, match="holds a store with records"):
        restore_from_cloud(data_dir, store=STORE, timeout_s=1)
    write_settings_file(load_settings(data_dir, env={}), store="s02")
    with pytest.raises(RestoreFailed, match="names store s02, not s01"):
        restore_from_cloud(data_dir, store=STORE, timeout_s=1)


def test_a_new_empty_store_is_kept_as_it_was_when_the_restore_fails(
    tmp_path: Path, broker: Broker
) -> None:
    """What provisioning leaves (a new store, a first manager) is replaced only by a restore
    that completes; a failed one leaves it exactly as it was."""
    data_dir = _data_dir(tmp_path, broker.port)
    init_store(data_dir, store=STORE)
    before = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
    cloud = ScriptedCloud(broker.port, lambda name, _: b'{"store":"s01","generation"')
    try:
        with pytest.raises(RestoreFailed, match="could not be read"):
            restore_from_cloud(data_dir, store=STORE, timeout_s=5)
    finally:
        cloud.stop()
    after = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".restore-")]
