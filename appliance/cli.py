"""The `tillbox` command line. `tillbox appliance …` manages one store's appliance."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from appliance import __version__
from appliance.catalog.upsert import UpsertReport
from appliance.runtime import NotInitialised, Runtime, open_runtime
from appliance.settings import Settings, SettingsError, load_settings

_log = logging.getLogger(__name__)
_Command = TypeVar("_Command", bound=Callable[..., Any])

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The store's data directory (default: $TILLBOX_DATA or /var/lib/tillbox).",
)


def system_dir_option(flag: str, default: str, help_text: str) -> Callable[[_Command], _Command]:
    """A directory option with a system default that --help shows (the first-boot targets)."""
    return click.option(
        flag,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(data_dir, overrides=overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _runtime(data_dir: Path | None, settings: Settings | None = None) -> Runtime:
    from appliance.db import DatabaseError

    settings = settings or _settings(data_dir)
    try:
        return open_runtime(settings)
    except NotInitialised as exc:
        raise click.ClickException(str(exc)) from None
    except DatabaseError as exc:
        raise click.ClickException(
            f"the database {settings.database_path} cannot be read ({exc}); "
            "run `tillbox appliance doctor`"
        ) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


@click.group()
@click.version_option(__version__, prog_name="tillbox")
def main() -> None:
    """Tillbox: point of sale and inventory for a retail chain."""


class _Commands(click.Group):
    """Subcommands whose expected failures end in one plain line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from appliance.db import DatabaseError
        from appliance.errors import ApiError

        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        except DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise click.ClickException(
                    "the database is busy with another long write (an import?); try again "
                    "in a moment"
                ) from None
            raise click.ClickException(
                f"the database failed ({exc}); run `tillbox appliance doctor`"
            ) from None


@main.group(cls=_Commands)
def appliance() -> None:
    """The store appliance: one store's system of record."""


class _Bar:
    """A progress bar on stderr for large imports; silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.phase = ""
        self.started = time.monotonic()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if phase != self.phase:
            if self.phase:
                click.echo("", err=True)
            self.phase = phase
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            click.echo(f"\r{phase:>8} [{bar}] {done}/{total}", nl=False, err=True)
        else:
            click.echo(f"\r{phase:>8} {done} rows", nl=False, err=True)

    def finish(self) -> None:
        if self.enabled and self.phase:
            click.echo(f"  ({time.monotonic() - self.started:.1f} s)", err=True)


def _print_report(report: UpsertReport, *, skip_bad_rows: bool) -> None:
    for problem in report.problems:
        column = f" {problem.column}" if problem.column else ""
        click.echo(f"row {problem.row}{column}: {problem.reason}", err=True)
    if report.applied:
        click.echo(
            f"imported: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {report.skipped} bad rows skipped; "
            f"catalog version {report.version}"
        )
    else:
        # Only row problems can be skipped; a broken header, encoding or quoting stops all.
        skippable = all(p.row > 1 and p.column for p in report.problems)
        hint = (
            " (use --skip-bad-rows to import the good rows)"
            if skippable and not skip_bad_rows
            else ""
        )
        click.echo(
            f"nothing imported: {len(report.problems)} problem(s) in {report.skipped} row(s){hint}",
            err=True,
        )


@appliance.command()
@data_option
@click.option("--store", required=True, help="Store id, a short slug such as s01.")
@click.option("--name", default=None, help="The store's name on receipts.")
@click.option("--currency", default="EUR", show_default=True, help="ISO 4217 currency.")
@click.option("--demo", is_flag=True, help="Fill with the demo catalog, staff and a register.")
def init(data_dir: Path | None, store: str, name: str | None, currency: str, demo: bool) -> None:
    """Create a store in the data directory (running it again only migrates)."""
    from appliance.db import DatabaseError
    from appliance.setup import SetupError, init_store

    # The demo history flags what a real day would (negative stock, cash short): not news here.
    _setup_logging("ERROR")
    root = _settings(data_dir).data_dir
    bar = _Bar()
    try:
        result = init_store(
            root, store=store, name=name, currency=currency.upper(), demo=demo, progress=bar
        )
    except (SetupError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    except DatabaseError as exc:
        raise click.ClickException(
            f"the database in {root} cannot be read ({exc}); run `tillbox appliance doctor`"
        ) from None
    bar.finish()
    if not result.created:
        click.echo(
            f"store {store} already set up in {root}; migrations applied: {len(result.migrations)}"
        )
        return
    click.echo(f"created store {store} in {root}")
    if result.catalog is not None:
        _print_report(result.catalog, skip_bad_rows=False)
    if result.register_token:
        click.echo(f"demo register 'Demo till' device token: {result.register_token}")
    if demo:
        _echo_demo_pins()


@appliance.command()
@data_option
@click.option(
    "--from-cloud",
    "from_cloud",
    is_flag=True,
    required=True,
    help="Rebuild from the cloud (the only source there is); required, to say so.",
)
@click.option("--store", required=True, help="The store being replaced, e.g. s01.")
@click.option("--mqtt-host", default=None, help="The cloud's broker (else mqtt_host).")
@click.option("--mqtt-port", type=int, default=None, help="Its port (else mqtt_port).")
@click.option(
    "--mqtt-password-file",
    type=click.Path(path_type=Path),
    default=None,
    help="The store's broker password (else mqtt_password_file).",
)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per answer.")
def restore(
    data_dir: Path | None,
    from_cloud: bool,
    store: str,
    mqtt_host: str | None,
    mqtt_port: int | None,
    mqtt_password_file: Path | None,
    timeout: float,
) -> None:
    """Replace a dead appliance: rebuild store STORE from the cloud (staff, registers, reason
    codes, catalog, every event the cloud has, the cursors) as the store's next appliance, in
    an empty data directory or over a new, unused store of that id (set aside in backups/),
    and report what the dead one had not synced."""
    from appliance.restore import RestoreFailed, gap_report, restore_from_cloud

    _setup_logging("WARNING")
    overrides: dict[str, Any] = {
        k: v
        for k, v in (
            ("mqtt_host", mqtt_host),
            ("mqtt_port", mqtt_port),
            ("mqtt_password_file", mqtt_password_file),
        )
        if v is not None
    }
    root = _settings(data_dir).data_dir
    try:
        result = restore_from_cloud(
            root, store=store, overrides=overrides, timeout_s=timeout, progress=click.echo
        )
    except (RestoreFailed, SettingsError) as exc:
        raise click.ClickException(f"restore failed, nothing was written: {exc}") from None
    click.echo(gap_report(result))


def _echo_demo_pins() -> None:
    from appliance.demo.catalog import DEMO_STAFF

    click.echo("demo staff PINs:")
    for member in DEMO_STAFF:
        click.echo(f"  {member.role:<10} {member.name:<20} PIN {member.pin}")


@appliance.command()
@data_option
@click.option("--port", type=int, default=None, help="Port (default from settings, 8080).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; nginx fronts it).")
def serve(data_dir: Path | None, port: int | None, host: str | None) -> None:
    """Serve the appliance API and the register app."""
    from appliance.app import create_app
    from appliance.server import serve as run_server
    from appliance.setup import is_demo
    from appliance.sync.uplink import UplinkSettingsError

    # Through settings, so a bad --port gets the same plain message as a bad TILLBOX_PORT.
    settings = _settings(data_dir, port=port, host=host)
    _setup_logging(settings.log_level)
    rt = _runtime(data_dir, settings)
    app = create_app(settings, runtime=rt)

    def ready(url: str) -> None:
        # Only once the port is bound, so "port in use" never follows a start banner.
        click.echo(f"Tillbox {__version__} — store {settings.store} on {url}")
        if is_demo(rt):
            _echo_demo_pins()
        # stdout is a pipe under systemd: show the banner now, not when the buffer fills.
        sys.stdout.flush()

    try:
        run_server(app, settings, on_ready=ready)
    except UplinkSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    finally:
        rt.close()


@appliance.command()
@data_option
def migrate(data_dir: Path | None) -> None:
    """Bring the database schema up to date (backs up the file first; safe to repeat)."""
    from appliance.db import DatabaseError
    from appliance.db.migrate import MigrationFailed
    from appliance.setup import migrate_data_dir

    settings = _settings(data_dir)
    if not settings.database_path.exists():
        raise click.ClickException(
            f"{settings.database_path} does not exist: run `tillbox appliance init --store ID`"
        )
    try:
        result = migrate_data_dir(settings)
    except MigrationFailed as exc:
        raise click.ClickException(str(exc)) from None
    except DatabaseError as exc:
        raise click.ClickException(
            f"the database {settings.database_path} cannot be read ({exc}); "
            "run `tillbox appliance doctor`"
        ) from None
    if result.backup is not None:
        click.echo(f"backed up the database to {result.backup}")
    if result.applied:
        click.echo(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        click.echo("the schema is up to date")


@appliance.command("import-catalog")
@data_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows and report the bad ones.")
def import_catalog(data_dir: Path | None, file: Path, skip_bad_rows: bool) -> None:
    """Import a catalog CSV. All or nothing unless --skip-bad-rows."""
    from appliance.catalog.csvio import import_file

    rt = _runtime(data_dir)
    bar = _Bar()
    try:
        report = import_file(rt, file, skip_bad_rows=skip_bad_rows, progress=bar)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    bar.finish()
    _print_report(report, skip_bad_rows=skip_bad_rows)
    if not report.applied:
        sys.exit(1)


@appliance.command("export-catalog")
@data_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_catalog(data_dir: Path | None, file: Path) -> None:
    """Export the catalog as CSV (`-` for standard output)."""
    from appliance.catalog.csvio import export_csv

    rt = _runtime(data_dir)
    if str(file) == "-":
        count = export_csv(rt, sys.stdout)
    else:
        # Written beside the target and renamed, so a failed export never leaves half a file
        # where a spreadsheet or a later import would pick it up.
        partial = file.with_name(f".{file.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = export_csv(rt, out)
            partial.replace(file)
        finally:
            partial.unlink(missing_ok=True)
        click.echo(f"exported {count} variants to {file}")


@appliance.group()
def staff() -> None:
    """Staff members."""


@staff.command("add")
@data_option
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["cashier", "supervisor", "manager"]))
@click.option("--pin", required=True, help="4 to 6 digits, unique in the store.")
def staff_add(data_dir: Path | None, name: str, role: str, pin: str) -> None:
    """Add a staff member."""
    from appliance.errors import ApiError
    from appliance.staff.directory import add_staff
    from protocol.permissions import Role

    rt = _runtime(data_dir)
    try:
        member = add_staff(rt, name=name, role=Role.parse(role), pin=pin)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"added {member.id} {member.name} ({member.role.slug})")


@staff.command("list")
@data_option
def staff_list(data_dir: Path | None) -> None:
    """List staff members."""
    from appliance.staff.directory import list_staff

    rt = _runtime(data_dir)
    now = rt.now_ms()
    for member in list_staff(rt, include_inactive=True):
        state = "active" if member.active else "inactive"
        if member.locked_until_ms and member.locked_until_ms > now:
            state = f"locked {(member.locked_until_ms - now + 999) // 1000} s"
        click.echo(f"{member.id:<16} {member.role.slug:<10} {state:<10} {member.name}")


@staff.command("set")
@data_option
@click.argument("staff_id")
@click.option("--name", default=None)
@click.option("--role", default=None, type=click.Choice(["cashier", "supervisor", "manager"]))
@click.option("--pin", default=None, help="A new PIN (needed when bringing someone back).")
@click.option("--active/--inactive", default=None, help="Deactivating ends their sessions.")
def staff_set(
    data_dir: Path | None,
    staff_id: str,
    name: str | None,
    role: str | None,
    pin: str | None,
    active: bool | None,
) -> None:
    """Change a staff member's name, role, PIN or active flag."""
    from appliance.staff.directory import update_staff
    from protocol.permissions import Role

    rt = _runtime(data_dir)
    member = update_staff(
        rt,
        staff_id,
        name=name,
        role=Role.parse(role) if role else None,
        pin=pin,
        active=active,
    )
    state = "active" if member.active else "inactive"
    click.echo(f"{member.id} {member.name} ({member.role.slug}, {state})")


@staff.command("unlock")
@data_option
@click.argument("staff_id")
def staff_unlock(data_dir: Path | None, staff_id: str) -> None:
    """Lift a staff member's PIN lockout now."""
    from appliance.staff.directory import unlock_staff

    member = unlock_staff(_runtime(data_dir), staff_id)
    click.echo(f"unlocked {member.id} {member.name}")


@appliance.group()
def register() -> None:
    """Registers (paired tablets)."""


@register.command("add")
@data_option
@click.argument("name")
def register_add(data_dir: Path | None, name: str) -> None:
    """Create a register and print its device token (shown once)."""
    from appliance.errors import ApiError
    from appliance.staff.registers import add_register

    rt = _runtime(data_dir)
    try:
        created, token = add_register(rt, name)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"register {created.id} ({created.name})", err=True)
    click.echo(token)


@register.command("list")
@data_option
def register_list(data_dir: Path | None) -> None:
    """List registers."""
    from appliance.staff.registers import list_registers

    rt = _runtime(data_dir)
    now = rt.now_ms()
    for item in list_registers(rt):
        state = f"revoked {item.revoked_at}" if item.revoked_at else "active"
        if not item.revoked_at and item.locked_until_ms and item.locked_until_ms > now:
            state = f"locked {(item.locked_until_ms - now + 999) // 1000} s"
        click.echo(f"{item.id:<10} {state:<28} {item.name}")


@register.command("unlock")
@data_option
@click.argument("register_id")
def register_unlock(data_dir: Path | None, register_id: str) -> None:
    """Lift a register's PIN lockout now (after five wrong PINs on that tablet)."""
    from appliance.staff.registers import unlock_register

    unlock_register(_runtime(data_dir), register_id)
    click.echo(f"unlocked {register_id}")


@register.command("revoke")
@data_option
@click.argument("register_id")
def register_revoke(data_dir: Path | None, register_id: str) -> None:
    """Revoke a register's device token and end its sessions."""
    from appliance.errors import ApiError
    from appliance.staff.registers import revoke_register

    rt = _runtime(data_dir)
    try:
        revoke_register(rt, register_id)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"revoked {register_id}")


@appliance.command("verify-journal")
@data_option
def verify_journal(data_dir: Path | None) -> None:
    """Walk every origin's hash chain; report the first broken link of each (exit 1)."""
    from appliance.journal import verify

    rt = _runtime(data_dir)
    result = verify(rt.db)
    for item in result.breaks:
        where = f"{item.origin} seq {item.seq}"
        if item.event_id:
            where += f" (event {item.event_id})"
        click.echo(f"BROKEN {where}: {item.problem}", err=True)
    if result.breaks:
        click.echo(
            f"{len(result.breaks)} broken chain(s) among {result.origins} origin(s), "
            f"{result.events} events",
            err=True,
        )
        sys.exit(1)
    click.echo(f"journal intact: {result.events} events from {result.origins} origin(s)")


@appliance.command("first-boot")
@data_option
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/boot/firmware/store-setup.toml"),
    show_default=True,
    help="The first-boot file on the boot partition.",
)
@system_dir_option("--config-dir", "/etc/tillbox", "Where the broker password and CA go.")
@system_dir_option(
    "--nm-dir", "/etc/NetworkManager/system-connections", "Where the Wi-Fi profile goes."
)
@system_dir_option("--modprobe-dir", "/etc/modprobe.d", "Where the Wi-Fi country goes.")
@click.option("--owner", default=None, help="Give the data directory and secrets to this user.")
def first_boot(
    data_dir: Path | None,
    source: Path,
    config_dir: Path,
    nm_dir: Path,
    modprobe_dir: Path,
    owner: str | None,
) -> None:
    """Apply store-setup.toml (store, Wi-Fi, cloud, first manager), then rename it .applied."""
    from appliance.first_boot import FirstBootError, Targets, apply_store_setup

    _setup_logging("WARNING")
    if not source.exists():
        click.echo(f"nothing to apply: {source} does not exist")
        return
    root = _settings(data_dir).data_dir
    targets = Targets(
        data_dir=root,
        config_dir=config_dir,
        nm_dir=nm_dir,
        modprobe_dir=modprobe_dir,
        owner=owner,
    )
    try:
        done = apply_store_setup(source, targets)
    except FirstBootError as exc:
        for problem in exc.problems:
            click.echo(f"{exc.path}: {problem}", err=True)
        raise click.ClickException(
            f"nothing applied: fix {exc.path} ({len(exc.problems)} problem(s)) and run again"
        ) from None
    verb = "created" if done.created else "updated"
    click.echo(f"{verb} store {done.store} in {root}")
    for path in done.written:
        click.echo(f"wrote {path}")
    click.echo(f"renamed {source} to {done.applied_file.name} (secrets removed)")


@appliance.command()
@data_option
@click.option("--code", default=None, help="A new enrolment code from IT (after a refusal).")
def enrol(data_dir: Path | None, code: str | None) -> None:
    """Trade the one-time enrolment code for the broker password at the cloud (once)."""
    from appliance import enrolment

    settings = _settings(data_dir)
    _setup_logging("WARNING")
    if not settings.mqtt_host:
        raise click.ClickException("no cloud configured (mqtt_host): nothing to enrol with")
    if code is not None:
        try:
            click.echo(f"wrote the new code to {enrolment.set_code(settings, code)}")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        settings = _settings(data_dir)
    if not enrolment.pending(settings):
        click.echo("already enrolled: the broker password is in place (or there is no code)")
        return
    outcome = enrolment.exchange(settings)
    if outcome.state != "enrolled":
        raise click.ClickException(
            f"{outcome.message}"
            + (" (nothing changed; serve retries by itself)" if outcome.state == "retry" else "")
        )
    click.echo(f"{outcome.message}; password written to {settings.mqtt_password_file}")


@appliance.command()
@data_option
def doctor(data_dir: Path | None) -> None:
    """Check the database, the disk and the settings, and say what is wrong."""
    from appliance.doctor import diagnose

    findings = diagnose(data_dir)
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    for finding in findings:
        click.echo(f"{marks[finding.level]} {finding.topic:<10} {finding.message}")
    failures = sum(f.level == "fail" for f in findings)
    if failures:
        click.echo(f"{failures} problem(s) need attention", err=True)
        sys.exit(1)
    click.echo("all checks passed")


@appliance.group()
def printer() -> None:
    """Receipt printers: add, bind to registers, test, list, remove."""


@printer.command("add")
@data_option
@click.argument("name")
@click.option("--network", "network", metavar="HOST[:PORT]", help="A network printer (port 9100).")
@click.option("--usb", "usb", metavar="VENDOR:PRODUCT", help="A USB printer, by its ids (lsusb).")
@click.option("--serial", "serial", metavar="DEVICE", help="A serial printer, e.g. /dev/ttyUSB0.")
@click.option("--file", "file", metavar="DEVICE", help="A device file, e.g. /dev/usb/lp0.")
@click.option("--demo", "demo", metavar="FOLDER", help="No printer: PNG and text files in FOLDER.")
@click.option("--profile", default="default", show_default=True, help="python-escpos profile.")
@click.option("--width", type=int, default=48, show_default=True, help="Characters per line.")
@click.option("--drawer-pin", type=click.Choice(["2", "5"]), default="2", show_default=True)
@click.option("--pulse-on", type=int, default=100, show_default=True, help="Drawer pulse, ms.")
@click.option("--pulse-off", type=int, default=100, show_default=True, help="Pause after it, ms.")
@click.option("--bind", "bind", multiple=True, metavar="REGISTER", help="Bind to a register.")
def printer_add(
    data_dir: Path | None,
    name: str,
    network: str | None,
    usb: str | None,
    serial: str | None,
    file: str | None,
    demo: str | None,
    profile: str,
    width: int,
    drawer_pin: str,
    pulse_on: int,
    pulse_off: int,
    bind: tuple[str, ...],
) -> None:
    """Add a receipt printer (exactly one connection option) and print its id."""
    from appliance.devices.printers import add_printer, bind_printer
    from appliance.errors import ApiError

    given = {
        k: v
        for k, v in {
            "network": network,
            "usb": usb,
            "serial": serial,
            "file": file,
            "demo": demo,
        }.items()
        if v
    }
    if len(given) != 1:
        raise click.UsageError("give exactly one of --network, --usb, --serial, --file, --demo")
    ((connection, address),) = given.items()
    rt = _runtime(data_dir)
    try:
        printer_id = add_printer(
            rt,
            name=name,
            connection=connection,
            address=address,
            profile=profile,
            width=width,
            drawer_pin=int(drawer_pin),
            drawer_on_ms=pulse_on,
            drawer_off_ms=pulse_off,
        )
        for register_id in bind:
            bind_printer(rt, register_id, printer_id)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(printer_id)


@printer.command("bind")
@data_option
@click.argument("register_id")
@click.argument("printer_key", metavar="PRINTER")
def printer_bind(data_dir: Path | None, register_id: str, printer_key: str) -> None:
    """Print REGISTER_ID's receipts (and open its drawer) on PRINTER (name or id)."""
    from appliance.devices.printers import bind_printer
    from appliance.errors import ApiError

    try:
        bind_printer(_runtime(data_dir), register_id, printer_key)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{register_id} prints on {printer_key}")


@printer.command("list")
@data_option
def printer_list(data_dir: Path | None) -> None:
    """List printers, their registers and their last status."""
    from appliance.devices.printers import list_printers

    for row in list_printers(_runtime(data_dir)):
        status = "status unknown"
        if row.status is not None:
            flags = [k for k in ("paper_out", "paper_low", "cover_open") if row.status.get(k)]
            status = ("online" if row.status.get("online") else "offline") + (
                f" ({', '.join(flags)})" if flags else ""
            )
        registers = ", ".join(row.registers) or "no register"
        click.echo(
            f"{row.id:<4} {row.name:<16} {row.connection} {row.address}  {status}  [{registers}]"
        )


@printer.command("test")
@data_option
@click.argument("printer_key", metavar="PRINTER")
def printer_test(data_dir: Path | None, printer_key: str) -> None:
    """Print the test page now (not through the queue) and show the printer's status."""
    from appliance.devices.print_queue import default_factory
    from appliance.devices.printer import PrinterError
    from appliance.devices.printers import find_printer
    from appliance.errors import ApiError
    from appliance.receipts.layouts import printer_test_page

    rt = _runtime(data_dir)
    try:
        row = find_printer(rt, printer_key)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    device = default_factory(rt)(row)
    try:
        device.print_document(printer_test_page(rt))
        status = device.status()
    except PrinterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"printed; status: {status.as_dict()}")


@printer.command("remove")
@data_option
@click.argument("printer_key", metavar="PRINTER")
def printer_remove(data_dir: Path | None, printer_key: str) -> None:
    """Take a printer out of use (its bindings go, its queued jobs are cancelled)."""
    from appliance.devices.printers import remove_printer
    from appliance.errors import ApiError

    try:
        remove_printer(_runtime(data_dir), printer_key)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"removed {printer_key}")


@appliance.group()
def scanner() -> None:
    """Barcode scanners attached to the appliance: list, bind to a register, layout, unbind."""


@scanner.command("list")
@data_option
def scanner_list(data_dir: Path | None) -> None:
    """List the scanners the appliance has seen, their register, layout and state."""
    from appliance.devices.scanners import list_scanners

    for row in list_scanners(_runtime(data_dir)):
        state = "connected" if row.present else "not connected"
        kind = "bluetooth" if row.bluetooth else "usb"
        framing = "".join(
            f" {label}={value!r}"
            for label, value in (("prefix", row.prefix), ("suffix", row.suffix))
            if value
        )
        click.echo(
            f"{row.id:<4} {row.name:<24} {row.register or 'unbound':<10} {row.layout}"
            f"{framing}  {kind} {state}  {row.stable_id}"
        )


@scanner.command("bind")
@data_option
@click.argument("scanner_key", metavar="SCANNER")
@click.argument("register_id")
def scanner_bind(data_dir: Path | None, scanner_key: str, register_id: str) -> None:
    """Send SCANNER's scans (id, name or stable id) to REGISTER_ID only."""
    from appliance.devices.scanners import bind_scanner

    row = bind_scanner(_runtime(data_dir), scanner_key, register_id)
    click.echo(f"scanner {row.id} ({row.name}) scans for {register_id}")


@scanner.command("unbind")
@data_option
@click.argument("scanner_key", metavar="SCANNER")
def scanner_unbind(data_dir: Path | None, scanner_key: str) -> None:
    """Send SCANNER's scans nowhere (they are dropped and logged)."""
    from appliance.devices.scanners import unbind_scanner

    row = unbind_scanner(_runtime(data_dir), scanner_key)
    click.echo(f"scanner {row.id} ({row.name}) unbound")


@scanner.command("layout")
@data_option
@click.argument("scanner_key", metavar="SCANNER")
@click.argument("layout", type=click.Choice(["us", "uk", "de", "fr"]))
@click.option("--prefix", default=None, help="What the scanner sends before each code.")
@click.option("--suffix", default=None, help=r"What it sends after each code (\t for Tab).")
def scanner_layout(
    data_dir: Path | None, scanner_key: str, layout: str, prefix: str | None, suffix: str | None
) -> None:
    """Read SCANNER's keys with LAYOUT (the keyboard layout the scanner is set up for)."""
    from appliance.devices.scanners import configure_scanner

    def unescape(value: str | None) -> str | None:
        return None if value is None else value.replace("\\t", "\t")

    row = configure_scanner(
        _runtime(data_dir),
        scanner_key,
        layout=layout,
        prefix=unescape(prefix),
        suffix=unescape(suffix),
    )
    click.echo(f"scanner {row.id} ({row.name}): layout {row.layout}")


@scanner.command("pair")
@data_option
@click.argument("address")
@click.option("--scan-seconds", type=int, default=20, show_default=True)
def scanner_pair(data_dir: Path | None, address: str, scan_seconds: int) -> None:
    """Pair a Bluetooth scanner (in its pairing mode) by its ADDRESS, through bluetoothctl."""
    from appliance.devices.scanners import pair_bluetooth

    _settings(data_dir)  # the same settings check as every command, before touching BlueZ

    for line in pair_bluetooth(address, scan_s=scan_seconds):
        click.echo(line)
    click.echo(f"paired {address.upper()}: bind it once it shows in `scanner list`")


def _add_cloud() -> None:
    # One `tillbox` console script for both sides; the cloud's commands live in cloud/.
    from cloud.cli import cloud

    main.add_command(cloud)


_add_cloud()
