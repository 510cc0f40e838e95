"""Digital receipts sent by the cloud (decisions.md §48).

Ingest queues each `receipt.requested` for email or SMS that the store's appliance handed to
the cloud (the batch's `cloud_sends`) in `receipt_message`, in the batch's transaction
(`queue_requests`). `tillbox cloud receipts` runs a `ReceiptWorker`: any number of them, each
taking one due message at a time with FOR UPDATE SKIP LOCKED and holding that row lock while
it sends, so no two workers send the same message, and one that dies mid-send (its connection
gone, its transaction rolled back) leaves the message queued for the next. The receipt is laid
out from the `sale.completed` event's body, the store's directory (its settings, registers and
staff) and the chain catalog's titles, by the same layout, composing, sending and retry rules
as the appliance (`appliance/receipts/sale.py`, `sending.py`).

Delivery is at least once: a worker killed after the SMTP server took the message but before
its commit sends it again (SMTP has no way to ask whether a message already went).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from appliance.catalog.records import variant_title
from appliance.receipts.sale import (
    ReceiptLine,
    ReceiptStore,
    ReceiptTender,
    SaleReceipt,
    sale_document,
)
from appliance.receipts.sending import (
    GIVE_UP_AFTER_MS,
    DeliveryError,
    Mailer,
    SmsGateway,
    address_problem,
    compose_email,
    compose_sms,
    normal_address,
    retry_delay_ms,
)
from protocol.bodies import ReceiptRequested, SaleCompleted, decode_body
from protocol.pricing import (
    Discount,
    DiscountKind,
    LineInput,
    TaxMode,
    TaxRounding,
    price_sale,
)

if TYPE_CHECKING:
    from cloud.ingest import Item

Conn = psycopg.Connection[Any]
_log = logging.getLogger(__name__)

# A sale comes in the same or an earlier batch than its receipt request, so this passes
# unless the sale was refused; it is retried like any failure that may pass, then given up.
_NO_SALE_ERROR = "the sale of receipt {receipt} is not in the cloud yet"


def queue_requests(conn: Conn, store: str, items: Sequence[Item]) -> None:
    """Queue the cloud's receipt requests of a batch (inside its transaction), once each. One
    whose address cannot be sent to is written as failed with the reason, never tried."""
    rows = []
    for item in items:
        body: ReceiptRequested = item.body
        problem = address_problem(body.channel, body.to)
        address = body.to or ""
        if problem is None:
            address = normal_address(body.channel, address)
        rows.append(
            (
                item.envelope.id,
                store,
                body.channel,
                address,
                body.receipt,
                body.gift,
                "queued" if problem is None else "failed",
                problem,
            )
        )
        if problem is not None:
            _log.warning("store=%s event=%s receipt not sent: %s", store, item.envelope.id, problem)
    conn.cursor().executemany(
        "INSERT INTO receipt_message (event, store, channel, address, receipt, gift, state,"
        " last_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event) DO NOTHING",
        rows,
    )


# ---- the receipt, from what the cloud holds ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudReceipt:
    store: ReceiptStore
    sale: SaleReceipt
    locale: str


def _tax_rate(settings: dict[str, Any], tax_class: str | None) -> int | None:
    classes, rates = settings.get("tax_classes"), settings.get("tax_rates_ppm")
    if tax_class is None or not isinstance(classes, list) or not isinstance(rates, list):
        return None
    if tax_class not in classes or classes.index(tax_class) >= len(rates):
        return None
    rate = rates[classes.index(tax_class)]
    return rate if isinstance(rate, int) else None


def _discount(body: Any) -> Discount | None:
    return None if body is None else Discount(kind=DiscountKind(body.kind), value=body.value)


def load_receipt(conn: Conn, receipt: str) -> CloudReceipt | None:
    """Receipt `receipt` as the cloud can lay it out, or None when its sale is not here."""
    row = conn.execute(
        "SELECT store, envelope, EXISTS (SELECT 1 FROM event v WHERE v.type = 'sale.voided'"
        " AND v.envelope #>> '{body,receipt}' = %(r)s) FROM event"
        " WHERE type = 'sale.completed' AND envelope #>> '{body,receipt}' = %(r)s"
        " ORDER BY at LIMIT 1",
        {"r": receipt},
    ).fetchone()
    if row is None:
        return None
    store, envelope, voided = row
    sale = decode_body("sale.completed", envelope["body"])
    assert isinstance(sale, SaleCompleted)
    found = conn.execute(
        "SELECT d.settings, s.name, (SELECT name FROM store_register"
        " WHERE store = %(s)s AND id = %(o)s), (SELECT name FROM store_staff"
        " WHERE store = %(s)s AND id = %(a)s) FROM store s"
        " LEFT JOIN store_directory d ON d.store = s.id WHERE s.id = %(s)s",
        {"s": store, "o": envelope["origin"], "a": envelope.get("actor")},
    ).fetchone()
    settings: dict[str, Any] = (found[0] if found else None) or {}
    store_name, register, staff = found[1:] if found else (None, None, None)
    variants = {
        uid: (sku, product, options, tax_class)
        for uid, sku, product, options, tax_class in conn.execute(
            "SELECT sv.uid::text, sv.sku, p.name, v.options, v.tax_class FROM store_variant sv"
            " LEFT JOIN catalog_variant v ON upper(v.sku) = upper(sv.sku)"
            " LEFT JOIN catalog_product p ON p.id = v.product_id"
            " WHERE sv.store = %s AND sv.uid = ANY(%s::uuid[])",
            (store, sorted({line.variant for line in sale.lines})),
        )
    }
    rates = [_tax_rate(settings, variants.get(line.variant, (None,) * 4)[3]) for line in sale.lines]
    mode = settings.get("tax_mode", "inclusive")
    priced = price_sale(
        [
            LineInput(
                qty=line.qty,
                qty_scale=line.qty_scale,
                unit_price=line.unit_price,
                tax_rate_ppm=rate or 0,
                discount=_discount(line.discount),
                voided=line.voided,
            )
            for line, rate in zip(sale.lines, rates, strict=True)
        ],
        order_discount=_discount(sale.order_discount),
        mode=TaxMode(mode),
        rounding=TaxRounding(settings.get("tax_rounding", "line")),
    )
    # The rates are the catalog's today; if they no longer give the sealed totals (or one is
    # not known), the receipt shows the sale's tax without the breakdown by rate.
    exact = (
        None not in rates and priced.total == sale.totals.total and priced.tax == sale.totals.tax
    )

    def title(uid: str) -> str:
        sku, product, options, _ = variants.get(uid, (None,) * 4)
        if product:
            return variant_title(product, dict(options or []))
        return sku or uid

    lines = tuple(
        ReceiptLine(
            title=title(line.variant),
            qty=line.qty,
            qty_scale=line.qty_scale,
            unit_price=line.unit_price,
            gross=result.gross,
            line_discount=result.line_discount,
            total=result.total,
            tax=result.tax,
            tax_rate_ppm=rate if exact else None,
            voided=line.voided,
        )
        for line, result, rate in zip(sale.lines, priced.lines, rates, strict=True)
    )
    tenders = tuple(
        ReceiptTender(
            kind=t.kind,
            amount=t.amount,
            reference=t.reference,
            tendered=t.tendered,
            change=None if t.tendered is None else t.tendered - t.amount,
        )
        for t in sale.tenders
    )
    look = ReceiptStore(
        name=str(settings.get("store_name") or store_name or store),
        header=str(settings.get("receipt_header") or ""),
        footer=str(settings.get("receipt_footer") or ""),
        locale=str(settings.get("locale") or "en-IE"),
        timezone=str(settings.get("timezone") or "UTC"),
        tax_mode=str(mode),
        # An email is read on a screen: the 80 mm layout, whatever paper the store's
        # printers take.
        width=48,
    )
    data = SaleReceipt(
        receipt=sale.receipt,
        at=envelope["at"],
        register=register or envelope["origin"],
        staff=staff,
        currency=sale.currency,
        lines=lines,
        tenders=tenders,
        subtotal=sale.totals.subtotal,
        discount=sale.totals.discount,
        tax=sale.totals.tax,
        total=sale.totals.total,
        voided=bool(voided),
    )
    return CloudReceipt(store=look, sale=data, locale=look.locale)


# ---- the worker ----------------------------------------------------------------------------


class ReceiptWorker:
    """Sends the cloud's queued digital receipts, one claimed row at a time."""

    def __init__(
        self,
        dsn: str,
        *,
        mailer: Mailer | None,
        sms: SmsGateway | None,
        link_base: str = "",
        name: str = "receipts",
        poll_s: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.mailer = mailer
        self.sms = sms
        self.link_base = link_base
        self.name = name
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self.sent = self.failed = self.retried = 0

    def request_stop(self) -> None:
        """Ask `run_forever` to stop after the message in hand (safe from a signal handler)."""
        self._stopping.set()

    def run_forever(self) -> None:
        """Send until asked to stop; a lost database connection is opened again."""
        from cloud.migrate import connect

        pause = self.poll_s
        while not self._stopping.is_set():
            try:
                with connect(self.dsn) as conn:
                    _log.info("receipts worker %s: connected", self.name)
                    pause = self.poll_s
                    while not self._stopping.is_set():
                        if self.run_once(conn) == 0:
                            self._stopping.wait(self.poll_s)
            except psycopg.OperationalError as exc:
                _log.warning("receipts worker %s: PostgreSQL: %s", self.name, exc)
                self._stopping.wait(pause)
                pause = min(pause * 2, 30.0)
        _log.info(
            "receipts worker %s stopped: sent=%s retried=%s failed=%s",
            self.name,
            self.sent,
            self.retried,
            self.failed,
        )

    def run_once(self, conn: Conn, *, limit: int = 20) -> int:
        """Send up to `limit` due messages, each in its own transaction; how many were tried."""
        channels = [c for c, able in (("email", self.mailer), ("sms", self.sms)) if able]
        if not channels:
            return 0
        tried = 0
        while tried < limit and not self._stopping.is_set():
            with conn.transaction():
                row = conn.execute(
                    "SELECT event::text, store, channel, address, receipt, gift, attempts,"
                    " (extract(epoch FROM now() - created_at) * 1000)::bigint"
                    " FROM receipt_message WHERE state = 'queued' AND next_attempt_at <= now()"
                    " AND channel = ANY(%s) ORDER BY next_attempt_at LIMIT 1"
                    " FOR UPDATE SKIP LOCKED",
                    (channels,),
                ).fetchone()
                if row is None:
                    return tried
                tried += 1
                self._send(conn, *row)
        return tried

    def _send(
        self,
        conn: Conn,
        event: str,
        store: str,
        channel: str,
        address: str,
        receipt: str,
        gift: bool,
        attempts: int,
        age_ms: int,
    ) -> None:
        try:
            found = load_receipt(conn, receipt)
            if found is None:
                raise DeliveryError(_NO_SALE_ERROR.format(receipt=receipt))
            if channel == "email":
                assert self.mailer is not None
                doc = sale_document(found.store, found.sale, gift=gift)
                self.mailer.send(
                    compose_email(
                        doc, store=found.store.name, receipt=receipt, gift=gift, to=address
                    )
                )
            else:
                assert self.sms is not None
                text = compose_sms(
                    store=found.store.name,
                    receipt=receipt,
                    gift=gift,
                    total=found.sale.total,
                    currency=found.sale.currency,
                    locale=found.locale,
                    link_base=self.link_base,
                )
                self.sms.send(address, text)
        except DeliveryError as exc:
            give_up = exc.permanent or age_ms > GIVE_UP_AFTER_MS
            conn.execute(
                "UPDATE receipt_message SET attempts = attempts + 1, last_error = %s,"
                " state = %s, next_attempt_at = now() + make_interval(secs => %s)"
                " WHERE event = %s",
                (
                    str(exc),
                    "failed" if give_up else "queued",
                    retry_delay_ms(attempts) / 1000,
                    event,
                ),
            )
            if give_up:
                self.failed += 1
            else:
                self.retried += 1
            (_log.error if give_up else _log.warning)(
                "store=%s event=%s %s receipt %s %s: %s",
                store,
                event,
                channel,
                receipt,
                "failed" if give_up else "will be retried",
                exc,
            )
            return
        conn.execute(
            "UPDATE receipt_message SET state = 'sent', sent_at = now(),"
            " attempts = attempts + 1, last_error = NULL WHERE event = %s",
            (event,),
        )
        self.sent += 1
        _log.info("store=%s event=%s sent %s receipt %s", store, event, channel, receipt)


__all__ = ["ReceiptWorker", "load_receipt", "queue_requests"]
