"""cloud.migrate and `tillbox cloud migrate`: numbered SQL files, applied once, in order."""

from __future__ import annotations

from click.testing import CliRunner

from appliance.cli import main
from cloud.migrate import connect, migrate, migrations


def _tables(dsn: str) -> set[str]:
    with connect(dsn) as conn:
        return {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }


def test_migrations_are_numbered_in_order_from_0001() -> None:
    versions = [m.version for m in migrations()]
    # Numbers may be reserved for work in progress (0005 and 0007 while 0006 is in): a gap
    # is allowed, going back or repeating is not, and each is applied once whenever it lands.
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert migrations()[0].name.startswith("0001_")


def test_migrating_twice_applies_once_and_records_each_version(empty_db: str) -> None:
    with connect(empty_db) as conn:
        first = migrate(conn)
        second = migrate(conn)
        recorded = conn.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert first == [m.name for m in migrations()] and second == []
    assert recorded == [(m.version, m.name) for m in migrations()]
    assert {
        "store",
        "origin",
        "store_cursor",
        "event",
        "dead_letter",
        "alert",
        "sale_fact",
        "stock_ledger",
        "on_hand",
        "shift_summary",
        "z_summary",
        "schema_migrations",
    } <= _tables(empty_db)


def test_the_cli_migrates_from_the_dsn_in_the_environment(empty_db: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["cloud", "migrate"], env={"TILLBOX_CLOUD_DSN": empty_db})
    assert first.exit_code == 0, first.output
    assert "applied 0001_" in first.output
    second = runner.invoke(main, ["cloud", "migrate", "--dsn", empty_db])
    assert second.exit_code == 0, second.output
    assert "schema up to date" in second.output


def test_the_cli_says_plainly_when_postgres_cannot_be_reached() -> None:
    result = CliRunner().invoke(
        main, ["cloud", "migrate", "--dsn", "host=127.0.0.1 port=1 user=x connect_timeout=1"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: PostgreSQL:")
    assert "Traceback" not in result.output


def test_connections_have_tcp_keepalive_unless_the_dsn_says_otherwise(empty_db: str) -> None:
    with connect(empty_db) as conn:
        params = conn.info.get_parameters()
    assert params["keepalives"] == "1" and params["keepalives_idle"] == "30"
    with connect(f"{empty_db} keepalives_idle=90") as conn:
        params = conn.info.get_parameters()
    assert params["keepalives_idle"] == "90" and params["keepalives_count"] == "3"
