"""systemd's notify protocol: readiness and watchdog pings on a datagram socket that stands
in for systemd's, from the functions and from a real `tillbox appliance serve`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sdnotify import Watchdog, health_probe, notify, watchdog_interval_s
from appliance.server import RunningServer

TILLBOX = str(Path(sys.executable).parent / "tillbox")


class FakeSystemd:
    """A bound AF_UNIX datagram socket, as systemd's NOTIFY_SOCKET is."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path

    def _datagrams(self, timeout_s: float) -> Iterator[str]:
        """Each datagram as it arrives, until `timeout_s` has passed."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                yield self.sock.recv(4096).decode()
            except TimeoutError:
                return

    def receive(self, timeout_s: float) -> list[str]:
        """Every datagram that arrives within `timeout_s`."""
        return list(self._datagrams(timeout_s))

    def wait_for(self, message: str, timeout_s: float) -> list[str]:
        """Datagrams up to and including the first `message`; fails after `timeout_s`."""
        got: list[str] = []
        for datagram in self._datagrams(timeout_s):
            got.append(datagram)
            if datagram == message:
                return got
        raise AssertionError(f"no {message!r} within {timeout_s} s; got {got}")


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake
    fake.sock.close()


def test_notify_sends_one_datagram(systemd: FakeSystemd) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": systemd.path})
    assert systemd.receive(0.2) == ["READY=1"]


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"tillbox-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_notify_outside_systemd_does_nothing(tmp_path: Path) -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    # A socket that is gone (systemd restarted) is a warning, not a crash.
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}, 15.0),
        ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "self"}, 15.0),
        ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "0"}, None),
        ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "soon"}, None),
        ({"NOTIFY_SOCKET": "/run/x"}, None),
        ({"WATCHDOG_USEC": "30000000"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    if env.get("WATCHDOG_PID") == "self":
        env = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(env) == interval


def test_watchdog_pings_only_while_the_server_answers(
    systemd: FakeSystemd, server: RunningServer
) -> None:
    env = {"NOTIFY_SOCKET": systemd.path}
    healthy = health_probe(f"{server.url}/api/v1/health", timeout_s=1)
    dog = Watchdog(healthy, 0.05, env)
    dog.start()
    try:
        pings = systemd.receive(0.5)
    finally:
        dog.stop()
    assert len(pings) >= 3 and set(pings) == {"WATCHDOG=1"}
    systemd.receive(0.1)  # a ping that was on its way when it stopped
    # The server stops answering: no more pings, so systemd would restart it.
    url = server.url
    server.stop()
    dead = Watchdog(health_probe(f"{url}/api/v1/health", timeout_s=0.2), 0.05, env)
    dead.start()
    try:
        assert systemd.receive(0.5) == []
    finally:
        dead.stop()
    assert dead.pings == 0


@pytest.mark.slow
def test_serve_says_ready_then_pings_the_watchdog(systemd: FakeSystemd, tmp_path: Path) -> None:
    data = tmp_path / "store"
    init = subprocess.run(
        [TILLBOX, "appliance", "init", "--store", "s01", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "NOTIFY_SOCKET": systemd.path,
        # 1 s: pinged every 0.5 s.
        "WATCHDOG_USEC": "1000000",
    }
    process = subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--data", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        before_ready = systemd.wait_for("READY=1", timeout_s=30)
        assert "WATCHDOG=1" not in before_ready
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # READY=1 came with the port bound
        pings = systemd.receive(1.6)
        assert pings.count("WATCHDOG=1") >= 2
        process.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in systemd.wait_for("STOPPING=1", timeout_s=15)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        assert process.stderr is not None
        process.stderr.close()
