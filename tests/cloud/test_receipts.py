"""Digital receipts sent by the cloud (decisions.md §48), on the real PostgreSQL, a private
Mosquitto, a real aiosmtpd server (STARTTLS) and a local HTTP server standing in for the
Twilio-style SMS gateway: who sends is decided once on the appliance and told to the cloud in
the batch (`cloud_sends`); the cloud's workers claim, send, back off, give up and fail refused
addresses; a worker killed mid-send leaves the message for the next one."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from click.testing import CliRunner

from appliance.receipts.delivery import MessageWorker
from appliance.receipts.sending import SmsConfig, SmtpConfig, SmtpMailer, TwilioSms
from appliance.runtime import Runtime, open_runtime
from appliance.sync.directory import snapshot, variant_ids
from appliance.sync.uplink import Uplink, read_batch
from cloud.cli import cloud
from cloud.ingest import ingest_batch
from cloud.receipts import ReceiptWorker
from cloud.store_directory import apply_upload
from cloud.store_rpc import StoreResponder
from protocol.directory import DirectoryUpload
from protocol.ids import new_id
from tests.appliance.receipts.test_delivery import (  # noqa: F401  (fixtures)
    Gateway,
    Inbox,
    gateway,
    smtp,
    smtp_server,
)
from tests.appliance.selling.helpers import make_till, ok, refused, uid
from tests.appliance.sync.mqtt_fakes import Broker, free_port, wait_for
from tests.appliance.sync.test_chain import (  # noqa: F401  (fixtures)
    broker,
    responder,
    settings,
    synced,
    uplink,
    worker,
)
from tests.appliance.till import Item, Till
from tests.cloud.batches import batch, offline_till
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import SMALL_CATALOG, FakeWall, Store

Conn = psycopg.Connection[Any]
TILLBOX = str(Path(sys.executable).parent / "tillbox")


def cloud_catalog(cloud_dsn: str, tmp_path: Path) -> None:  # noqa: F811
    """The chain catalog holds the same SKUs (their titles and tax classes)."""
    path = tmp_path / "catalog.csv"
    path.write_text(SMALL_CATALOG, encoding="utf-8")
    result = CliRunner().invoke(cloud, ["catalog", "import", "--dsn", cloud_dsn, str(path)])
    assert result.exit_code == 0, result.output


def upload_directory(rt: Runtime, pg: Conn) -> None:  # noqa: F811
    """What the uplink's directory upload gives the cloud: settings, staff, registers, ids."""
    upload = DirectoryUpload(
        directory=snapshot(rt.db, rt.settings, 1),
        variants_after=0,
        variants=variant_ids(rt.db, 0, 2000),
    )
    assert apply_upload(pg, rt.store, upload).error is None


def ingest_journal(rt: Runtime, pg: Conn) -> dict[str, int]:  # noqa: F811
    """What the cloud does not have of the appliance's journal, as one batch, as its uplink
    would send it."""
    cursor = pg.execute("SELECT applied_through FROM store_cursor WHERE store = %s", (rt.store,))
    row = cursor.fetchone()
    found = read_batch(rt.db, (row[0] if row else 0) + 1, max_events=500, max_bytes=1 << 20)
    assert found is not None
    ack = ingest_batch(pg, rt.store, found.payload)
    assert ack == {"applied_through": found.last}, ack
    return ack


def cloud_messages(pg: Conn) -> list[tuple[str, str, int]]:  # noqa: F811
    return [
        (channel, state, attempts)
        for channel, state, attempts in pg.execute(
            "SELECT channel, state, attempts FROM receipt_message ORDER BY created_at, event"
        )
    ]


def mailer(port: int, ca: Path) -> SmtpMailer:
    return SmtpMailer(
        SmtpConfig(host="127.0.0.1", port=port, tls_ca=ca, sender="receipts@chain.example")
    )


def sell(
    store: Store, wall: FakeWall, catalog: Runtime, till: Till | None = None
) -> tuple[Till, str]:
    till = till or make_till(store, wall)
    body = till.sale_body(
        [Item(uid(catalog, "TEE-M-RED"), 2, 1299), Item(uid(catalog, "MUG-1"), 1, 950)],
        tenders=[{"kind": "cash", "amount": 3548, "tendered": 4000}],
    )
    ok(till.send("sale.completed", body))
    return till, body["receipt"]


def ask(till: Till, receipt: str, channel: str, to: str) -> None:
    ok(till.send("receipt.requested", {"receipt": receipt, "channel": channel, "to": to}))


@pytest.fixture
def sold(store: Store, catalog: Runtime, wall: FakeWall) -> tuple[Till, str]:
    return sell(store, wall, catalog)


# ---- end to end ----------------------------------------------------------------------------


def test_a_sale_on_an_appliance_set_for_cloud_delivery_is_emailed_by_the_cloud(
    store: Store,
    catalog: Runtime,
    sold: tuple[Till, str],
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
    tmp_path: Path,
    worker: subprocess.Popen[bytes],  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    till, receipt = sold
    inbox, port, ca = smtp
    cloud_catalog(cloud_dsn, tmp_path)
    ask(till, receipt, "email", " ana@example.com ")
    assert catalog.db.scalar("SELECT sender FROM receipt_message") == "cloud"
    synced(catalog)
    wait_for(
        lambda: pg.execute("SELECT count(*) FROM store_variant").fetchone()[0] > 0,
        what="the directory upload",
    )
    assert cloud_messages(pg) == [("email", "queued", 0)]
    # The appliance, even with a mail server of its own, leaves the cloud's message alone.
    own = dataclasses.replace(
        catalog,
        settings=catalog.settings.replace(
            smtp_host="127.0.0.1", smtp_port=port, smtp_tls_ca=ca, smtp_from="s@shop.example"
        ),
    )
    assert MessageWorker(own).run_once() == 0

    sender = ReceiptWorker(cloud_dsn, mailer=mailer(port, ca), sms=None)
    assert sender.run_once(pg) == 1
    assert cloud_messages(pg) == [("email", "sent", 1)]
    [(frm, to, raw)] = inbox.messages
    assert (frm, to) == ("receipts@chain.example", ["ana@example.com"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == f"Your receipt from Test Store ({receipt})"
    text_part = message.get_body(preferencelist=("plain",))
    assert text_part is not None
    text = text_part.get_content()
    # The same layout as the till's: titles from the chain catalog, the tax by rate (the
    # store's 20% standard rate, worked out again and matching the sealed totals), the cash.
    assert "Classic Tee — M / Red" in text and "2 x 12.99" in text and "25.98" in text
    assert "Crème Brûlée Mug" in text
    assert "TOTAL EUR 35.48" in text
    assert "Change" in text and "4.52" in text
    assert "20%" in text and "Served by Cashier" in text and "Till: Front till" in text
    assert f"|| {receipt} ||" in text
    assert [p.get_content_type() for p in message.walk()].count("image/png") == 1
    assert sender.run_once(pg) == 0  # sent once, never again


def test_offline_the_request_waits_in_the_outbox_and_goes_when_the_store_is_back(
    store: Store,
    catalog: Runtime,
    broker: Broker,  # noqa: F811
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
    wall: FakeWall,
    worker: subprocess.Popen[bytes],  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    inbox, port, ca = smtp
    broker.kill()
    wait_for(lambda: not catalog.link.connected, what="the uplink to notice")
    till, receipt = sell(store, wall, catalog)
    ask(till, receipt, "email", "ben@example.com")
    sender = ReceiptWorker(cloud_dsn, mailer=mailer(port, ca), sms=None)
    assert sender.run_once(pg) == 0
    assert cloud_messages(pg) == [] and inbox.messages == []
    broker.start()
    synced(catalog)
    assert sender.run_once(pg) == 1
    assert [m[1] for m in inbox.messages] == [["ben@example.com"]]


# ---- in-process: batches ingested as the uplink sends them ---------------------------------


def test_a_text_goes_through_the_gateway_after_a_gateway_error_with_back_off(
    store: Store,
    catalog: Runtime,
    sold: tuple[Till, str],
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
    gateway: tuple[type[Gateway], int],  # noqa: F811
    tmp_path: Path,
) -> None:
    till, receipt = sold
    handler, port = gateway
    token = tmp_path / "sms-token"
    token.write_text("t0ken\n", encoding="utf-8")
    ask(till, receipt, "sms", "+353 (87) 123-4567")
    upload_directory(catalog, pg)
    ingest_journal(catalog, pg)
    sms = TwilioSms(
        SmsConfig(
            gateway_url=f"http://127.0.0.1:{port}/2010-04-01",
            account="AC9",
            token_file=token,
            sender="+15005550006",
        )
    )
    sender = ReceiptWorker(cloud_dsn, mailer=None, sms=sms, link_base="https://r.example/")
    handler.answers = [503]
    assert sender.run_once(pg) == 1
    assert cloud_messages(pg) == [("sms", "queued", 1)]
    wait_s, error = pg.execute(
        "SELECT extract(epoch FROM next_attempt_at - now()), last_error FROM receipt_message"
    ).fetchone()
    assert 25 < wait_s <= 30 and "503" in error
    assert sender.run_once(pg) == 0  # backing off
    pg.execute("UPDATE receipt_message SET next_attempt_at = now()")  # 30 s later
    assert sender.run_once(pg) == 1
    assert cloud_messages(pg) == [("sms", "sent", 2)]
    path, form, _ = handler.seen[-1]
    assert path == "/2010-04-01/Accounts/AC9/Messages.json"
    assert form["To"] == ["+353871234567"]
    assert form["Body"] == [
        f"Test Store: receipt {receipt}, total EUR 35.48. https://r.example/{receipt} Thank you!"
    ]
    # A second failure waits twice as long.
    ask(till, receipt, "sms", "+353 87 000 0000")
    ingest_journal(catalog, pg)
    handler.answers = [500, 500]
    sender.run_once(pg)
    pg.execute("UPDATE receipt_message SET next_attempt_at = now() WHERE state = 'queued'")
    sender.run_once(pg)
    wait_s = pg.execute(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM receipt_message"
        " WHERE state = 'queued'"
    ).fetchone()[0]
    assert 55 < wait_s <= 60


def test_refused_addresses_fail_at_once_and_nothing_is_retried_for_ever(
    store: Store,
    catalog: Runtime,
    sold: tuple[Till, str],
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
    gateway: tuple[type[Gateway], int],  # noqa: F811
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    till, receipt = sold
    inbox, port, ca = smtp
    handler, gateway_port = gateway
    # The register hears a bad address at once, in the one error shape, and nothing is queued.
    for channel, to in (("email", "ana.example.com"), ("sms", "call me")):
        answer = refused(
            till.send("receipt.requested", {"receipt": receipt, "channel": channel, "to": to}),
            "bad_address",
        )
        assert set(answer) >= {"error", "message"}
    assert catalog.db.scalar("SELECT count(*) FROM receipt_message") == 0
    ask(till, receipt, "email", "nobody@example.com")  # the server will refuse it
    ask(till, receipt, "sms", "+1 000 000 0000")  # the gateway will say it is invalid
    upload_directory(catalog, pg)
    ingest_journal(catalog, pg)
    sms = TwilioSms(
        SmsConfig(
            gateway_url=f"http://127.0.0.1:{gateway_port}", account="AC9", sender="+15005550006"
        )
    )
    handler.answers = [400]
    sender = ReceiptWorker(cloud_dsn, mailer=mailer(port, ca), sms=sms)
    assert sender.run_once(pg) == 2
    assert sender.run_once(pg) == 0  # never tried again
    states = dict(
        pg.execute("SELECT address, state || ':' || attempts FROM receipt_message").fetchall()
    )
    assert states == {"nobody@example.com": "failed:1", "+10000000000": "failed:1"}
    errors = [e for (e,) in pg.execute("SELECT last_error FROM receipt_message ORDER BY channel")]
    assert "refused" in errors[0] and "failure 400" in errors[1]
    # Two days of an unreachable server: failed, with its last error.
    ask(till, receipt, "email", "late@example.com")
    ingest_journal(catalog, pg)
    pg.execute(
        "UPDATE receipt_message SET created_at = now() - interval '49 hours'"
        " WHERE address = 'late@example.com'"
    )
    unreachable = ReceiptWorker(cloud_dsn, mailer=mailer(free_port(), ca), sms=sms)
    assert unreachable.run_once(pg) == 1
    assert pg.execute(
        "SELECT state, last_error LIKE 'SMTP 127.0.0.1:%%' FROM receipt_message"
        " WHERE address = 'late@example.com'"
    ).fetchone() == ("failed", True)
    assert unreachable.run_once(pg) == 0
    assert inbox.messages == []


def test_a_batch_naming_a_bad_address_or_a_stranger_for_the_cloud(
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
) -> None:
    """An address the cloud cannot send to is queued as failed; `cloud_sends` naming an event
    that is not one of the batch's email or SMS requests is poison, and nothing is stored."""
    till = offline_till()
    till.shift = new_id()
    sale = till.event(
        "sale.completed",
        till.sale_body([Item("0190b3a0-0000-7000-8000-000000000001", 1, 500)]),
    )
    bad = till.event(
        "receipt.requested",
        {"receipt": sale.body["receipt"], "channel": "email", "to": "ana.example.com"},
    )
    paper = till.event("receipt.requested", {"receipt": sale.body["receipt"], "channel": "print"})

    def framed(ids: object) -> bytes:
        frame = msgspec.json.decode(batch(1, [sale, bad, paper]))
        return msgspec.json.encode({**frame, "cloud_sends": ids})

    for wrong in ([paper.id], [sale.id], [bad.id, bad.id], [], "x", [bad.id, "nope"]):
        assert ingest_batch(pg, "s01", framed(wrong)) == {"applied_through": 0}
    assert pg.execute("SELECT count(*) FROM event").fetchone()[0] == 0
    reasons = [r for (r,) in pg.execute("SELECT reason FROM dead_letter")]
    assert len(reasons) == 6 and all("cloud_sends" in r for r in reasons), reasons
    assert ingest_batch(pg, "s01", framed([bad.id])) == {"applied_through": 3}
    assert pg.execute("SELECT state, last_error FROM receipt_message").fetchone() == (
        "failed",
        "'ana.example.com' is not an email address",
    )
    # The same batch again (a resend) queues nothing twice.
    assert ingest_batch(pg, "s01", framed([bad.id])) == {"applied_through": 3}
    assert pg.execute("SELECT count(*) FROM receipt_message").fetchone()[0] == 1


def test_who_sends_is_decided_when_queued_and_survives_switching_the_setting(
    store: Store,
    catalog: Runtime,
    sold: tuple[Till, str],
    pg: Conn,  # noqa: F811
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    """A request queued for the cloud stays the cloud's after the store switches to sending
    itself, and one queued for the appliance stays the appliance's after switching back."""
    till, receipt = sold
    inbox, port, ca = smtp
    ask(till, receipt, "email", "cloud@example.com")
    mail = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls_ca": ca,
        "smtp_from": "s@shop.example",
    }
    itself = catalog.settings.replace(receipt_delivery="appliance", **mail)
    runtime = open_runtime(itself, wall=FakeWall(ms=catalog.now_ms()))
    try:
        assert runtime.db.scalar("SELECT sender FROM receipt_message") == "cloud"
        # Queued now, under the new setting (through the domain, as the push does).
        from appliance.receipts.delivery import queue_message

        with runtime.db.write():
            queue_message(
                runtime,
                event="0190b3a0-0000-7000-8000-0000000000ff",
                channel="email",
                address="own@example.com",
                receipt=receipt,
                gift=False,
            )
        assert MessageWorker(runtime).run_once() == 1
        assert [m[1] for m in inbox.messages] == [["own@example.com"]]
    finally:
        runtime.close()
    # The batch hands the cloud only its own request.
    found = read_batch(catalog.db, 1, max_events=500, max_bytes=1 << 20)
    assert found is not None
    request_id = catalog.db.scalar(
        "SELECT event FROM receipt_message WHERE address = 'cloud@example.com'"
    )
    assert msgspec.json.decode(found.payload)["cloud_sends"] == [request_id]
    # Back to cloud delivery: the appliance's own message is still its own (and sent).
    again = dataclasses.replace(catalog, settings=catalog.settings.replace(**mail))
    assert MessageWorker(again).run_once() == 0
    assert len(inbox.messages) == 1


# ---- workers killed and racing ---------------------------------------------------------------


class Stalling(Inbox):
    """Holds the first RCPT until `release` is set (the worker is mid-send), without
    blocking aiosmtpd's event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.stalled = threading.Event()
        self.first = True

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.first:
            self.first = False
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return await super().handle_RCPT(server, session, envelope, address, options)


@pytest.fixture
def stalling_smtp(tmp_path: Path) -> Iterator[tuple[Stalling, int, Path]]:
    inbox = Stalling()
    with smtp_server(tmp_path / "tls-s", inbox) as (port, ca):
        try:
            yield inbox, port, ca
        finally:
            inbox.release.set()


def start_worker(cloud_dsn: str, port: int, ca: Path, name: str) -> subprocess.Popen[bytes]:  # noqa: F811
    return subprocess.Popen(
        [TILLBOX, "cloud", "receipts", "--name", name, "--poll", "0.1"],
        env={
            **os.environ,
            "TILLBOX_CLOUD_DSN": cloud_dsn,
            "TILLBOX_CLOUD_SMTP_HOST": "127.0.0.1",
            "TILLBOX_CLOUD_SMTP_PORT": str(port),
            "TILLBOX_CLOUD_SMTP_TLS_CA": str(ca),
            "TILLBOX_CLOUD_SMTP_FROM": "receipts@chain.example",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_mid_send_leaves_the_message_to_the_next_and_two_never_share_one(
    store: Store,
    catalog: Runtime,
    sold: tuple[Till, str],
    pg: Conn,  # noqa: F811
    cloud_dsn: str,  # noqa: F811
    stalling_smtp: tuple[Stalling, int, Path],
) -> None:
    till, receipt = sold
    inbox, port, ca = stalling_smtp
    addresses = [f"c{n}@example.com" for n in range(6)]
    for address in addresses:
        ask(till, receipt, "email", address)
    upload_directory(catalog, pg)
    ingest_journal(catalog, pg)
    first = start_worker(cloud_dsn, port, ca, "w1")
    try:
        assert inbox.stalled.wait(20), "the worker never reached the SMTP server"
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=10)
    inbox.release.set()
    assert inbox.messages == []
    assert cloud_messages(pg) == [("email", "queued", 0)] * 6  # the kill rolled back
    workers = [start_worker(cloud_dsn, port, ca, f"w{n}") for n in (2, 3)]
    try:
        wait_for(
            lambda: (
                pg.execute("SELECT count(*) FROM receipt_message WHERE state = 'sent'").fetchone()[
                    0
                ]
                == 6
            ),
            timeout=30,
            what="six messages sent",
        )
    finally:
        outputs = []
        for process in workers:
            process.send_signal(signal.SIGTERM)
            outputs.append(process.communicate(timeout=20)[0].decode())
    assert all("Traceback" not in out for out in outputs), outputs
    assert sorted(to for _, [to], _ in inbox.messages) == addresses  # each exactly once
    assert cloud_messages(pg) == [("email", "sent", 1)] * 6
    assert all("stopped: sent=" in out for out in outputs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to send with"),
        (["--smtp-host", "smtp.example"], "--smtp-from"),
        (["--smtp-host", "smtp.example", "--smtp-from", "r@x.example", "--smtp-port", "0"], "port"),
        (["--sms-gateway-url", "ftp://gw"], "--sms-gateway-url"),
        (["--sms-gateway-url", "https://gw.example"], "--sms-account and --sms-from"),
    ],
)
def test_the_receipts_command_refuses_what_it_cannot_send_with(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        cloud, ["receipts", "--dsn", "host=127.0.0.1 dbname=unused", *args], env={}
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
