"""`tillbox appliance serve` with a cloud configured runs the uplink beside the API: its
events reach a real Mosquitto, its status is retained, and its Will says when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.journal import record
from appliance.runtime import open_runtime
from appliance.setup import init_store
from tests.appliance.sync.mqtt_fakes import SHARED_PORT, FakeCloud, free_port, wait_for
from tests.conftest import make_settings

TILLBOX = str(Path(sys.executable).parent / "tillbox")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    store = "v" + uuid.uuid4().hex[:12]
    root = tmp_path / store
    init_store(root, store=store, name="Serve test")
    rt = open_runtime(make_settings(root))
    try:
        with rt.db.write():
            for i in range(5):
                record(rt, type="cash.moved", body={"n": i}, actor=None)
    finally:
        rt.close()
    return root


@pytest.fixture
def cloud(store_dir: Path) -> Iterator[FakeCloud]:
    fake = FakeCloud(store_dir.name, port=SHARED_PORT).start()
    yield fake
    fake.stop()


def _serve(store_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TILLBOX_PORT": str(free_port()),
        "TILLBOX_MQTT_HOST": "127.0.0.1",
        "TILLBOX_MQTT_PORT": str(SHARED_PORT),
        "TILLBOX_MQTT_TLS": "false",
        "TILLBOX_SYNC_POLL_MS": "20",
        "TILLBOX_MQTT_SESSION_EXPIRY_S": "30",
    }
    return subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--data", str(store_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("death", ["sigterm", "sigkill"])
def test_serve_syncs_and_says_offline_when_it_stops_or_dies(
    store_dir: Path, cloud: FakeCloud, death: str
) -> None:
    process = _serve(store_dir)
    try:
        wait_for(lambda: cloud.applied == 5, timeout=20, what="the journal in the cloud")
        wait_for(lambda: any(s.get("online") for s in cloud.statuses), what="online status")
        seen = len(cloud.statuses)
        # SIGTERM is systemd stopping it (the uplink says offline itself); SIGKILL a crash
        # (the broker publishes the Will).
        process.send_signal(signal.SIGTERM if death == "sigterm" else signal.SIGKILL)
        process.wait(15)
        wait_for(lambda: {"online": False} in cloud.statuses[seen:], what="offline status")
    finally:
        if process.poll() is None:
            process.kill()
        _, err = process.communicate(timeout=15)
    if death == "sigterm":
        assert process.returncode == 0, err


def test_serve_refuses_an_unreadable_password_file_plainly(store_dir: Path) -> None:
    result = subprocess.run(
        [TILLBOX, "appliance", "serve", "--data", str(store_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **os.environ,
            "TILLBOX_PORT": str(free_port()),
            "TILLBOX_MQTT_HOST": "127.0.0.1",
            "TILLBOX_MQTT_PASSWORD_FILE": str(store_dir / "missing"),
        },
    )
    assert result.returncode == 1
    assert "mqtt_password_file" in result.stderr and "Traceback" not in result.stderr
