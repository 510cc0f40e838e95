"""The daily low-stock digest (cloud/digest.py, `tillbox cloud digest` and `digest-to`): alerts
raised by real ingest batches, emailed through a real aiosmtpd server (STARTTLS with a private
CA) to each HQ user who asked, for their stores and categories; new ones marked; a dry run sends
nothing; one refused address does not stop the others and is retried next time."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cloud.cli import cloud
from tests.appliance.receipts.test_delivery import Inbox, smtp  # noqa: F401  (fixture)
from tests.cloud.test_low_stock import CATALOG, Feed
from tests.hq.conftest import Hq, hq  # noqa: F401  (fixture)

Conn = psycopg.Connection[Any]


@pytest.fixture
def low(hq: Hq) -> Iterator[tuple[Feed, Feed]]:  # noqa: F811
    """s01 low on tees (2 <= 5), s02 low on mugs (1 a day, 3 left < 7 days)."""
    from cloud.catalog import import_csv

    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert import_csv(conn, CATALOG.encode()).applied
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        s01 = Feed(conn, "s01", {"tee": "TEE-1", "sock": "SOCK-1"})
        s02 = Feed(conn, "s02", {"mug": "MUG-1"})
        s01.send(s01.receive("tee", 2), s01.receive("sock", 50))
        s02.send(s02.receive("mug", 31))
        s02.send(s02.sell("mug", 28))
        yield s01, s02


def cli(dsn: str, *args: str, smtp_port: int | None = None, ca: Path | None = None) -> Any:
    env = {"TILLBOX_CLOUD_DSN": dsn}
    if smtp_port is not None:
        env.update(
            TILLBOX_CLOUD_SMTP_HOST="127.0.0.1",
            TILLBOX_CLOUD_SMTP_PORT=str(smtp_port),
            TILLBOX_CLOUD_SMTP_TLS_CA=str(ca),
            TILLBOX_CLOUD_SMTP_FROM="hq@tillbox.example",
        )
    return CliRunner().invoke(cloud, list(args), env=env, catch_exceptions=False)


def received(inbox: Inbox) -> dict[str, EmailMessage]:
    out = {}
    for _, to, data in inbox.messages:
        message = email.message_from_bytes(data, policy=default)
        assert isinstance(message, EmailMessage)
        out[to[0]] = message
    return out


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_each_user_gets_their_stores_and_categories(
    hq: Hq,  # noqa: F811
    low: tuple[Feed, Feed],
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    inbox, port, ca = smtp
    for args in (
        ("admin", "admin@chain.example"),
        ("manager", "dublin@chain.example"),
        ("buyer", "homeware@chain.example", "--category", "home"),
    ):
        answer = cli(hq.dsn, "digest-to", *args)
        assert answer.exit_code == 0, answer.output
    sent = cli(hq.dsn, "digest", "--hq-url", "https://hq.chain.example", smtp_port=port, ca=ca)
    assert sent.exit_code == 0, sent.output
    assert "sent 3, nothing low for 0, failed 0" in sent.output
    mail = received(inbox)
    assert set(mail) == {"admin@chain.example", "dublin@chain.example", "homeware@chain.example"}
    # The admin sees both stores; both alerts are new (never sent before).
    admin = mail["admin@chain.example"]
    assert admin["Subject"] == "Tillbox HQ: 2 item(s) low in 2 store(s), 2 new"
    assert admin["From"] == "hq@tillbox.example"
    body = text_of(admin)
    assert "Dublin (s01): 1 low" in body and "Cork (s02): 1 low" in body
    assert "NEW TEE-1  Tee  on hand 2, reorder at 5" in body
    assert "MUG-1  Mug  on hand 3, reorder at -, cover 3.0 d (lead 7 d), Potters" in body
    assert "https://hq.chain.example/hq/reorder?show=low" in body
    html = admin.get_body(preferencelist=("html",))
    assert html is not None and "<td>TEE-1</td>" in str(html.get_content())
    # The store manager only their store; the buyer only Home.
    assert "Cork" not in text_of(mail["dublin@chain.example"])
    assert "TEE-1" in text_of(mail["dublin@chain.example"])
    homeware = text_of(mail["homeware@chain.example"])
    assert "MUG-1" in homeware and "TEE-1" not in homeware
    assert hq.query("SELECT count(*) FROM hq_digest WHERE last_sent_at IS NOT NULL") == [(3,)]

    # The next run: the same alerts are still open, none new; an alert resolved is left out.
    s01, _ = low
    s01.send(s01.receive("tee", 20))
    inbox.messages.clear()
    again = cli(hq.dsn, "digest", smtp_port=port, ca=ca)
    assert again.exit_code == 0, again.output
    mail = received(inbox)
    # The store manager's store has nothing low now: no email for them.
    assert set(mail) == {"admin@chain.example", "homeware@chain.example"}
    assert "nothing low for 1" in again.output
    assert mail["admin@chain.example"]["Subject"] == (
        "Tillbox HQ: 1 item(s) low in 1 store(s), 0 new"
    )


def test_a_dry_run_sends_and_records_nothing(
    hq: Hq,  # noqa: F811
    low: tuple[Feed, Feed],
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    inbox, _, _ = smtp
    assert cli(hq.dsn, "digest-to", "admin", "admin@chain.example").exit_code == 0
    shown = cli(hq.dsn, "digest", "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert "To: admin@chain.example" in shown.output and "would send 1" in shown.output
    assert inbox.messages == []
    assert hq.query("SELECT last_sent_at FROM hq_digest") == [(None,)]
    # Without --dry-run, a mail server is needed.
    refused = cli(hq.dsn, "digest")
    assert refused.exit_code == 2 and "--smtp-host" in refused.output


def test_a_refused_address_fails_alone_and_is_retried(
    hq: Hq,  # noqa: F811
    low: tuple[Feed, Feed],
    smtp: tuple[Inbox, int, Path],  # noqa: F811
) -> None:
    inbox, port, ca = smtp
    assert cli(hq.dsn, "digest-to", "admin", "nobody@chain.example").exit_code == 0
    assert cli(hq.dsn, "digest-to", "buyer", "buyer@chain.example").exit_code == 0
    answer = cli(hq.dsn, "digest", smtp_port=port, ca=ca)
    assert answer.exit_code == 1
    assert "sent 1" in answer.output and "digest to admin failed" in answer.output
    assert set(received(inbox)) == {"buyer@chain.example"}
    assert hq.query(
        "SELECT u.username, d.last_sent_at IS NOT NULL FROM hq_digest d"
        " JOIN hq_user u ON u.id = d.user_id ORDER BY 1"
    ) == [("admin", False), ("buyer", True)]
    # Fixed and run again: the admin's alerts are still new to them.
    assert cli(hq.dsn, "digest-to", "admin", "admin@chain.example").exit_code == 0
    inbox.messages.clear()
    assert cli(hq.dsn, "digest", smtp_port=port, ca=ca).exit_code == 0
    assert received(inbox)["admin@chain.example"]["Subject"].endswith(", 2 new")


def test_digest_to_checks_what_it_is_given(hq: Hq) -> None:  # noqa: F811
    for args, message in (
        (("ghost", "a@b.example"), "no HQ user is named ghost"),
        (("admin", "not-an-address"), "is not an email address"),
        (("admin", "a@b.example", "--category", "Nope"), "no category is named Nope"),
        (("admin",), "give EMAIL, or --off"),
        (("admin", "a@b.example", "--off"), "give EMAIL, or --off"),
    ):
        answer = cli(hq.dsn, "digest-to", *args)
        assert answer.exit_code != 0 and message in answer.output, (args, answer.output)
    assert hq.query("SELECT count(*) FROM hq_digest") == [(0,)]
    assert cli(hq.dsn, "digest-to", "admin", "a@b.example").exit_code == 0
    off = cli(hq.dsn, "digest-to", "admin", "--off")
    assert off.exit_code == 0 and "admin: no digest" in off.output
    assert hq.query("SELECT count(*) FROM hq_digest") == [(0,)]
