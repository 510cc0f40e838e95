"""The daily low-stock digest (issue 7; decisions.md §58): `tillbox cloud digest`, run once a
day by a timer, emails each HQ user who asked for it (`hq_digest`, set with `tillbox cloud
digest-to`) the open low-stock alerts of their stores (every store for HQ admins and buyers, a
store manager's own), optionally only some categories, grouped by store, the ones raised since
their last digest marked new. A user with nothing open gets no email. `last_sent_at` moves only
when the SMTP server took the message, so a failed send is retried by the next run with the same
alerts counted new. Mail goes through the same SMTP settings as the receipts worker.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import psycopg

from appliance.receipts.sending import SmtpConfig
from cloud import low_stock

Conn = psycopg.Connection[Any]
_log = logging.getLogger(__name__)

# A user never sent a digest counts alerts raised in the last day as new.
FIRST_WINDOW = timedelta(days=1)
MAX_CATEGORIES = 50


class DigestError(ValueError):
    """A digest setting that cannot be kept; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    user_id: int
    username: str
    name: str
    email: str
    all_stores: bool
    stores: tuple[str, ...]
    categories: tuple[str, ...] | None
    last_sent_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """One user's email."""

    to: str
    subject: str
    text: str
    html: str
    open: int
    new: int


def subscribe(conn: Conn, username: str, email: str, categories: Sequence[str] | None) -> None:
    """Send `username` the digest at `email` (only `categories`, by name, when given)."""
    email = email.strip()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise DigestError(f"{email!r} is not an email address")
    names = [c.strip() for c in categories or () if c.strip()]
    if len(names) > MAX_CATEGORIES:
        raise DigestError(f"at most {MAX_CATEGORIES} categories")
    with conn.transaction():
        user = conn.execute(
            "SELECT id FROM hq_user WHERE lower(username) = lower(%s)", (username,)
        ).fetchone()
        if user is None:
            raise DigestError(f"no HQ user is named {username}")
        if names:
            known = {
                r[0]
                for r in conn.execute(
                    "SELECT lower(name) FROM catalog_category WHERE lower(name) = ANY(%s)",
                    ([n.lower() for n in names],),
                )
            }
            missing = [n for n in names if n.lower() not in known]
            if missing:
                raise DigestError("no category is named " + ", ".join(missing))
        conn.execute(
            "INSERT INTO hq_digest (user_id, email, categories) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET email = excluded.email,"
            " categories = excluded.categories",
            (user[0], email, names or None),
        )


def unsubscribe(conn: Conn, username: str) -> bool:
    """Stop sending `username` the digest; whether they had it."""
    row = conn.execute(
        "DELETE FROM hq_digest d USING hq_user u WHERE u.id = d.user_id"
        " AND lower(u.username) = lower(%s) RETURNING d.user_id",
        (username,),
    ).fetchone()
    return row is not None


def recipients(conn: Conn) -> list[Recipient]:
    """Active HQ users who asked for the digest, with their stores."""
    rows = conn.execute(
        "SELECT u.id, u.username, u.name, d.email, u.role IN ('admin', 'buyer'),"
        " ARRAY(SELECT store FROM hq_user_store s WHERE s.user_id = u.id ORDER BY store),"
        " d.categories, d.last_sent_at"
        " FROM hq_digest d JOIN hq_user u ON u.id = d.user_id WHERE u.active ORDER BY u.id"
    ).fetchall()
    return [
        Recipient(
            user_id=r[0],
            username=r[1],
            name=r[2],
            email=r[3],
            all_stores=r[4],
            stores=tuple(r[5]),
            categories=tuple(r[6]) if r[6] is not None else None,
            last_sent_at=r[7],
        )
        for r in rows
    ]


def compose(conn: Conn, who: Recipient, now: datetime, *, link_base: str = "") -> Digest | None:
    """The user's digest as of `now`, or None when nothing of theirs is low."""
    stores = (
        [r[0] for r in conn.execute("SELECT id FROM store ORDER BY id")]
        if who.all_stores
        else list(who.stores)
    )
    alerts = low_stock.open_alerts(conn, stores)
    if who.categories is not None:
        wanted = {c.lower() for c in who.categories}
        alerts = [a for a in alerts if (a["category"] or "").lower() in wanted]
    if not alerts:
        return None
    since = who.last_sent_at or now - FIRST_WINDOW
    new = [a for a in alerts if a["raised_at"] > since]
    new_ids = {a["id"] for a in new}
    by_store: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        by_store.setdefault(f"{a['store_name']} ({a['store']})", []).append(a)
    subject = f"Tillbox HQ: {len(alerts)} item(s) low in {len(by_store)} store(s), {len(new)} new"
    text = [f"Low stock for {who.name}, {now:%Y-%m-%d %H:%M} UTC.", ""]
    parts = [f"<p>Low stock for {html.escape(who.name)}, {now:%Y-%m-%d %H:%M} UTC.</p>"]
    for store, items in by_store.items():
        text.append(f"{store}: {len(items)} low")
        parts.append(
            f'<h2>{html.escape(store)}: {len(items)} low</h2><table border="1" cellpadding="4">'
            "<tr><th>SKU</th><th>Item</th><th>Category</th><th>Vendor</th><th>On hand</th>"
            "<th>Reorder at</th><th>Days of cover</th><th></th></tr>"
        )
        for a in items:
            mark = "NEW" if a["id"] in new_ids else ""
            cover = "-" if a["cover_days"] is None else f"{a['cover_days']:.1f}"
            point = "-" if a["reorder_point"] is None else str(a["reorder_point"])
            text.append(
                f"  {mark:3} {a['sku']}  {a['product'] or ''}  on hand {a['on_hand']},"
                f" reorder at {point}, cover {cover} d (lead {a['lead_time_days']} d),"
                f" {a['vendor'] or 'no vendor'}"
            )
            cells = (
                a["sku"], a["product"] or "", a["category"] or "", a["vendor"] or "",
                a["on_hand"], point, cover, mark,
            )  # fmt: skip
            parts.append(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
            )
        parts.append("</table>")
        text.append("")
    if link_base:
        link = f"{link_base.rstrip('/')}/hq/reorder?show=low"
        text.append(f"Reorder report: {link}")
        parts.append(f'<p><a href="{html.escape(link)}">Open the reorder report</a></p>')
    return Digest(
        to=who.email,
        subject=subject,
        text="\n".join(text) + "\n",
        html="".join(parts),
        open=len(alerts),
        new=len(new),
    )


def smtp_sender(config: SmtpConfig, *, timeout_s: float = 30.0) -> Callable[[Digest], None]:
    """Send a digest through an SMTP server (STARTTLS and login as the settings say)."""

    def send(digest: Digest) -> None:
        message = EmailMessage()
        message["Subject"] = digest.subject
        message["From"] = config.sender
        message["To"] = digest.to
        message.set_content(digest.text)
        message.add_alternative(digest.html, subtype="html")
        context = ssl.create_default_context(cafile=str(config.tls_ca) if config.tls_ca else None)
        with smtplib.SMTP(config.host, config.port, timeout=timeout_s) as smtp:
            if config.starttls:
                smtp.starttls(context=context)
            if config.username:
                password = (
                    config.password_file.read_text("utf-8").strip() if config.password_file else ""
                )
                smtp.login(config.username, password)
            smtp.send_message(message)

    return send


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    composed: list[str]
    sent: list[str]
    skipped: list[str]
    failed: list[tuple[str, str]]


def run(
    conn: Conn,
    send: Callable[[Digest], None] | None,
    now: datetime,
    *,
    link_base: str = "",
    show: Callable[[Digest], None] | None = None,
) -> Outcome:
    """Compose each recipient's digest and send it (`send` None: a dry run, nothing sent or
    recorded; `show` sees each digest either way). One user's failure does not stop the rest."""
    composed: list[str] = []
    sent: list[str] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    for who in recipients(conn):
        digest = compose(conn, who, now, link_base=link_base)
        if digest is None:
            skipped.append(who.username)
            continue
        composed.append(who.username)
        if show is not None:
            show(digest)
        if send is None:
            continue
        try:
            send(digest)
        except (smtplib.SMTPException, OSError) as exc:
            _log.warning("digest to %s (%s) not sent: %s", who.username, who.email, exc)
            failed.append((who.username, str(exc)))
            continue
        conn.execute(
            "UPDATE hq_digest SET last_sent_at = %s WHERE user_id = %s", (now, who.user_id)
        )
        sent.append(who.username)
    return Outcome(composed=composed, sent=sent, skipped=skipped, failed=failed)
