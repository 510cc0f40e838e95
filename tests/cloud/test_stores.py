"""`tillbox cloud store add` and `broker-user`: the store's row, the Mosquitto password file
(checked against mosquitto_passwd and a real broker) and the password handed to the device."""

from __future__ import annotations

import base64
import grp
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from cloud.cli import cloud
from cloud.stores import (
    broker_users,
    check_mosquitto_hash,
    mosquitto_hash,
    new_password,
    set_broker_password,
)
from tests.cloud.shipped_broker import Client, ShippedBroker

Conn = psycopg.Connection[Any]
NOT_AUTHORIZED = 135


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(*args: str, dsn: str | None = None) -> Result:
    env = {"TILLBOX_CLOUD_DSN": dsn} if dsn else {}
    return CliRunner().invoke(cloud, list(args), env=env)


def hash_of(password_file: Path, user: str) -> str:
    for line in password_file.read_text().splitlines():
        name, _, stored = line.partition(":")
        if name == user:
            return stored
    raise AssertionError(f"{user} is not in {password_file}")


def test_our_hash_is_mosquittos_format_and_reads_mosquitto_passwd_hashes(tmp_path: Path) -> None:
    made = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(made), "s01", "hunter2"], check=True)
    theirs = hash_of(made, "s01")
    assert check_mosquitto_hash("hunter2", theirs)
    assert not check_mosquitto_hash("hunter3", theirs)
    salt = theirs.split("$")[3]
    # The same salt and iterations give mosquitto_passwd's very line.
    assert mosquitto_hash("hunter2", salt=base64.b64decode(salt)) == theirs
    ours = mosquitto_hash("hunter2")
    assert ours.startswith("$7$101$") and ours != mosquitto_hash("hunter2")
    assert len(new_password()) >= 43 and new_password() != new_password()


def test_a_user_is_added_or_replaced_and_every_other_line_kept(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "s01", "one"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "cloud-ingest", "two"], check=True)
    os.chmod(passwd, 0o640)
    ingest_line = [line for line in passwd.read_text().splitlines() if "cloud-ingest" in line]

    assert set_broker_password(passwd, "s02", "three") is False
    assert set_broker_password(passwd, "s01", "four") is True

    assert broker_users(passwd) == ["cloud-ingest", "s02", "s01"]
    assert ingest_line[0] in passwd.read_text().splitlines()
    assert check_mosquitto_hash("four", hash_of(passwd, "s01"))
    assert check_mosquitto_hash("three", hash_of(passwd, "s02"))
    assert mode(passwd) == 0o640  # as IT left it
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]  # no temp files left

    fresh = tmp_path / "new" / "passwd"
    fresh.parent.mkdir()
    assert set_broker_password(fresh, "s01", "five") is False
    assert mode(fresh) == 0o640
    if os.geteuid() == 0:  # as on the cloud machine: the broker's group may read it
        assert fresh.stat().st_gid == grp.getgrnam("mosquitto").gr_gid
    with pytest.raises(ValueError, match="not a broker username"):
        set_broker_password(fresh, "a:b", "x")


def test_two_operators_at_once_lose_no_line(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    users = [f"s{n:02d}" for n in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda user: set_broker_password(passwd, user, user * 2), users))
    assert sorted(broker_users(passwd)) == users
    assert all(check_mosquitto_hash(user * 2, hash_of(passwd, user)) for user in users)
    assert not check_mosquitto_hash("x", "$7$101$not base64!$abc")
    assert not check_mosquitto_hash("x", "$6$salt$hash")


def test_store_add_registers_the_store_and_hands_over_a_password_file(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    passwd, secrets = tmp_path / "passwd", tmp_path / "secrets"
    args = ["--password-file", str(passwd), "--secrets-dir", str(secrets)]

    first = run("store", "add", "s01", "--name", "Main Street", *args, dsn=cloud_dsn)

    assert first.exit_code == 0, first.output
    assert "registered store s01 (Main Street)" in first.output
    assert "created broker user s01" in first.output
    assert "systemctl reload mosquitto" in first.output
    secret = secrets / "s01.mqtt-password"
    password = secret.read_text().strip()
    assert mode(secret) == 0o600 and mode(secrets) == 0o700
    assert password not in first.output  # never printed unless asked
    assert check_mosquitto_hash(password, hash_of(passwd, "s01"))
    row = pg.execute("SELECT name, mqtt_password_set_at IS NOT NULL FROM store").fetchall()
    assert row == [("Main Street", True)]

    again = run("store", "add", "s01", *args, "--print-password", dsn=cloud_dsn)

    assert again.exit_code == 0, again.output
    assert "store s01 was already registered" in again.output
    assert "rotated s01's broker password" in again.output
    rotated = secret.read_text().strip()
    assert rotated != password and rotated in again.output.splitlines()
    assert not check_mosquitto_hash(password, hash_of(passwd, "s01"))
    assert check_mosquitto_hash(rotated, hash_of(passwd, "s01"))
    assert broker_users(passwd) == ["s01"]
    assert pg.execute("SELECT id, name FROM store").fetchall() == [("s01", "Main Street")]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["store", "add", "S01"], 2, "'S01' is not a store id"),
        (["store", "add", "s-01"], 2, "'s-01' is not a store id"),
        (["store", "add", "s"], 2, "'s' is not a store id"),
        (["store", "add", "cloud-ingest"], 2, "is not a store id"),
        (["store", "add", "s01", "--name", "  "], 2, "a store name has 1 to 100 characters"),
        (["broker-user", "hq"], 2, "'hq' is not one of 'ingest', 'catalog'"),
    ],
)
def test_bad_input_is_one_line_and_no_traceback(
    tmp_path: Path, cloud_dsn: str, args: list[str], code: int, message: str
) -> None:
    files = ["--password-file", str(tmp_path / "p"), "--secrets-dir", str(tmp_path / "s")]
    result = run(*args, *files, dsn=cloud_dsn)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "p").exists() and not (tmp_path / "s").exists()


def test_unusable_files_and_databases_are_plain_errors(tmp_path: Path, cloud_dsn: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (["--password-file", str(tmp_path / "p"), "--secrets-dir", str(blocker / "s")], cloud_dsn),
        (
            ["--password-file", str(tmp_path / "no" / "p"), "--secrets-dir", str(tmp_path)],
            cloud_dsn,
        ),
        (
            ["--password-file", str(tmp_path / "p"), "--secrets-dir", str(tmp_path)],
            "host=127.0.0.1 port=5432 user=postgres dbname=no_such_db_here connect_timeout=3",
        ),
    ]
    for files, dsn in cases:
        result = run("store", "add", "s01", *files, dsn=dsn)
        assert result.exit_code == 1, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("Error: ") and "Traceback" not in result.output, result.output
    assert not (tmp_path / "p").exists()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    """The shipped broker with the ingest user only (stores come from the commands)."""
    shipped = ShippedBroker(tmp_path / "broker")
    shipped.credentials("cloud-ingest")
    shipped.start()
    yield shipped
    shipped.kill()


def connack(broker: ShippedBroker, user: str, password: str, *, tls: bool = True) -> int:
    client = Client(broker, user, password, tls=tls)
    try:
        return int(client.connect().value)
    finally:
        client.close()


def test_a_new_or_rotated_password_counts_once_the_broker_is_reloaded(
    broker: ShippedBroker, cloud_dsn: str
) -> None:
    args = ["--password-file", str(broker.password_file), "--secrets-dir", str(broker.secrets)]

    added = run("store", "add", "s07", *args, dsn=cloud_dsn)
    assert added.exit_code == 0, added.output
    first = broker.password("s07")
    assert connack(broker, "s07", first) == NOT_AUTHORIZED  # not reloaded yet
    broker.reload()
    assert _eventually(lambda: connack(broker, "s07", first) == 0)

    rotated = run("store", "add", "s07", *args, "--reload-pid", str(broker.pid), dsn=cloud_dsn)
    assert rotated.exit_code == 0, rotated.output
    assert f"sent SIGHUP to the broker (pid {broker.pid})" in rotated.output
    second = broker.password("s07")
    assert _eventually(lambda: connack(broker, "s07", second) == 0)
    assert connack(broker, "s07", first) == NOT_AUTHORIZED

    user = run("broker-user", "ingest", *args, "--reload-pid", str(broker.pid))
    assert user.exit_code == 0, user.output
    assert "rotated cloud-ingest's broker password" in user.output
    fresh = broker.password("cloud-ingest")
    assert _eventually(lambda: connack(broker, "cloud-ingest", fresh, tls=False) == 0)
    responder = run("broker-user", "catalog", *args, "--print-password")
    assert responder.exit_code == 0, responder.output
    assert "created broker user cloud-catalog" in responder.output
    assert broker.password("cloud-catalog") in responder.output.splitlines()


def test_a_reload_of_a_process_that_is_gone_says_so(tmp_path: Path) -> None:
    args = ["--password-file", str(tmp_path / "p"), "--secrets-dir", str(tmp_path / "s")]
    gone = subprocess.Popen(["true"])
    gone.wait()
    result = run("broker-user", "ingest", *args, "--reload-pid", str(gone.pid))
    assert result.exit_code == 1
    assert "the password is written, but the broker was not reloaded" in result.output
    assert (tmp_path / "s" / "cloud-ingest.mqtt-password").exists()


def _eventually(check: Any, tries: int = 50) -> bool:
    """SIGHUP is handled by the broker's next loop: give it a moment."""
    for _ in range(tries):
        if check():
            return True
        time.sleep(0.05)
    return False


def test_an_ingest_group_must_be_one_topic_level(cloud_dsn: str) -> None:
    for group in ("a/b", "+", "in#", ""):
        result = run("ingest", "--group", group, dsn=cloud_dsn)
        assert result.exit_code == 2, result.output
        assert "cannot name a shared subscription group" in result.output
