"""Digital receipts: the durable queue, and sending by email (SMTP) and SMS (an HTTP gateway).

`queue_message` runs inside the transaction that applies a `receipt.requested` event for
email or SMS. The `MessageWorker` thread of `tillbox appliance serve` sends what is due:
- **email** through the store's SMTP server (STARTTLS unless switched off), as a plain-text
  part and an HTML part showing the receipt image (the same layout the printer prints);
- **SMS** through a Twilio-style gateway (`POST {url}/Accounts/{account}/Messages.json`,
  form fields To, From and Body, HTTP Basic auth), a short text with the total and, when
  `receipt_link_base` is set, a link to the receipt.

A failure that may pass (the server unreachable, 4xx from SMTP, 429 or 5xx from the gateway)
is retried after 30 s, doubling to an hour, for two days; one that will not (the address
refused, the gateway saying the number is invalid) fails at once with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import smtplib
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from appliance.receipts.layouts import money, sale_receipt
from appliance.receipts.render import to_png
from appliance.runtime import Runtime
from appliance.settings import Settings

_log = logging.getLogger(__name__)

RETRY_MIN_MS, RETRY_MAX_MS = 30_000, 3_600_000
GIVE_UP_AFTER_MS = 48 * 3_600_000


class DeliveryError(RuntimeError):
    """Sending failed; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def queue_message(
    rt: Runtime, *, event: str, channel: str, address: str, receipt: str, gift: bool
) -> None:
    """Queue a digital receipt (inside the caller's transaction), once per event."""
    now = rt.now_ms()
    rt.db.execute(
        "INSERT INTO receipt_message (event, channel, address, receipt, gift, next_attempt_ms,"
        " created_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event) DO NOTHING",
        (event, channel, address, receipt, int(gift), now, now),
    )
    rt.print_wake.set()


@dataclass(frozen=True, slots=True, kw_only=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    image: bytes


class Mailer(Protocol):
    def send(self, email: Email) -> None: ...


class SmsGateway(Protocol):
    def send(self, to: str, body: str) -> None: ...


def _secret(path: Any, what: str) -> str | None:
    if path is None:
        return None
    try:
        return str(path.read_text(encoding="utf-8")).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"{what} {path} cannot be read: {exc}") from None


class SmtpMailer:
    """Email through the store's SMTP server."""

    def __init__(self, settings: Settings, *, timeout_s: float = 30.0) -> None:
        self.s = settings
        self.timeout_s = timeout_s

    def send(self, email: Email) -> None:
        s = self.s
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = s.smtp_from
        message["To"] = email.to
        message.set_content(email.text)
        cid = make_msgid(domain="tillbox.local")
        message.add_alternative(email.html.replace("{cid}", cid[1:-1]), subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        html_part.add_related(email.image, maintype="image", subtype="png", cid=cid)
        context = ssl.create_default_context(cafile=str(s.smtp_tls_ca) if s.smtp_tls_ca else None)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=context)
                password = _secret(s.smtp_password_file, "smtp_password_file")
                if s.smtp_username:
                    smtp.login(s.smtp_username, password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"the address was refused: {exc.recipients}", permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=permanent
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from None


class TwilioSms:
    """SMS through a Twilio-style HTTP gateway."""

    def __init__(self, settings: Settings, *, timeout_s: float = 30.0) -> None:
        self.s = settings
        self.timeout_s = timeout_s

    def send(self, to: str, body: str) -> None:
        s = self.s
        token = _secret(s.sms_token_file, "sms_token_file") or ""
        url = f"{s.sms_gateway_url.rstrip('/')}/Accounts/{urllib.parse.quote(s.sms_account)}/Messages.json"
        if not url.startswith(("https://", "http://")):
            raise DeliveryError(
                f"sms_gateway_url {s.sms_gateway_url!r} is not an http(s) URL", permanent=True
            )
        request = urllib.request.Request(  # noqa: S310 (checked to be http(s) above)
            url,
            data=urllib.parse.urlencode({"To": to, "From": s.sms_from, "Body": body}).encode(),
            method="POST",
            headers={
                "Authorization": "Basic "
                + base64.b64encode(f"{s.sms_account}:{token}".encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            permanent = 400 <= exc.code < 500 and exc.code != 429
            raise DeliveryError(f"SMS gateway {exc.code}: {detail}", permanent=permanent) from None
        except OSError as exc:
            raise DeliveryError(f"SMS gateway {s.sms_gateway_url}: {exc}") from None


def compose_email(rt: Runtime, receipt: str, gift: bool, to: str) -> Email:
    doc = sale_receipt(rt, receipt, gift=gift)
    store = rt.settings.store_name or rt.store
    text = doc.text()
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>Thank you for shopping at {store.replace('<', '&lt;')}. Your receipt:</p>"
        f'<p><img src="cid:{{cid}}" alt="Receipt {receipt}" style="max-width:100%"></p>'
        f'<pre style="font-size:12px">{escaped}</pre></body></html>'
    )
    kind = "gift receipt" if gift else "receipt"
    return Email(
        to=to,
        subject=f"Your {kind} from {store} ({receipt})",
        text=text,
        html=html,
        image=to_png(doc),
    )


def compose_sms(rt: Runtime, receipt: str, gift: bool) -> str:
    s = rt.settings
    store = s.store_name or rt.store
    total = rt.db.one("SELECT total, currency FROM sale WHERE receipt = ?", (receipt,))
    parts = [f"{store}: receipt {receipt}"]
    if total is not None and not gift:
        parts.append(
            f"total {total['currency']} {money(total['total'], total['currency'], s.locale)}"
        )
    text = ", ".join(parts) + "."
    if s.receipt_link_base:
        text += f" {s.receipt_link_base.rstrip('/')}/{urllib.parse.quote(receipt)}"
    return text + " Thank you!"


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
        self.mailer = mailer if mailer is not None else (SmtpMailer(s) if s.smtp_host else None)
        self.sms = sms if sms is not None else (TwilioSms(s) if s.sms_gateway_url else None)
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
        """Send every message that is due and that this appliance can send; how many tried."""
        channels = [c for c, able in (("email", self.mailer), ("sms", self.sms)) if able]
        if not channels:
            return 0
        rows = self.rt.db.query(
            "SELECT * FROM receipt_message WHERE state = 'queued' AND next_attempt_ms <= ?"
            f" AND channel IN ({','.join('?' * len(channels))}) ORDER BY id LIMIT 20",
            (self.rt.now_ms(), *channels),
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
                self.sms.send(row["address"], compose_sms(rt, row["receipt"], bool(row["gift"])))
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
        delay = min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** min(row["attempts"], 12))
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
