"""Sending a digital receipt: the email and text composed, SMTP and the SMS gateway, the
address rules and the retry policy. Shared by the appliance's `MessageWorker` and the cloud's
receipts worker (`cloud/receipts.py`), so both send the same message the same way and give up
after the same time; nothing here reads the appliance's settings or database.

- **email** through an SMTP server (STARTTLS unless switched off), as a plain-text part and an
  HTML part showing the receipt image (the same layout the printer prints);
- **SMS** through a Twilio-style gateway (`POST {url}/Accounts/{account}/Messages.json`, form
  fields To, From and Body, HTTP Basic auth), a short text with the total and, when a link
  base is set, a link to the receipt.

A failure that may pass (the server unreachable, 4xx from SMTP, 429 or 5xx from the gateway)
is retried after 30 s, doubling to an hour, for two days; one that will not (the address
refused, the gateway saying the number is invalid) fails at once with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from appliance.receipts.document import Document
from appliance.receipts.render import to_png
from appliance.receipts.sale import money

RETRY_MIN_MS, RETRY_MAX_MS = 30_000, 3_600_000
GIVE_UP_AFTER_MS = 48 * 3_600_000

_EMAIL = re.compile(r"\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*")
_PHONE = re.compile(r"\s*\+?[0-9(][0-9 ()./-]{5,22}\s*")


def address_problem(channel: str, to: str | None) -> str | None:
    """Why `to` cannot take a receipt by `channel` ("email" or "sms"), or None if it can."""
    if not to:
        return f"an {channel} receipt needs an address"
    if channel == "email" and not _EMAIL.fullmatch(to):
        return f"{to!r} is not an email address"
    if channel == "sms" and not _PHONE.fullmatch(to):
        return f"{to!r} is not a phone number (+353 87 123 4567)"
    return None


def normal_address(channel: str, to: str) -> str:
    """The address as it is sent: an email trimmed; a phone number as digits, + kept."""
    if channel == "email":
        return to.strip()
    digits = "".join(c for c in to if c.isdigit())
    return ("+" if to.strip().startswith("+") else "") + digits


def retry_delay_ms(attempts: int) -> int:
    """How long to wait after the `attempts`-th failure (0 for the first): 30 s doubling to
    an hour."""
    return int(min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** min(attempts, 12)))


class DeliveryError(RuntimeError):
    """Sending failed; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """An SMTP server to send through (the password is read from its file at each send)."""

    host: str
    port: int = 587
    starttls: bool = True
    tls_ca: Path | None = None
    username: str = ""
    password_file: Path | None = None
    sender: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsConfig:
    """A Twilio-style SMS gateway (the token is read from its file at each send)."""

    gateway_url: str
    account: str
    token_file: Path | None = None
    sender: str


def _secret(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveryError(f"{what} {path} cannot be read: {exc}") from None


class SmtpMailer:
    """Email through an SMTP server."""

    def __init__(self, config: SmtpConfig, *, timeout_s: float = 30.0) -> None:
        self.config = config
        self.timeout_s = timeout_s

    def send(self, email: Email) -> None:
        c = self.config
        message = EmailMessage()
        message["Subject"] = email.subject
        message["From"] = c.sender
        message["To"] = email.to
        message.set_content(email.text)
        cid = make_msgid(domain="tillbox.local")
        message.add_alternative(email.html.replace("{cid}", cid[1:-1]), subtype="html")
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        html_part.add_related(email.image, maintype="image", subtype="png", cid=cid)
        context = ssl.create_default_context(cafile=str(c.tls_ca) if c.tls_ca else None)
        try:
            with smtplib.SMTP(c.host, c.port, timeout=self.timeout_s) as smtp:
                if c.starttls:
                    smtp.starttls(context=context)
                password = _secret(c.password_file, "the SMTP password file")
                if c.username:
                    smtp.login(c.username, password or "")
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
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {exc}") from None


class TwilioSms:
    """SMS through a Twilio-style HTTP gateway."""

    def __init__(self, config: SmsConfig, *, timeout_s: float = 30.0) -> None:
        self.config = config
        self.timeout_s = timeout_s

    def send(self, to: str, body: str) -> None:
        c = self.config
        token = _secret(c.token_file, "the SMS token file") or ""
        url = f"{c.gateway_url.rstrip('/')}/Accounts/{urllib.parse.quote(c.account)}/Messages.json"
        if not url.startswith(("https://", "http://")):
            raise DeliveryError(
                f"the SMS gateway URL {c.gateway_url!r} is not an http(s) URL", permanent=True
            )
        request = urllib.request.Request(  # noqa: S310 (checked to be http(s) above)
            url,
            data=urllib.parse.urlencode({"To": to, "From": c.sender, "Body": body}).encode(),
            method="POST",
            headers={
                "Authorization": "Basic "
                + base64.b64encode(f"{c.account}:{token}".encode()).decode(),
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
            raise DeliveryError(f"SMS gateway {c.gateway_url}: {exc}") from None


def compose_email(doc: Document, *, store: str, receipt: str, gift: bool, to: str) -> Email:
    """The email for receipt document `doc`: its text, an HTML part with its image."""
    text = doc.text()
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>Thank you for shopping at {store.replace('&', '&amp;').replace('<', '&lt;')}."
        " Your receipt:</p>"
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


def compose_sms(
    *,
    store: str,
    receipt: str,
    gift: bool,
    total: int | None,
    currency: str,
    locale: str,
    link_base: str,
) -> str:
    """The text of an SMS receipt: the store, the number, the total (not on a gift receipt)
    and the link when the store has one."""
    parts = [f"{store}: receipt {receipt}"]
    if total is not None and not gift:
        parts.append(f"total {currency} {money(total, currency, locale)}")
    text = ", ".join(parts) + "."
    if link_base:
        text += f" {link_base.rstrip('/')}/{urllib.parse.quote(receipt)}"
    return text + " Thank you!"
