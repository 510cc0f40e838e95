"""Digital receipts on the appliance: the durable queue, and the worker that sends what the
appliance sends itself.

`queue_message` runs inside the transaction that applies a `receipt.requested` event for
email or SMS, and records who sends it (decisions.md §48): the cloud when the store's
`receipt_delivery` is "cloud" and it has a cloud link, else this appliance. The uplink tells
the cloud which of a batch's requests are its to send (`cloud_sends`); the `MessageWorker`
thread of `tillbox appliance serve` sends the appliance's own, through the composing, sending
and retry rules of `appliance/receipts/sending.py` that the cloud's worker uses too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from appliance.receipts.layouts import sale_receipt
from appliance.receipts.sending import (
    GIVE_UP_AFTER_MS,
    DeliveryError,
    Email,
    Mailer,
    SmsConfig,
    SmsGateway,
    SmtpConfig,
    SmtpMailer,
    TwilioSms,
    compose_sms,
    retry_delay_ms,
)
from appliance.receipts.sending import compose_email as compose
from appliance.runtime import Runtime
from appliance.settings import Settings

_log = logging.getLogger(__name__)

__all__ = ["DeliveryError", "MessageWorker", "queue_message", "sender_for"]


def sender_for(settings: Settings) -> str:
    """Who sends a digital receipt requested now: "cloud" or "appliance"."""
    if settings.receipt_delivery == "cloud" and settings.mqtt_host:
        return "cloud"
    return "appliance"


def queue_message(
    rt: Runtime, *, event: str, channel: str, address: str, receipt: str, gift: bool
) -> None:
    """Queue a digital receipt (inside the caller's transaction), once per event, for whoever
    sends it; that choice is made here once and never changed."""
    now = rt.now_ms()
    rt.db.execute(
        "INSERT INTO receipt_message (event, channel, address, receipt, gift, next_attempt_ms,"
        " created_ms, sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event) DO NOTHING",
        (event, channel, address, receipt, int(gift), now, now, sender_for(rt.settings)),
    )
    rt.print_wake.set()


def smtp_config(s: Settings) -> SmtpConfig:
    """The appliance's SMTP settings."""
    return SmtpConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        starttls=s.smtp_starttls,
        tls_ca=s.smtp_tls_ca,
        username=s.smtp_username,
        password_file=s.smtp_password_file,
        sender=s.smtp_from,
    )


def sms_config(s: Settings) -> SmsConfig:
    """The appliance's SMS gateway settings."""
    return SmsConfig(
        gateway_url=s.sms_gateway_url,
        account=s.sms_account,
        token_file=s.sms_token_file,
        sender=s.sms_from,
    )


def compose_email(rt: Runtime, receipt: str, gift: bool, to: str) -> Email:
    """The email for one of this store's receipts."""
    store = rt.settings.store_name or rt.store
    doc = sale_receipt(rt, receipt, gift=gift)
    return compose(doc, store=store, receipt=receipt, gift=gift, to=to)


def sms_text(rt: Runtime, receipt: str, gift: bool) -> str:
    """The SMS for one of this store's receipts."""
    s = rt.settings
    sale = rt.db.one("SELECT total, currency FROM sale WHERE receipt = ?", (receipt,))
    return compose_sms(
        store=s.store_name or rt.store,
        receipt=receipt,
        gift=gift,
        total=None if sale is None else sale["total"],
        currency=s.currency if sale is None else sale["currency"],
        locale=s.locale,
        link_base=s.receipt_link_base,
    )


class MessageWorker:
    """Sends queued digital receipts on its own thread."""

    def __init__(
        self,
        rt: Runtime,
        *,
        mailer: Mailer | None = None,
        sms: SmsGateway | None = None,
        poll_s: float = 1.0,
    ) -> None:
        s = rt.settings
        self.rt = rt
        self.mailer = (
            mailer if mailer is not None else (SmtpMailer(smtp_config(s)) if s.smtp_host else None)
        )
        self.sms = (
            sms if sms is not None else (TwilioSms(sms_config(s)) if s.sms_gateway_url else None)
        )
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MessageWorker:
        self._thread = threading.Thread(target=self._run, name="receipt-messages", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.poll_s):
                try:
                    self.run_once()
                except Exception:
                    _log.exception("receipt message step failed")
        finally:
            self.rt.db.close()

    def run_once(self) -> int:
        """Send every message of the appliance's own that is due and that it can send; how
        many tried. One it has no server or gateway for waits, and fails after two days."""
        now = self.rt.now_ms()
        channels = [c for c, able in (("email", self.mailer), ("sms", self.sms)) if able]
        unable = [c for c in ("email", "sms") if c not in channels]
        if unable:
            with self.rt.db.write():
                self.rt.db.execute(
                    "UPDATE receipt_message SET state = 'failed', last_error = ? WHERE"
                    " state = 'queued' AND sender = 'appliance' AND created_ms < ?"
                    f" AND channel IN ({','.join('?' * len(unable))})",
                    (
                        "nothing to send it with: the appliance has no SMTP server or SMS"
                        " gateway set for it",
                        now - GIVE_UP_AFTER_MS,
                        *unable,
                    ),
                )
        if not channels:
            return 0
        rows = self.rt.db.query(
            "SELECT * FROM receipt_message WHERE state = 'queued' AND sender = 'appliance'"
            " AND next_attempt_ms <= ?"
            f" AND channel IN ({','.join('?' * len(channels))}) ORDER BY id LIMIT 20",
            (now, *channels),
        )
        for row in rows:
            self._send(row)
        return len(rows)

    def _send(self, row: Any) -> None:
        rt = self.rt
        try:
            if row["channel"] == "email":
                assert self.mailer is not None
                self.mailer.send(
                    compose_email(rt, row["receipt"], bool(row["gift"]), row["address"])
                )
            else:
                assert self.sms is not None
                self.sms.send(row["address"], sms_text(rt, row["receipt"], bool(row["gift"])))
        except DeliveryError as exc:
            self._failed(row, str(exc), permanent=exc.permanent)
            return
        with rt.db.write():
            rt.db.execute(
                "UPDATE receipt_message SET state = 'sent', sent_ms = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?",
                (rt.now_ms(), row["id"]),
            )
        _log.info("sent %s receipt %s", row["channel"], row["receipt"])

    def _failed(self, row: Any, error: str, *, permanent: bool) -> None:
        rt, now = self.rt, self.rt.now_ms()
        give_up = permanent or now - row["created_ms"] > GIVE_UP_AFTER_MS
        delay = retry_delay_ms(row["attempts"])
        with rt.db.write():
            rt.db.execute(
                "UPDATE receipt_message SET attempts = attempts + 1, last_error = ?,"
                " state = ?, next_attempt_ms = ? WHERE id = ?",
                (error, "failed" if give_up else "queued", now + delay, row["id"]),
            )
        log = _log.error if give_up else _log.warning
        log(
            "%s receipt %s %s: %s",
            row["channel"],
            row["receipt"],
            "failed" if give_up else "will be retried",
            error,
        )
