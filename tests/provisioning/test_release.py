"""tillbox-release (firmware_config/sbin): switching releases, migrating, the health check and
the rollback, with real appliance servers. systemd cannot run here, so `systemctl` is a
stand-in on PATH that starts and stops `current/bin/tillbox appliance serve` the way the
unit does; the releases are small wrappers around this checkout's tillbox, one of them broken."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.appliance.sync.mqtt_fakes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "firmware_config/sbin/tillbox-release"
TILLBOX = Path(sys.executable).parent / "tillbox"

FAKE_SYSTEMCTL = """#!/bin/bash
# systemctl start|stop tillbox-appliance.service, as the unit would run it.
set -eu
pidfile="$FAKE_SYSTEMD/appliance.pid"
echo "$1 $(basename "$(readlink "$TILLBOX_RELEASES/current")")" >>"$FAKE_SYSTEMD/calls"
case "$1" in
    start)
        "$TILLBOX_RELEASES/current/bin/tillbox" appliance serve --data "$TILLBOX_DATA" \\
            --port "$FAKE_PORT" >>"$FAKE_SYSTEMD/serve.log" 2>&1 &
        echo $! >"$pidfile"
        ;;
    stop)
        if [[ -f "$pidfile" ]]; then
            pid="$(cat "$pidfile")"
            kill "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
            rm -f "$pidfile"
        fi
        ;;
esac
"""

GOOD = f"""#!/bin/bash
exec {TILLBOX} "$@"
"""

# A release whose server dies at start, and whose migrate changes the schema (after the
# backup a real migrate makes), so a rollback must put the backup back.
BROKEN = f"""#!/bin/bash
if [[ "$2" == serve ]]; then
    echo "broken release" >&2
    exit 3
fi
if [[ "$2" == migrate ]]; then
    exec {sys.executable} - <<'PY'
import os, sqlite3, time
data = os.environ["TILLBOX_DATA"]
os.makedirs(f"{{data}}/backups", exist_ok=True)
live = sqlite3.connect(f"{{data}}/tillbox.sqlite3")
copy = sqlite3.connect(f"{{data}}/backups/tillbox-{{time.strftime('%Y%m%dT%H%M%S')}}-before-0099_fake.sqlite3")
live.backup(copy)
copy.close()
live.execute("CREATE TABLE fake_0099 (x)")
live.commit()
print("applied 1 migration(s): 0099_fake")
PY
fi
exec {TILLBOX} "$@"
"""


@dataclass
class Releases:
    root: Path
    data: Path
    systemd: Path
    port: int
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RELEASE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def link(self, name: str) -> str | None:
        path = self.root / name
        return os.readlink(path) if path.is_symlink() else None

    def calls(self) -> list[str]:
        path = self.systemd / "calls"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def releases(tmp_path: Path) -> Iterator[Releases]:
    root, data, systemd, bin_dir = (tmp_path / d for d in ("opt", "data", "systemd", "bin"))
    for d in (root, data, systemd, bin_dir):
        d.mkdir()
    for version, script in (("0.0.9", GOOD), ("0.1.0", GOOD), ("0.2.0", BROKEN)):
        (root / version / "bin").mkdir(parents=True)
        (root / version / "bin/tillbox").write_text(script)
        (root / version / "bin/tillbox").chmod(0o755)
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TILLBOX_RELEASES": str(root),
        "TILLBOX_DATA": str(data),
        "TILLBOX_STORE_USER": subprocess.run(
            ["id", "-un"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "TILLBOX_HEALTH_URL": f"http://127.0.0.1:{port}/api/v1/health",
        "TILLBOX_HEALTH_WAIT": "10",
        "FAKE_SYSTEMD": str(systemd),
        "FAKE_PORT": str(port),
    }
    init = subprocess.run(
        [str(TILLBOX), "appliance", "init", "--store", "s01", "--data", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    os.symlink("0.0.9", root / "current")
    made = Releases(root, data, systemd, port, env)
    yield made
    pidfile = systemd / "appliance.pid"
    if pidfile.exists():
        os.kill(int(pidfile.read_text()), signal.SIGTERM)


def _health(port: int) -> dict[str, str] | None:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]


def tables(data: Path) -> set[str]:
    # Closed at once: a connection left open in this process would keep the old -shm mapped
    # across the restore (SQLite shares it between a process's connections to one file).
    with contextlib.closing(sqlite3.connect(data / "tillbox.sqlite3")) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.slow
def test_activate_switches_then_a_broken_release_is_rolled_back(releases: Releases) -> None:
    done = releases.run("activate", "0.1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0.1.0 is current and healthy (previous: 0.0.9)" in done.stdout
    assert (releases.link("current"), releases.link("previous")) == ("0.1.0", "0.0.9")
    assert releases.calls() == ["stop 0.0.9", "start 0.1.0"]

    again = releases.run("activate", "0.1.0")
    assert again.returncode == 0 and "already current" in again.stdout

    before = tables(releases.data)
    broken = releases.run("activate", "0.2.0")
    assert broken.returncode == 1
    assert "0.2.0 did not report healthy" in broken.stdout
    assert "restored the database from" in broken.stdout
    assert "rolled back to 0.1.0" in broken.stderr
    assert releases.link("current") == "0.1.0"
    # The old release serves again (rollback does not wait for it; the unit's restarts would).
    health = wait_for(
        lambda: _health(releases.port), timeout=30, what="the rolled-back appliance's health"
    )
    assert health["version"] == "0.1.0"
    # The schema change the broken release made is gone with its backup put back.
    assert "fake_0099" not in tables(releases.data) and tables(releases.data) == before
    assert releases.calls()[-3:] == ["start 0.2.0", "stop 0.2.0", "start 0.1.0"]
    status = releases.run("status")
    assert status.stdout.splitlines()[0].split() == ["current", "0.1.0"]


def test_refuses_what_is_not_an_installed_release(releases: Releases) -> None:
    missing = releases.run("activate", "9.9.9")
    assert missing.returncode == 1 and "is not an installed release" in missing.stderr
    odd = releases.run("activate", "../etc")
    assert odd.returncode == 1 and "not a release name" in odd.stderr
    assert releases.link("current") == "0.0.9" and releases.calls() == []
    nothing = releases.run("activate-staged")
    assert nothing.returncode == 1 and "nothing is staged" in nothing.stderr
    usage = releases.run("dance")
    assert usage.returncode == 1 and "usage:" in usage.stderr


def test_no_restart_switches_and_migrates_only(releases: Releases) -> None:
    done = releases.run("activate", "0.1.0", "--no-restart")
    assert done.returncode == 0, done.stderr
    assert "0.1.0 is current (not restarted)" in done.stdout
    assert releases.calls() == []
    assert (releases.link("current"), releases.link("previous")) == ("0.1.0", "0.0.9")
