"""The `tillbox appliance …` command line, as operators and scripts call it."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner, Result

from appliance.cli import main
from appliance.demo.catalog import DEMO_STAFF
from appliance.server import RunningServer
from appliance.settings import DATABASE_FILE, SETTINGS_FILE
from tests.conftest import SMALL_CATALOG

TILLBOX = str(Path(sys.executable).parent / "tillbox")

BAD_CATALOG = (
    SMALL_CATALOG
    + "BAD-1,Broken Thing,,4006381333932,Misc,Acme,1.00,2.00,standard,,,1,1\r\n"
    + "BAD-2,Negative Thing,,,Misc,Acme,1.00,-2.00,standard,,,1,1\r\n"
)


def tillbox(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as an operator would."""
    return subprocess.run(
        [TILLBOX, "appliance", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run a command in-process (quicker; for commands that set up no logging)."""
    return CliRunner().invoke(main, ["appliance", *args], env=env, catch_exceptions=False)


def assert_plain_failure(result: subprocess.CompletedProcess[str] | Result, text: str) -> None:
    """Exit code 1 and a plain message on stderr, never a traceback."""
    code = (
        result.returncode if isinstance(result, subprocess.CompletedProcess) else result.exit_code
    )
    assert code == 1, (result.stdout, result.stderr)
    assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def catalog_count(data: Path) -> int:
    with contextlib.closing(sqlite3.connect(data / DATABASE_FILE)) as conn:
        count: int = conn.execute("SELECT count(*) FROM variant").fetchone()[0]
    return count


@dataclass(frozen=True)
class DemoStore:
    data: Path
    output: str


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    data = tmp_path_factory.mktemp("cli") / "demo"
    result = tillbox("init", "--store", "s05", "--data", str(data), "--demo")
    assert result.returncode == 0, result.stderr
    return DemoStore(data=data, output=result.stdout)


# ---- init ----------------------------------------------------------------------------------


def test_init_creates_a_store_and_a_second_run_only_migrates(tmp_path: Path) -> None:
    data = tmp_path / "store"
    first = tillbox("init", "--store", "s01", "--data", str(data), "--name", "High Street")
    assert first.returncode == 0, first.stderr
    assert f"created store s01 in {data}" in first.stdout
    assert (data / DATABASE_FILE).is_file()
    assert 'store = "s01"' in (data / SETTINGS_FILE).read_text()
    with contextlib.closing(sqlite3.connect(data / DATABASE_FILE)) as conn:
        info = dict(conn.execute("SELECT key, value FROM store_info").fetchall())
    assert info["store"] == "s01" and info["name"] == "High Street" and info["demo"] == "0"

    second = tillbox("init", "--store", "s01", "--data", str(data))
    assert second.returncode == 0, second.stderr
    assert "already set up" in second.stdout
    assert "migrations applied: 0" in second.stdout
    with contextlib.closing(sqlite3.connect(data / DATABASE_FILE)) as conn:
        assert conn.execute("SELECT count(*) FROM store_info WHERE key = 'store'").fetchone() == (
            1,
        )


def test_init_for_another_store_in_the_same_dir_fails_plainly(data_dir: Path) -> None:
    before = (data_dir / SETTINGS_FILE).read_text()
    result = tillbox("init", "--store", "s02", "--data", str(data_dir))
    assert_plain_failure(result, "already holds store s01, not s02")
    assert (data_dir / SETTINGS_FILE).read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--store", "S 01"), "store id 'S 01' is not valid"),
        (("--store", "s01", "--currency", "XYZ"), "currency 'XYZ'"),
    ],
)
def test_init_with_bad_input_leaves_nothing_behind(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    data = tmp_path / "store"
    result = tillbox("init", *args, "--data", str(data))
    assert_plain_failure(result, message)
    assert not (data / DATABASE_FILE).exists()
    assert not (data / SETTINGS_FILE).exists()


def test_init_keeps_settings_written_before_it(tmp_path: Path) -> None:
    data = tmp_path / "store"
    data.mkdir()
    (data / SETTINGS_FILE).write_text("[appliance]\nport = 9090\n")
    result = tillbox("init", "--store", "s01", "--data", str(data))
    assert result.returncode == 0, result.stderr
    text = (data / SETTINGS_FILE).read_text()
    assert "port = 9090" in text and 'store = "s01"' in text


def test_init_demo_prints_the_register_token_and_the_demo_pins(demo_store: DemoStore) -> None:
    out = demo_store.output
    assert "created store s05" in out
    assert "imported: 2000 created" in out
    token_lines = [line for line in out.splitlines() if "device token: tbd_" in line]
    assert len(token_lines) == 1
    for member in DEMO_STAFF:
        assert f"PIN {member.pin}" in out
        assert member.name in out


# ---- staff and registers -------------------------------------------------------------------


def test_staff_add_then_list(data_dir: Path) -> None:
    added = invoke(
        "staff", "add", "--data", str(data_dir), "--name", "Ada Byron", "--role", "supervisor",
        "--pin", "4455",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added s01-staff-1 Ada Byron (supervisor)" in added.stdout
    listed = invoke("staff", "list", "--data", str(data_dir))
    assert listed.exit_code == 0
    assert listed.stdout.split() == ["s01-staff-1", "supervisor", "active", "Ada", "Byron"]


def test_a_duplicate_pin_fails_with_a_clear_message(data_dir: Path) -> None:
    first = invoke(
        "staff", "add", "--data", str(data_dir), "--name", "A", "--role", "cashier", "--pin", "1234"
    )
    assert first.exit_code == 0
    again = tillbox(
        "staff", "add", "--data", str(data_dir), "--name", "B", "--role", "manager", "--pin", "1234"
    )
    assert_plain_failure(again, "another staff member already uses this PIN")
    assert invoke("staff", "list", "--data", str(data_dir)).stdout.count("active") == 1


def test_staff_set_and_unlock(data_dir: Path) -> None:
    """Rename, deactivate, bring back with a new PIN, and lift a lockout from the CLI."""
    data = str(data_dir)
    for name, role, pin in (("Boss", "manager", "9999"), ("Cass", "cashier", "1111")):
        assert invoke("staff", "add", "--data", data, "--name", name, "--role", role,
                      "--pin", pin).exit_code == 0  # fmt: skip
    renamed = invoke("staff", "set", "s01-staff-2", "--data", data, "--name", "Cassie")
    assert renamed.exit_code == 0
    assert "s01-staff-2 Cassie (cashier, active)" in renamed.stdout
    assert invoke("staff", "set", "s01-staff-2", "--data", data, "--inactive").exit_code == 0
    back = tillbox("staff", "set", "s01-staff-2", "--data", data, "--active")
    assert_plain_failure(back, "give a new PIN when bringing a staff member back")
    back = invoke("staff", "set", "s01-staff-2", "--data", data, "--active", "--pin", "2222")
    assert "(cashier, active)" in back.stdout
    last = tillbox("staff", "set", "s01-staff-1", "--data", data, "--role", "cashier")
    assert_plain_failure(last, "at least one active manager")
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_FILE)) as conn, conn:
        conn.execute("UPDATE staff SET locked_until_ms = 9e15 WHERE id = 's01-staff-2'")
    assert "locked" in invoke("staff", "list", "--data", data).stdout
    assert invoke("staff", "unlock", "s01-staff-2", "--data", data).exit_code == 0
    assert "locked" not in invoke("staff", "list", "--data", data).stdout


def test_register_unlock(data_dir: Path) -> None:
    data = str(data_dir)
    assert invoke("register", "add", "Front", "--data", data).exit_code == 0
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_FILE)) as conn, conn:
        conn.execute("UPDATE register SET locked_until_ms = 9e15")
    assert "locked" in invoke("register", "list", "--data", data).stdout
    assert (
        invoke("register", "unlock", "s01-r01", "--data", data).stdout.strip() == "unlocked s01-r01"
    )
    assert "active" in invoke("register", "list", "--data", data).stdout
    missing = tillbox("register", "unlock", "s01-r09", "--data", data)
    assert_plain_failure(missing, "no register s01-r09")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "C", "--role", "cashier", "--pin", "12"), "a PIN is 4 to 6 digits"),
        (("--name", "   ", "--role", "cashier", "--pin", "1111"), "name"),
    ],
)
def test_staff_add_refuses_bad_input_plainly(
    data_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = invoke("staff", "add", "--data", str(data_dir), *args)
    assert_plain_failure(result, message)


def test_a_role_that_does_not_exist_is_a_usage_error(data_dir: Path) -> None:
    result = invoke(
        "staff", "add", "--data", str(data_dir), "--name", "C", "--role", "boss", "--pin", "1111"
    )
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.stderr


def test_register_add_prints_only_a_working_token_and_revoke_stops_it(
    data_dir: Path, server: RunningServer
) -> None:
    added = tillbox("register", "add", "Back till", "--data", str(data_dir))
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert added.stdout == token + "\n"
    assert token.startswith("tbd_")
    assert "register s01-r01 (Back till)" in added.stderr

    with requests.Session() as http:
        url = f"{server.url}/api/v1/permissions"
        ok = http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200, ok.text
        assert ok.json()["permissions"]
        wrong = http.get(url, headers={"Authorization": "Bearer tbd_nope"}, timeout=10)
        assert wrong.status_code == 401

        listed = tillbox("register", "list", "--data", str(data_dir))
        assert "s01-r01" in listed.stdout and "active" in listed.stdout

        revoked = tillbox("register", "revoke", "s01-r01", "--data", str(data_dir))
        assert revoked.returncode == 0, revoked.stderr
        assert "revoked s01-r01" in revoked.stdout
        after = http.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert after.status_code == 401
        assert after.json()["error"]

    assert "revoked" in tillbox("register", "list", "--data", str(data_dir)).stdout


def test_revoking_an_unknown_register_fails_plainly(data_dir: Path) -> None:
    assert_plain_failure(
        invoke("register", "revoke", "s01-r09", "--data", str(data_dir)), "s01-r09"
    )


# ---- catalog -------------------------------------------------------------------------------


def test_import_catalog_reports_counts(data_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(SMALL_CATALOG, encoding="utf-8", newline="")
    result = tillbox("import-catalog", str(good), "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "imported: 4 created, 0 updated, 0 unchanged, 0 bad rows skipped" in result.stdout
    assert catalog_count(data_dir) == 4
    again = invoke("import-catalog", str(good), "--data", str(data_dir))
    assert again.exit_code == 0
    assert "0 created, 0 updated, 4 unchanged" in again.stdout


def test_a_bad_catalog_imports_nothing_and_names_each_problem(
    data_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CATALOG, encoding="utf-8", newline="")
    result = tillbox("import-catalog", str(bad), "--data", str(data_dir))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert problems[0].startswith("row 6 barcodes: "), problems
    assert problems[1].startswith("row 7 price: "), problems
    assert len(problems) == 2
    assert "nothing imported" in result.stderr
    assert "--skip-bad-rows" in result.stderr
    assert result.stdout == ""
    assert catalog_count(data_dir) == 0


def test_skip_bad_rows_imports_the_good_rows(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CATALOG, encoding="utf-8", newline="")
    result = tillbox("import-catalog", str(bad), "--skip-bad-rows", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "row 6 barcodes:" in result.stderr and "row 7 price:" in result.stderr
    assert "4 created" in result.stdout and "2 bad rows skipped" in result.stdout
    assert catalog_count(data_dir) == 4


def test_import_of_a_missing_file_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    result = invoke("import-catalog", str(tmp_path / "nope.csv"), "--data", str(data_dir))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_export_catalog_to_a_file_and_to_stdout(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(SMALL_CATALOG, encoding="utf-8", newline="")
    assert invoke("import-catalog", str(source), "--data", str(data_dir)).exit_code == 0

    target = tmp_path / "out.csv"
    to_file = tillbox("export-catalog", str(target), "--data", str(data_dir))
    assert to_file.returncode == 0, to_file.stderr
    assert f"exported 4 variants to {target}" in to_file.stdout
    exported = target.read_text(encoding="utf-8")
    assert _rows(exported) == _rows(SMALL_CATALOG)

    to_stdout = tillbox("export-catalog", "-", "--data", str(data_dir))
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == exported
    assert not (Path.cwd() / "-").exists()

    # The export imports back unchanged.
    back = invoke("import-catalog", str(target), "--data", str(data_dir))
    assert "4 unchanged" in back.stdout


# ---- --data and TILLBOX_DATA ---------------------------------------------------------------


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


APPLIANCE_COMMANDS = sorted(_leaf_commands(main.commands["appliance"]))  # type: ignore[arg-type]


def test_the_command_shapes_operators_rely_on_exist() -> None:
    for expected in (
        ("init",),
        ("serve",),
        ("migrate",),
        ("import-catalog",),
        ("export-catalog",),
        ("staff", "add"),
        ("register", "add"),
        ("doctor",),
    ):
        assert expected in APPLIANCE_COMMANDS


@pytest.mark.parametrize("path", APPLIANCE_COMMANDS, ids="-".join)
def test_every_subcommand_takes_data(path: tuple[str, ...]) -> None:
    command = _command(("appliance", *path))
    data = [p for p in command.params if isinstance(p, click.Option) and "--data" in p.opts]
    assert data, f"{' '.join(path)} has no --data"
    assert data[0].default is None  # so TILLBOX_DATA and the settings default apply


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("staff", "list"), ""),
        (("register", "list"), ""),
        (("export-catalog", "-"), "sku,product,options"),
        (("migrate",), "the schema is up to date"),
        (("doctor",), "store      store s01"),
        (("init", "--store", "s01"), "already set up"),
        (
            ("staff", "add", "--name", "Env", "--role", "manager", "--pin", "8080"),
            "added s01-staff-1",
        ),
        (("register", "add", "Env till"), "tbd_"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else None,
)
def test_tillbox_data_is_honoured(
    data_dir: Path, tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    # In-process for speed; the console script itself is covered by the other tests.
    result = invoke(*args, env={"TILLBOX_DATA": str(data_dir)})
    assert result.exit_code in (0, 1), result.output  # doctor fails: no manager yet
    assert expected in result.stdout


def test_data_wins_over_tillbox_data(data_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert tillbox("init", "--store", "s02", "--data", str(other)).returncode == 0
    result = tillbox("doctor", "--data", str(other), env={"TILLBOX_DATA": str(data_dir)})
    assert "store s02" in result.stdout and "store s01" not in result.stdout


# ---- uninitialised data dirs ---------------------------------------------------------------


UNINITIALISED = [
    ("serve",),
    ("migrate",),
    ("import-catalog", "CATALOG"),
    ("export-catalog", "-"),
    ("staff", "add", "--name", "X", "--role", "cashier", "--pin", "1234"),
    ("staff", "list"),
    ("register", "add", "Till"),
    ("register", "list"),
    ("register", "revoke", "s01-r01"),
]


@pytest.mark.parametrize("args", UNINITIALISED, ids="-".join)
def test_commands_on_an_uninitialised_dir_say_to_run_init(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(SMALL_CATALOG, encoding="utf-8", newline="")
    empty = tmp_path / "empty"
    argv = [str(catalog) if a == "CATALOG" else a for a in args]
    # The console script for two of them, in-process for the rest (quicker, same code).
    run = tillbox if args[0] in ("serve", "migrate") else invoke
    result = run(*argv, "--data", str(empty))
    assert_plain_failure(result, "run `tillbox appliance init")
    assert not empty.exists()


def test_a_settings_file_without_a_database_says_to_run_init(tmp_path: Path) -> None:
    data = tmp_path / "half"
    data.mkdir()
    (data / SETTINGS_FILE).write_text('[appliance]\nstore = "s01"\n')
    assert_plain_failure(invoke("staff", "list", "--data", str(data)), "tillbox appliance init")
    assert not (data / DATABASE_FILE).exists()


def test_bad_settings_fail_plainly(data_dir: Path) -> None:
    result = tillbox("staff", "list", "--data", str(data_dir), env={"TILLBOX_PORT": "abc"})
    assert_plain_failure(result, "setting port: 'abc' is not a valid int")


def test_a_corrupt_database_fails_plainly(data_dir: Path) -> None:
    (data_dir / DATABASE_FILE).write_bytes(b"this is not a database at all" * 200)
    result = tillbox("staff", "list", "--data", str(data_dir))
    assert_plain_failure(result, "cannot be read")
    assert "tillbox appliance doctor" in result.stderr


# ---- serve ---------------------------------------------------------------------------------


def wait_for_health(
    url: str, process: subprocess.Popen[str], deadline_s: float = 20
) -> dict[str, str]:
    deadline = time.monotonic() + deadline_s
    with requests.Session() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited early"
            try:
                response = http.get(f"{url}/api/v1/health", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.1)
                continue
            assert response.status_code == 200
            body: dict[str, str] = response.json()
            return body
    raise AssertionError("the server did not come up")


def test_serve_serves_health_and_prints_the_demo_pins(demo_store: DemoStore) -> None:
    port = free_port()
    with subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--port", str(port), "--data", str(demo_store.data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            health = wait_for_health(f"http://127.0.0.1:{port}", process)
        finally:
            process.terminate()
            try:
                out, err = process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise
    assert health["status"] == "ok"
    assert health["store"] == "s05"
    # SIGTERM (what systemd sends) is a clean stop, not a crash.
    assert process.returncode == 0, err
    assert f"store s05 on http://127.0.0.1:{port}" in out
    for member in DEMO_STAFF:
        assert f"PIN {member.pin}" in out


def test_serve_prints_no_pins_for_a_real_store(data_dir: Path) -> None:
    port = free_port()
    with subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--data", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TILLBOX_PORT": str(port)},
    ) as process:
        try:
            assert wait_for_health(f"http://127.0.0.1:{port}", process)["store"] == "s01"
        finally:
            process.terminate()
            out, _ = process.communicate(timeout=15)
    assert "PIN" not in out
    assert f":{port}" in out


@pytest.mark.parametrize("port", ["0", "70000"])
def test_serve_refuses_a_bad_port_plainly(data_dir: Path, port: str) -> None:
    result = tillbox("serve", "--port", port, "--data", str(data_dir))
    assert_plain_failure(result, "port")


def test_serve_on_a_busy_port_fails_plainly(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = tillbox("serve", "--port", str(port), "--data", str(data_dir))
    assert_plain_failure(result, f"cannot serve on 127.0.0.1:{port}")
