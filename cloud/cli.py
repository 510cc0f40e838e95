"""`tillbox cloud …`: the cloud's commands: migrations, ingest workers, the catalog, and
stores and services with their broker credentials."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from cloud.hq.accounts import Passwords
    from cloud.stores import Credentials

dsn_option = click.option(
    "--dsn",
    envvar="TILLBOX_CLOUD_DSN",
    required=True,
    help="PostgreSQL connection string (default: $TILLBOX_CLOUD_DSN).",
)


def _share_group(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # A shared subscription's group name is one topic level with no wildcards.
    if not value or any(c in value for c in "/+#") or value != value.strip():
        raise click.BadParameter(f"{value!r} cannot name a shared subscription group")
    return value


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


@cloud.command()
@dsn_option
@click.option(
    "--mqtt-host", envvar="TILLBOX_CLOUD_MQTT_HOST", default="127.0.0.1", show_default=True
)
@click.option(
    "--mqtt-port", envvar="TILLBOX_CLOUD_MQTT_PORT", type=int, default=1883, show_default=True
)
@click.option("--mqtt-username", envvar="TILLBOX_CLOUD_MQTT_USERNAME", default=None)
@click.option(
    "--mqtt-password-file",
    envvar="TILLBOX_CLOUD_MQTT_PASSWORD_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the broker password (never on the command line).",
)
@click.option("--mqtt-tls/--no-mqtt-tls", envvar="TILLBOX_CLOUD_MQTT_TLS", default=False)
@click.option(
    "--mqtt-tls-ca",
    envvar="TILLBOX_CLOUD_MQTT_TLS_CA",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CA certificate of a private broker CA (default: the system's).",
)
@click.option(
    "--threads",
    envvar="TILLBOX_CLOUD_INGEST_THREADS",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Batches applied at once, each on its own PostgreSQL connection.",
)
@click.option("--name", default=None, help="This worker's name in logs and its client id.")
@click.option(
    "--group",
    envvar="TILLBOX_CLOUD_INGEST_GROUP",
    default="ingest",
    show_default=True,
    callback=_share_group,
    help="The shared subscription's group: the same for every worker, and known to no store"
    " (decisions.md §38).",
)
def ingest(
    dsn: str,
    mqtt_host: str,
    mqtt_port: int,
    mqtt_username: str | None,
    mqtt_password_file: Path | None,
    mqtt_tls: bool,
    mqtt_tls_ca: Path | None,
    threads: int,
    name: str | None,
    group: str,
) -> None:
    """Run an ingest worker on the shared subscription until SIGTERM or Ctrl-C.

    Start as many as the load needs, on any machines: the broker splits the stores' batches
    between them, and each batch is applied exactly once whichever worker takes it.
    """
    import logging
    import signal

    from cloud.worker import BrokerSettings, IngestWorker, WorkerSettingsError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    broker = BrokerSettings(
        host=mqtt_host,
        port=mqtt_port,
        username=mqtt_username,
        password_file=mqtt_password_file,
        tls=mqtt_tls,
        tls_ca=mqtt_tls_ca,
    )
    try:
        worker = IngestWorker(dsn, broker, name=name, threads=threads, group=group)
    except WorkerSettingsError as exc:
        raise click.ClickException(str(exc)) from None

    def stop(signum: int, frame: object) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run_forever()


_file = click.Path(dir_okay=False, path_type=Path)


@cloud.command()
@dsn_option
@click.option(
    "--smtp-host", envvar="TILLBOX_CLOUD_SMTP_HOST", default="", help="Email: the server."
)
@click.option(
    "--smtp-port", envvar="TILLBOX_CLOUD_SMTP_PORT", type=int, default=587, show_default=True
)
@click.option(
    "--smtp-starttls/--no-smtp-starttls",
    envvar="TILLBOX_CLOUD_SMTP_STARTTLS",
    default=True,
    show_default=True,
)
@click.option(
    "--smtp-tls-ca",
    envvar="TILLBOX_CLOUD_SMTP_TLS_CA",
    type=_file,
    default=None,
    help="CA certificate of a private SMTP server's CA (default: the system's).",
)
@click.option("--smtp-username", envvar="TILLBOX_CLOUD_SMTP_USERNAME", default="")
@click.option(
    "--smtp-password-file",
    envvar="TILLBOX_CLOUD_SMTP_PASSWORD_FILE",
    type=_file,
    default=None,
    help="A file holding the SMTP password (never on the command line).",
)
@click.option(
    "--smtp-from",
    envvar="TILLBOX_CLOUD_SMTP_FROM",
    default="",
    help="The address receipts are sent from.",
)
@click.option(
    "--sms-gateway-url",
    envvar="TILLBOX_CLOUD_SMS_GATEWAY_URL",
    default="",
    help="SMS: a Twilio-style gateway's base URL (https://api.twilio.com/2010-04-01).",
)
@click.option("--sms-account", envvar="TILLBOX_CLOUD_SMS_ACCOUNT", default="")
@click.option(
    "--sms-token-file",
    envvar="TILLBOX_CLOUD_SMS_TOKEN_FILE",
    type=_file,
    default=None,
    help="A file holding the gateway's auth token.",
)
@click.option("--sms-from", envvar="TILLBOX_CLOUD_SMS_FROM", default="")
@click.option(
    "--receipt-link-base",
    envvar="TILLBOX_CLOUD_RECEIPT_LINK_BASE",
    default="",
    help="Where a receipt can be seen online: an SMS carries {base}/{receipt number}.",
)
@click.option("--name", default="receipts", help="This worker's name in logs.")
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the queue when it has nothing due.",
)
def receipts(
    dsn: str,
    smtp_host: str,
    smtp_port: int,
    smtp_starttls: bool,
    smtp_tls_ca: Path | None,
    smtp_username: str,
    smtp_password_file: Path | None,
    smtp_from: str,
    sms_gateway_url: str,
    sms_account: str,
    sms_token_file: Path | None,
    sms_from: str,
    receipt_link_base: str,
    name: str,
    poll: float,
) -> None:
    """Send the emailed and texted receipts the stores handed to the cloud, until SIGTERM.

    Start as many as you like, on any machines: each message is claimed by one worker at a
    time. Failures that may pass are retried from 30 s, doubling to an hour, for two days; a
    refused address fails at once (decisions.md §48).
    """
    import logging
    import signal

    from appliance.receipts.sending import SmsConfig, SmtpConfig, SmtpMailer, TwilioSms
    from cloud.receipts import ReceiptWorker

    if not smtp_host and not sms_gateway_url:
        raise click.UsageError("give --smtp-host, --sms-gateway-url or both: nothing to send with")
    if smtp_host and "@" not in smtp_from:
        raise click.BadParameter("the address receipts are sent from", param_hint="--smtp-from")
    if not 1 <= smtp_port <= 65535:
        raise click.BadParameter(f"{smtp_port} is not a port", param_hint="--smtp-port")
    if sms_gateway_url and not sms_gateway_url.startswith(("https://", "http://")):
        raise click.BadParameter("an http(s) URL", param_hint="--sms-gateway-url")
    if sms_gateway_url and not (sms_account and sms_from):
        raise click.UsageError("an SMS gateway needs --sms-account and --sms-from")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    mailer = (
        SmtpMailer(
            SmtpConfig(
                host=smtp_host,
                port=smtp_port,
                starttls=smtp_starttls,
                tls_ca=smtp_tls_ca,
                username=smtp_username,
                password_file=smtp_password_file,
                sender=smtp_from,
            )
        )
        if smtp_host
        else None
    )
    sms = (
        TwilioSms(
            SmsConfig(
                gateway_url=sms_gateway_url,
                account=sms_account,
                token_file=sms_token_file,
                sender=sms_from,
            )
        )
        if sms_gateway_url
        else None
    )
    worker = ReceiptWorker(
        dsn, mailer=mailer, sms=sms, link_base=receipt_link_base, name=name, poll_s=poll
    )

    def stop(signum: int, frame: object) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run_forever()


@cloud.command()
@click.option(
    "--dsn",
    envvar="TILLBOX_CLOUD_DSN",
    default="host=127.0.0.1 port=5432 user=postgres dbname=tillbox_demo",
    show_default=True,
    help="The cloud database (created if missing).",
)
@click.option("--mqtt-host", default="127.0.0.1", show_default=True)
@click.option("--mqtt-port", type=int, default=1883, show_default=True)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/cloud-demo"),
    show_default=True,
    help="Where the demo stores live (kept between runs).",
)
@click.option("--port", type=int, default=8081, show_default=True, help="First store's HTTP port.")
@click.option("--sale-every", type=click.FloatRange(0.05), default=2.0, show_default=True)
@click.option("--seconds", type=click.FloatRange(1), default=None, help="Stop after this long.")
@click.option(
    "--hq-port",
    type=click.IntRange(1, 65535),
    default=8090,
    show_default=True,
    help="HQ's web pages on 127.0.0.1.",
)
def demo(
    dsn: str,
    mqtt_host: str,
    mqtt_port: int,
    data_dir: Path,
    port: int,
    sale_every: float,
    seconds: float | None,
    hq_port: int,
) -> None:
    """The cloud plus two demo stores on this machine, with events flowing.

    Creates and migrates the database, runs an ingest worker, starts two store appliances
    (d01 on --port, d02 on the next) whose two weeks of demo history drain to the cloud, and
    rings up a sale on each every few seconds; serves HQ's pages on --hq-port with a demo HQ
    admin (a new password each run, printed) and runs a receipts worker that writes receipts
    into DATA/receipts-outbox/; prints what each store holds against what the cloud has
    applied until Ctrl-C.
    """
    import logging

    from cloud.demo import DemoError, DemoOptions, run_demo
    from cloud.worker import BrokerSettings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = DemoOptions(
        dsn=dsn,
        broker=BrokerSettings(host=mqtt_host, port=mqtt_port),
        data=data_dir,
        base_port=port,
        sale_every_s=sale_every,
        seconds=seconds,
        hq_port=hq_port,
    )
    try:
        run_demo(options, echo=click.echo)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


# ---- stores and broker users ---------------------------------------------------------------

password_file_option = click.option(
    "--password-file",
    envvar="TILLBOX_CLOUD_MQTT_PASSWD",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The broker's password_file (e.g. /etc/mosquitto/tillbox.passwd); created if missing.",
)
secrets_dir_option = click.option(
    "--secrets-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the plain password goes, as USER.mqtt-password (mode 0600). Never commit it.",
)
print_password_option = click.option(
    "--print-password",
    is_flag=True,
    help="Also print the new password on stdout (it is never printed otherwise).",
)
reload_pid_option = click.option(
    "--reload-pid",
    type=click.IntRange(min=1),
    default=None,
    help="Send SIGHUP to this Mosquitto process so the new password counts at once.",
)


def _store_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from cloud.stores import is_store_id

    if not is_store_id(value):
        raise click.BadParameter(
            f"{value!r} is not a store id: a lowercase letter, then 1 to 15 lowercase letters"
            " or digits (e.g. s01), as the appliance's `init --store` takes"
        )
    return value


def _store_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= 100:
        raise click.BadParameter("a store name has 1 to 100 characters")
    return value


def _issue(username: str, password_file: Path, secrets_dir: Path) -> Credentials:
    from cloud.stores import BrokerCredentialsError, issue_credentials

    try:
        return issue_credentials(username, password_file=password_file, secrets_dir=secrets_dir)
    except BrokerCredentialsError as exc:
        raise click.ClickException(str(exc)) from None


def _report(credentials: Credentials, print_password: bool, reload_pid: int | None) -> None:
    from cloud.stores import reload_broker

    user = credentials.username
    if credentials.rotated:
        click.echo(
            f"rotated {user}'s broker password: the old one stops working when the broker reloads"
        )
    else:
        click.echo(f"created broker user {user}")
    click.echo(f"password written to {credentials.secret_file} (mode 0600)")
    if print_password:
        click.echo(credentials.password)
    if reload_pid is None:
        click.echo(
            "Mosquitto reads its password file only at start and on SIGHUP: run"
            " `systemctl reload mosquitto` (or pass --reload-pid)"
        )
        return
    try:
        reload_broker(reload_pid)
    except OSError as exc:
        raise click.ClickException(
            f"the password is written, but the broker was not reloaded: pid {reload_pid}:"
            f" {exc.strerror}"
        ) from None
    click.echo(f"sent SIGHUP to the broker (pid {reload_pid}): the new password counts now")


@cloud.group()
def store() -> None:
    """The stores the cloud knows, and their broker credentials."""


@store.command("add")
@dsn_option
@click.argument("store_id", metavar="STORE", callback=_store_id)
@click.option("--name", callback=_store_name, default=None, help='e.g. "Main Street".')
@password_file_option
@secrets_dir_option
@print_password_option
@reload_pid_option
def store_add(
    dsn: str,
    store_id: str,
    name: str | None,
    password_file: Path,
    secrets_dir: Path,
    print_password: bool,
    reload_pid: int | None,
) -> None:
    """Register STORE and give it a new broker password (again: rotate it).

    The broker user is the store id (the appliance's default mqtt_username); the plain
    password goes to SECRETS_DIR/STORE.mqtt-password for the appliance's mqtt_password_file.
    """
    import psycopg

    from cloud.migrate import connect
    from cloud.stores import record_password_set, register_store

    try:
        with connect(dsn) as conn:
            new = register_store(conn, store_id, name)
            label = f"{store_id} ({name})" if name else store_id
            click.echo(
                f"registered store {label}" if new else f"store {label} was already registered"
            )
            credentials = _issue(store_id, password_file, secrets_dir)
            record_password_set(conn, store_id)
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    _report(credentials, print_password, reload_pid)
    click.echo(
        f"on the appliance: mqtt_password_file = the copied {store_id}.mqtt-password, readable"
        " by the store user only"
    )


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    match = re.fullmatch(r"([1-9][0-9]{0,4})([mhd])", value.strip())
    if match is None:
        raise click.BadParameter("a number and m, h or d, e.g. 72h or 7d")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


@store.command("enrol-code")
@dsn_option
@click.argument("store_id", metavar="STORE", callback=_store_id)
@click.option(
    "--valid-for",
    default="72h",
    show_default=True,
    callback=_duration,
    help="How long the code can be used: 5m to 30d, e.g. 72h or 7d.",
)
def store_enrol_code(dsn: str, store_id: str, valid_for: timedelta) -> None:
    """Issue a one-time enrolment code for STORE's new appliance (store-setup.toml's
    [cloud] enrolment_code); the store's unused earlier code stops working.

    The appliance trades it once at HQ's POST /hq/enrol for a new broker password
    (decisions.md §53). Only a hash is kept: the code is shown here, once.
    """
    import getpass

    import psycopg

    from cloud import enrolment
    from cloud.migrate import connect
    from webui.errors import ApiError

    try:
        with connect(dsn) as conn:
            issued = enrolment.issue_code(
                conn, store_id, issued_by=f"cli:{getpass.getuser()}", valid_for=valid_for
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    if issued.revoked:
        click.echo(f"the earlier unused code for {store_id} no longer works")
    click.echo(f"enrolment code for {store_id}, valid until {issued.expires_at:%Y-%m-%d %H:%M %Z}:")
    click.echo(issued.code)


@cloud.command("broker-user")
@click.argument("role", type=click.Choice(["ingest", "catalog"]))
@password_file_option
@secrets_dir_option
@print_password_option
@reload_pid_option
def broker_user(
    role: str,
    password_file: Path,
    secrets_dir: Path,
    print_password: bool,
    reload_pid: int | None,
) -> None:
    """Give a cloud service its broker user and a new password (again: rotate it).

    ROLE ingest is user cloud-ingest (`tillbox cloud ingest --mqtt-username cloud-ingest
    --mqtt-password-file SECRETS_DIR/cloud-ingest.mqtt-password`); catalog is cloud-catalog
    (`tillbox cloud catalog serve`). Both connect on the broker's loopback listener.
    """
    from cloud.stores import SERVICE_ROLES

    _report(_issue(SERVICE_ROLES[role], password_file, secrets_dir), print_password, reload_pid)


# ---- the catalog master ----------------------------------------------------------------------


@cloud.group()
def catalog() -> None:
    """The catalog master that every store applies: import it, and serve it to the stores."""


@catalog.command("import")
@dsn_option
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows of a file with bad ones.")
@click.option(
    "--currency",
    envvar="TILLBOX_CLOUD_CURRENCY",
    default="EUR",
    show_default=True,
    help="The chain's currency: what the cost and price columns are in.",
)
def catalog_import(dsn: str, csv_file: Path, skip_bad_rows: bool, currency: str) -> None:
    """Import a catalog CSV (the stores' format) into the master, all or nothing.

    Each problem is listed with its row, column and reason; with any, nothing is imported
    unless --skip-bad-rows. Stores pick up what changed as soon as they hear the new head.
    """
    import psycopg

    from cloud.catalog import import_csv
    from cloud.migrate import connect

    def progress(phase: str, done: int, total: int) -> None:
        # A large file shows it is moving (ARCHITECTURE.md, "Catalog CSV"), on stderr.
        if phase == "reading":
            click.echo(f"read {done} rows", err=True)
        elif phase == "writing" and total:
            click.echo(f"writing {done}/{total}", err=True)

    try:
        with connect(dsn) as conn:
            report = import_csv(
                conn,
                csv_file.read_bytes(),
                currency=currency,
                skip_bad_rows=skip_bad_rows,
                progress=progress,
            )
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    for problem in report.problems:
        column = f", {problem.column}" if problem.column else ""
        click.echo(f"row {problem.row}{column}: {problem.reason}", err=True)
    if not report.applied:
        raise click.ClickException(
            f"nothing imported: {len(report.problems)} problem(s) in {report.skipped} row(s)"
        )
    click.echo(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged},"
        f" skipped {report.skipped}; catalog version {report.version}"
    )


@catalog.command("price")
@dsn_option
@click.argument("store", callback=_store_id)
@click.argument("sku")
@click.argument("price", required=False)
@click.option("--clear", is_flag=True, help="Take the store back to the chain's price.")
@click.option(
    "--currency",
    envvar="TILLBOX_CLOUD_CURRENCY",
    default="EUR",
    show_default=True,
    help="The chain's currency: what PRICE is in.",
)
def catalog_price(
    dsn: str, store: str, sku: str, price: str | None, clear: bool, currency: str
) -> None:
    """Give STORE its own PRICE for SKU (e.g. 7.99), or --clear it; the store hears of it
    like any other catalog change."""
    import psycopg

    from cloud.catalog import CatalogError, set_store_price
    from cloud.migrate import connect
    from protocol.money import Money

    if clear == (price is not None):
        raise click.UsageError("give a PRICE or --clear, not both or neither")
    amount: int | None = None
    if price is not None:
        try:
            amount = Money.parse(price, currency).amount
        except ValueError as exc:
            raise click.BadParameter(f"{price!r} is not an amount in {currency}: {exc}") from None
    try:
        with connect(dsn) as conn:
            version = set_store_price(conn, store, sku, amount)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    what = "the chain's price" if amount is None else f"its own price {price} {currency}"
    click.echo(f"{store} now sells {sku} at {what}; catalog version {version}")


@cloud.group()
def balance() -> None:
    """Gift cards and store credit, spendable in any store (decisions.md §46)."""


@balance.command("issue")
@dsn_option
@click.argument("kind", type=click.Choice(["gift_card", "store_credit"]))
@click.argument("reference")
@click.argument("amount")
@click.option(
    "--currency",
    envvar="TILLBOX_CLOUD_CURRENCY",
    default="EUR",
    show_default=True,
    help="The chain's currency: what AMOUNT is in.",
)
def balance_issue(dsn: str, kind: str, reference: str, amount: str, currency: str) -> None:
    """Issue (or load) the gift card or store credit account REFERENCE with AMOUNT (e.g. 25.00)."""
    import msgspec
    import psycopg

    from cloud.balances import issue
    from cloud.migrate import connect
    from protocol.bodies import Reference
    from protocol.money import Money

    try:
        msgspec.convert(reference, Reference)
    except msgspec.ValidationError:
        raise click.BadParameter(f"{reference!r} is not a card number or account") from None
    try:
        minor = Money.parse(amount, currency).amount
    except ValueError as exc:
        raise click.BadParameter(f"{amount!r} is not an amount in {currency}: {exc}") from None
    if minor <= 0:
        raise click.BadParameter(f"{amount!r}: the amount must be above zero")
    try:
        with connect(dsn) as conn:
            after = issue(conn, kind, reference, minor, currency)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    click.echo(
        f"{kind} {reference}: balance {Money(after, currency).to_decimal_string()} {currency}"
    )


@catalog.command("serve")
@dsn_option
@click.option(
    "--mqtt-host", envvar="TILLBOX_CLOUD_MQTT_HOST", default="127.0.0.1", show_default=True
)
@click.option(
    "--mqtt-port", envvar="TILLBOX_CLOUD_MQTT_PORT", type=int, default=1883, show_default=True
)
@click.option("--mqtt-username", envvar="TILLBOX_CLOUD_MQTT_USERNAME", default=None)
@click.option(
    "--mqtt-password-file",
    envvar="TILLBOX_CLOUD_MQTT_PASSWORD_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
)
@click.option("--mqtt-tls/--no-mqtt-tls", envvar="TILLBOX_CLOUD_MQTT_TLS", default=False)
@click.option(
    "--mqtt-tls-ca",
    envvar="TILLBOX_CLOUD_MQTT_TLS_CA",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
)
@click.option("--name", default=None, help="This responder's name in logs and its client id.")
@click.option(
    "--group",
    envvar="TILLBOX_CLOUD_CATALOG_GROUP",
    default="catalog",
    show_default=True,
    callback=_share_group,
    help="The shared subscription's group: the same for every responder, and known to no"
    " store (decisions.md §38).",
)
def catalog_serve(
    dsn: str,
    mqtt_host: str,
    mqtt_port: int,
    mqtt_username: str | None,
    mqtt_password_file: Path | None,
    mqtt_tls: bool,
    mqtt_tls_ca: Path | None,
    name: str | None,
    group: str,
) -> None:
    """Serve the catalog to the stores until SIGTERM or Ctrl-C: the retained head, and
    "changes since N" on the shared subscription (run one or more, like ingest workers);
    also the stores' directory uploads and restore requests."""
    import logging
    import signal

    from cloud.store_rpc import StoreResponder
    from cloud.worker import BrokerSettings, WorkerSettingsError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    broker = BrokerSettings(
        host=mqtt_host,
        port=mqtt_port,
        username=mqtt_username,
        password_file=mqtt_password_file,
        tls=mqtt_tls,
        tls_ca=mqtt_tls_ca,
    )
    try:
        # The catalog, and the stores' directory uploads and restores (decisions.md §42).
        responder = StoreResponder(dsn, broker, name=name, group=group)
    except WorkerSettingsError as exc:
        raise click.ClickException(str(exc)) from None

    def stop(signum: int, frame: object) -> None:
        responder.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    responder.run_forever()


def _store_ids(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    return [_store_id(ctx, param, store) for store in value]


@cloud.group()
def reorder() -> None:
    """Reorder suggestions and the terms they use (docs/hq.md)."""


@reorder.command("report")
@dsn_option
@click.option(
    "--store",
    "stores",
    multiple=True,
    callback=_store_ids,
    help="Only this store (repeat for more); all by default.",
)
@click.option("--category", default=None, help="Only this category (by name).")
@click.option("--vendor", default=None, help="Only this vendor (by name).")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The day to plan for (UTC); today by default.",
)
@click.option("--transfers", is_flag=True, help="List the transfers to make instead of the orders.")
@click.option(
    "--currency",
    envvar="TILLBOX_CLOUD_CURRENCY",
    default="EUR",
    show_default=True,
    help="The chain's currency.",
)
def reorder_report(
    dsn: str,
    stores: list[str],
    category: str | None,
    vendor: str | None,
    as_of: datetime | None,
    transfers: bool,
    currency: str,
) -> None:
    """Write reorder suggestions (or --transfers) for a scope as CSV to standard output."""
    import sys

    import psycopg

    from cloud import reorder as engine
    from cloud.migrate import connect

    day = as_of.date() if as_of else datetime.now(UTC).date()
    scope = engine.Scope(stores=stores or None, category=category, vendor=vendor)
    try:
        with connect(dsn) as conn:
            result = engine.suggest(conn, day, scope)
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    engine.write_csv(result, sys.stdout, currency, transfers=transfers)


@reorder.command("terms")
@dsn_option
@click.argument("vendor")
@click.option(
    "--lead-time-days",
    type=click.IntRange(0, 365),
    default=None,
    help="Days from order to delivery; unset: 7.",
)
@click.option(
    "--review-days",
    type=click.IntRange(1, 91),
    default=None,
    help="Days between orders to this vendor; unset: 7.",
)
def reorder_terms(
    dsn: str, vendor: str, lead_time_days: int | None, review_days: int | None
) -> None:
    """Set VENDOR's lead time and review period (an option left out is cleared)."""
    import psycopg

    from cloud import reorder as engine
    from cloud.migrate import connect

    try:
        with connect(dsn) as conn:
            engine.set_vendor_terms(
                conn, vendor, lead_time_days=lead_time_days, review_days=review_days
            )
    except engine.TermsError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    lead = (
        lead_time_days
        if lead_time_days is not None
        else f"{engine.DEFAULT_LEAD_TIME_DAYS} (default)"
    )
    review = review_days if review_days is not None else f"{engine.DEFAULT_REVIEW_DAYS} (default)"
    click.echo(f"{vendor}: lead time {lead} days, ordered every {review} days")


@reorder.command("min-order")
@dsn_option
@click.argument("sku")
@click.argument("qty", type=click.IntRange(0))
def reorder_min_order(dsn: str, sku: str, qty: int) -> None:
    """Set SKU's minimum order quantity in units (0: none beyond its pack size)."""
    import psycopg

    from cloud import reorder as engine
    from cloud.migrate import connect

    try:
        with connect(dsn) as conn:
            engine.set_min_order(conn, sku, qty)
    except engine.TermsError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    click.echo(f"{sku}: minimum order {qty}")


@cloud.command()
@dsn_option
@click.option("--dry-run", is_flag=True, help="Print each digest instead of sending it.")
@click.option(
    "--smtp-host", envvar="TILLBOX_CLOUD_SMTP_HOST", default="", help="Email: the server."
)
@click.option(
    "--smtp-port", envvar="TILLBOX_CLOUD_SMTP_PORT", type=int, default=587, show_default=True
)
@click.option(
    "--smtp-starttls/--no-smtp-starttls",
    envvar="TILLBOX_CLOUD_SMTP_STARTTLS",
    default=True,
    show_default=True,
)
@click.option("--smtp-tls-ca", envvar="TILLBOX_CLOUD_SMTP_TLS_CA", type=_file, default=None)
@click.option("--smtp-username", envvar="TILLBOX_CLOUD_SMTP_USERNAME", default="")
@click.option(
    "--smtp-password-file", envvar="TILLBOX_CLOUD_SMTP_PASSWORD_FILE", type=_file, default=None
)
@click.option(
    "--smtp-from", envvar="TILLBOX_CLOUD_SMTP_FROM", default="", help="The address it is from."
)
@click.option(
    "--hq-url",
    envvar="TILLBOX_HQ_PUBLIC_URL",
    default="",
    help="HQ's address (https://hq.example.com), for the link to the reorder report.",
)
def digest(
    dsn: str,
    dry_run: bool,
    smtp_host: str,
    smtp_port: int,
    smtp_starttls: bool,
    smtp_tls_ca: Path | None,
    smtp_username: str,
    smtp_password_file: Path | None,
    smtp_from: str,
    hq_url: str,
) -> None:
    """Email each HQ user who asked for it (digest-to) their stores' open low-stock alerts."""
    import psycopg

    from appliance.receipts.sending import SmtpConfig
    from cloud import digest as digests
    from cloud.migrate import connect

    send = None
    if not dry_run:
        if not smtp_host:
            raise click.UsageError("give --smtp-host (or --dry-run): nothing to send with")
        if "@" not in smtp_from:
            raise click.BadParameter("the address digests are sent from", param_hint="--smtp-from")
        if not 1 <= smtp_port <= 65535:
            raise click.BadParameter(f"{smtp_port} is not a port", param_hint="--smtp-port")
        send = digests.smtp_sender(
            SmtpConfig(
                host=smtp_host,
                port=smtp_port,
                starttls=smtp_starttls,
                tls_ca=smtp_tls_ca,
                username=smtp_username,
                password_file=smtp_password_file,
                sender=smtp_from,
            )
        )

    def show(d: digests.Digest) -> None:
        if dry_run:
            click.echo(f"To: {d.to}\nSubject: {d.subject}\n\n{d.text}")

    try:
        with connect(dsn) as conn:
            outcome = digests.run(conn, send, datetime.now(UTC), link_base=hq_url, show=show)
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    done = len(outcome.composed) if dry_run else len(outcome.sent)
    click.echo(
        f"digest: {'would send' if dry_run else 'sent'} {done},"
        f" nothing low for {len(outcome.skipped)}, failed {len(outcome.failed)}",
        err=True,
    )
    for username, reason in outcome.failed:
        click.echo(f"digest to {username} failed: {reason}", err=True)
    if outcome.failed:
        sys.exit(1)


@cloud.command("digest-to")
@dsn_option
@click.argument("username")
@click.argument("email", required=False)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="Only this category (repeat for more); all by default.",
)
@click.option("--off", is_flag=True, help="Stop sending USERNAME the digest.")
def digest_to(
    dsn: str, username: str, email: str | None, categories: tuple[str, ...], off: bool
) -> None:
    """Send HQ user USERNAME the daily low-stock digest at EMAIL (or --off to stop)."""
    import psycopg

    from cloud import digest as digests
    from cloud.migrate import connect

    if off == bool(email):
        raise click.UsageError("give EMAIL, or --off")
    try:
        with connect(dsn) as conn:
            if off:
                had = digests.unsubscribe(conn, username)
                click.echo(f"{username}: no digest" + ("" if had else " (had none)"))
                return
            assert email is not None
            digests.subscribe(conn, username, email, categories or None)
    except digests.DigestError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    only = f", only {', '.join(categories)}" if categories else ""
    click.echo(f"{username}: daily digest to {email}{only}")


def _hq_passwords(dsn: str) -> Passwords:
    """HQ's argon2id hasher at the cost the HQ settings give (TILLBOX_HQ_PASSWORD_*)."""
    from cloud.hq.accounts import Passwords
    from cloud.hq.settings import HqSettingsError, from_env

    try:
        settings = from_env(dsn=dsn)
    except HqSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return Passwords(time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib)


def _read_password(password_file: Path | None, *, prompt: str) -> str:
    """A password from a file (its first line; `-` is stdin) or typed twice at a prompt."""
    if password_file is not None:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text("utf-8")
        lines = text.splitlines()
        return lines[0] if lines else ""
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


@cloud.group()
def user() -> None:
    """HQ's web users: the first HQ admin, passwords, disabling (the Users page does the rest)."""


@user.command("add")
@dsn_option
@click.argument("username")
@click.option("--name", required=True, help="The person's name, as the pages show it.")
@click.option(
    "--role",
    type=click.Choice(["admin", "buyer", "store_manager"]),
    default="admin",
    show_default=True,
)
@click.option("--store", "stores", multiple=True, help="A store manager's store (repeat).")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    help="Read the first password from this file (- for stdin) instead of asking.",
)
def user_add(
    dsn: str,
    username: str,
    name: str,
    role: str,
    stores: tuple[str, ...],
    password_file: Path | None,
) -> None:
    """Add an HQ user (the first one is an HQ admin who adds the rest on the Users page)."""
    from cloud.hq import accounts
    from cloud.migrate import connect
    from webui.errors import ApiError

    password = _read_password(password_file, prompt="First password (12 characters or more)")
    try:
        with connect(dsn) as conn:
            added = accounts.add_user(
                conn,
                _hq_passwords(dsn),
                username=username,
                name=name,
                role=role,
                password=password,
                stores=list(stores),
                by=None,
                address="cli",
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    scope = ", ".join(added.stores) if added.stores else "every store"
    click.echo(f"added {added.username}: {added.role.label}, {scope}")


@user.command("passwd")
@dsn_option
@click.argument("username")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    help="Read the new password from this file (- for stdin) instead of asking.",
)
def user_passwd(dsn: str, username: str, password_file: Path | None) -> None:
    """Set an HQ user's password; their open sessions end."""
    from cloud.hq import accounts
    from cloud.migrate import connect
    from webui.errors import ApiError

    password = _read_password(password_file, prompt="New password (12 characters or more)")
    try:
        with connect(dsn) as conn:
            found = accounts.find_user(conn, username)
            accounts.set_password(
                conn, _hq_passwords(dsn), found.id, password=password, by=None, address="cli"
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"password set for {found.username}; their sessions were ended")


@user.command("disable")
@dsn_option
@click.argument("username")
def user_disable(dsn: str, username: str) -> None:
    """Disable an HQ user; their sessions end at once."""
    from cloud.hq import accounts
    from cloud.migrate import connect
    from webui.errors import ApiError

    try:
        with connect(dsn) as conn:
            found = accounts.find_user(conn, username)
            accounts.set_active(conn, found.id, active=False, by=None, address="cli")
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"disabled {found.username}")


@cloud.command()
@dsn_option
@click.option("--host", envvar="TILLBOX_HQ_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="TILLBOX_HQ_PORT", type=int, default=8090, show_default=True)
@click.option("--threads", envvar="TILLBOX_HQ_THREADS", type=int, default=8, show_default=True)
def serve(dsn: str, host: str, port: int, threads: int) -> None:
    """Serve HQ's web pages at /hq with waitress (behind nginx for HTTPS)."""
    import waitress

    from cloud.hq import create_app
    from cloud.hq.settings import HqSettingsError, from_env

    try:
        settings = from_env(dsn=dsn)
    except HqSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    app = create_app(settings)
    click.echo(f"HQ at http://{host}:{port}/hq/")
    # nginx on the same host sets X-Forwarded-For and -Proto; waitress trusts only it.
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        trusted_proxy="127.0.0.1",
        trusted_proxy_count=1,
        trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
        clear_untrusted_proxy_headers=True,
        ident="tillbox-hq",
    )


@cloud.group()
def analytics() -> None:
    """HQ's sales analytics rollups (decisions.md §59)."""


@analytics.command("rebuild")
@dsn_option
@click.option(
    "--store",
    "store_id",
    default=None,
    callback=lambda ctx, param, value: None if value is None else _store_id(ctx, param, value),
    help="Only this store (else every store).",
)
def analytics_rebuild(dsn: str, store_id: str | None) -> None:
    """Recount the rollups from the sales facts and events, in each store's time zone as it
    is now (after a store changed its zone; ingest keeps them otherwise)."""
    import psycopg

    from cloud.migrate import connect
    from cloud.rollups import rebuild, zones_due

    try:
        with connect(dsn) as conn, conn.transaction():
            rebuild(conn, store_id)
            left = zones_due(conn)
    except psycopg.Error as exc:
        raise click.ClickException(f"PostgreSQL: {exc}".strip()) from None
    click.echo(f"rebuilt the analytics of {store_id or 'every store'}")
    for store, made, now in left:
        click.echo(f"{store}: days still counted in {made}, the store is in {now}")
