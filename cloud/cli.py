"""`tillbox cloud …`: the cloud's commands (migrations now; ingest workers later)."""

from __future__ import annotations

import click

dsn_option = click.option(
    "--dsn",
    envvar="TILLBOX_CLOUD_DSN",
    required=True,
    help="PostgreSQL connection string (default: $TILLBOX_CLOUD_DSN).",
)


@click.group()
def cloud() -> None:
    """The cloud: PostgreSQL schema and ingest of store events."""


@cloud.command()
@dsn_option
def migrate(dsn: str) -> None:
    """Apply the SQL migrations not applied yet (a second run changes nothing)."""
    import psycopg

    from cloud.migrate import connect
    from cloud.migrate import migrate as apply_migrations

    try:
        with connect(dsn) as conn:
            applied = apply_migrations(conn)
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    for name in applied:
        click.echo(f"applied {name}")
    click.echo("schema up to date" if not applied else f"{len(applied)} migration(s) applied")
