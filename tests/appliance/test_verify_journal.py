"""`tillbox appliance verify-journal`: edits, deletions and reorderings are found."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.journal import verify
from appliance.runtime import Runtime
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store

TILLBOX = str(Path(sys.executable).parent / "tillbox")


@pytest.fixture
def day(store: Store, catalog: Runtime, wall: FakeWall) -> Path:
    """A register that opened a shift and sold five times; the data dir, closed for editing."""
    till = Till(
        store.client,
        "s01",
        store.register_id,
        store.device,
        wall,
        staff_token=store.login("cashier"),
        actor=store.staff["cashier"],
    )
    assert till.open_shift().status_code == 200
    mug = store.rt.db.scalar("SELECT uid FROM variant WHERE sku = 'MUG-1'")
    for n in range(5):
        wall.advance(60)
        response = till.send("sale.completed", till.sale_body([Item(mug, n + 1, 950)]))
        assert response.status_code == 200, response.get_json()
    assert verify(store.rt.db).ok
    path = store.rt.settings.data_dir
    store.rt.db.close()
    return path


def tamper(data: Path, *statements: str) -> None:
    """What someone with the file would do: drop the guards and change rows."""
    with contextlib.closing(sqlite3.connect(data / "tillbox.sqlite3")) as conn, conn:
        conn.execute("DROP TRIGGER event_no_update")
        conn.execute("DROP TRIGGER event_no_delete")
        for statement in statements:
            conn.execute(statement)


def cli(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TILLBOX, "appliance", "verify-journal", "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_intact_journal(day: Path) -> None:
    result = cli(day)
    assert result.returncode == 0, result.stderr
    assert "journal intact: 6 events from 1 origin(s)" in result.stdout  # a shift and 5 sales


def test_an_edited_event_is_found(day: Path) -> None:
    with contextlib.closing(sqlite3.connect(day / "tillbox.sqlite3")) as conn:
        row = conn.execute(
            "SELECT id, envelope FROM event WHERE origin = 's01-r01' AND seq = 4"
        ).fetchone()
    envelope = json.loads(row[1])
    envelope["body"]["lines"][0]["unit_price"] = 1  # a cheaper mug, after the fact
    tamper(day, f"UPDATE event SET envelope = '{json.dumps(envelope)}' WHERE id = '{row[0]}'")
    result = cli(day)
    assert result.returncode == 1
    assert (
        f"BROKEN s01-r01 seq 4 (event {row[0]}): its content does not match its hash"
        in result.stderr
    )


def test_a_deleted_event_is_found(day: Path) -> None:
    tamper(day, "DELETE FROM event WHERE origin = 's01-r01' AND seq = 3")
    result = cli(day)
    assert result.returncode == 1
    assert "s01-r01 seq 4" in result.stderr
    assert "seq 3 is missing" in result.stderr
    assert "the store sequence has gaps" in result.stderr


def test_the_last_event_deleted_is_found(day: Path) -> None:
    tamper(day, "DELETE FROM event WHERE origin = 's01-r01' AND seq = 6")
    result = cli(day)
    assert result.returncode == 1
    assert "the journal ends at seq 5 but 6 were acknowledged" in result.stderr


def test_reordered_events_are_found(day: Path) -> None:
    tamper(
        day,
        "UPDATE event SET seq = -2 WHERE origin = 's01-r01' AND seq = 2",
        "UPDATE event SET seq = 2 WHERE origin = 's01-r01' AND seq = 3",
        "UPDATE event SET seq = 3 WHERE origin = 's01-r01' AND seq = -2",
    )
    result = cli(day)
    assert result.returncode == 1
    assert "BROKEN s01-r01 seq 2" in result.stderr
