"""Catalog down-sync: the cloud's catalog changes, pulled in pages and applied in order.

The cloud announces its catalog version on the retained `tillbox/v1/catalog/head`. When it
is not the version this store has applied (`cloud_catalog.version`), the store asks on its
`rpc/catalog` topic for the changes since that version (MQTT 5: a ResponseTopic of its own
and CorrelationData), one request in flight, asked again after a timeout that doubles.
Each page is applied in one SQLite transaction with the catalog's own upsert (the code a
CSV import runs) together with the new version, so a crash leaves either the whole page
and its version or neither: the pull carries on from there, and a page applied twice
changes nothing. A page the upsert refuses is not applied at all; why is logged and kept
in `cloud_catalog.problem` for the sync status, and the page is asked for again later (the
cloud's catalog may have been corrected meanwhile).

The cloud is the catalog's master: a barcode that a page gives to a SKU is taken off a
variant the page leaves alone (that variant's own change follows later in the feed).

Everything here runs on the uplink's worker thread except `heard`, which paho's thread
calls and which only queues.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.catalog.barcodes import Barcode, BarcodeError, parse_barcode
from appliance.catalog.records import Problem, VariantInput
from appliance.catalog.upsert import rebuild_variants, upsert_variants
from appliance.runtime import Runtime
from protocol.catalog import CatalogChange, ChangesReply, ChangesRequest, parse_head
from protocol.topics import catalog_head_topic, catalog_reply_topic, catalog_request_topic

_log = logging.getLogger(__name__)

# publish(topic, payload, properties): the uplink's MQTT client.
Publish = Callable[[str, bytes, Properties], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudCatalog:
    """The store's side of the catalog down-sync, as kept in SQLite."""

    version: int
    head: int | None
    applied_ms: int | None
    problem: str | None
    problem_ms: int | None


def read_state(rt: Runtime) -> CloudCatalog:
    """The cloud catalog version applied here, the head last heard, and the last problem."""
    row = rt.db.one(
        "SELECT version, head, applied_ms, problem, problem_ms FROM cloud_catalog WHERE id = 1"
    )
    assert row is not None  # the migration made the row
    return CloudCatalog(
        version=int(row["version"]),
        head=row["head"],
        applied_ms=row["applied_ms"],
        problem=row["problem"],
        problem_ms=row["problem_ms"],
    )


def _json_list(values: Sequence[object] | dict[str, int]) -> str:
    """Many values as one bound parameter, for `IN (SELECT value FROM json_each(?))`."""
    return msgspec.json.encode(list(values)).decode()


class PageRefused(Exception):
    """A page of the cloud's changes that this store cannot apply; nothing of it was."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.column}: {p.reason}" for p in problems[:5]))


def to_inputs(
    changes: Sequence[CatalogChange], tax_classes: Sequence[str]
) -> tuple[list[VariantInput], list[Problem]]:
    """The page as the upsert's inputs, each change's seq as its row, the latest change of
    a SKU only (a variant may come twice: its own change and its store price's)."""
    latest: dict[str, CatalogChange] = {}
    for change in changes:
        latest.pop(change.sku.upper(), None)
        latest[change.sku.upper()] = change
    inputs: list[VariantInput] = []
    problems: list[Problem] = []
    for change in latest.values():
        codes: list[Barcode] = []
        for display in change.barcodes:
            try:
                codes.append(parse_barcode(display))
            except BarcodeError as exc:
                problems.append(Problem(row=change.seq, column="barcodes", reason=str(exc)))
        if change.tax_class not in tax_classes:
            reason = f"tax class {change.tax_class!r} is not one of {', '.join(tax_classes)}"
            problems.append(Problem(row=change.seq, column="tax_class", reason=reason))
        inputs.append(
            VariantInput(
                row=change.seq,
                sku=change.sku,
                product=change.product,
                options=tuple(change.options.items()),
                barcodes=tuple(codes),
                category=change.category,
                vendor=change.vendor,
                cost=change.cost,
                price=change.price,
                tax_class=change.tax_class,
                reorder_point=change.reorder_point,
                reorder_qty=change.reorder_qty,
                pack_size=change.pack_size,
                active=change.active,
            )
        )
    return inputs, problems


def apply_page(
    rt: Runtime, since: int, reply: ChangesReply, *, uids: Mapping[str, str] | None = None
) -> int:
    """Apply one page of the cloud's changes and record `reply.next` as the version, in one
    transaction; the version now applied. Raises PageRefused, having written nothing.
    `uids` gives new variants their ids from before (a restore from the cloud)."""
    db = rt.db
    with db.write():
        applied = read_state(rt).version
        if applied != since:
            # Another page moved the version meanwhile (a late reply to an old request).
            return applied
        inputs, problems = to_inputs(reply.changes, rt.settings.tax_classes)
        if problems:
            raise PageRefused(problems)
        _take_barcodes(rt, inputs)
        report = upsert_variants(rt, inputs, uids=uids)
        if not report.applied:
            raise PageRefused(report.problems)
        db.execute(
            "UPDATE cloud_catalog SET version = ?, head = MAX(COALESCE(head, 0), ?),"
            " applied_ms = ?, problem = NULL, problem_ms = NULL WHERE id = 1",
            (reply.next, reply.head, rt.now_ms()),
        )
    _log.info(
        "store %s: cloud catalog %s → %s (head %s): %s created, %s updated, %s unchanged",
        rt.store,
        since,
        reply.next,
        reply.head,
        report.created,
        report.updated,
        report.unchanged,
    )
    return reply.next


def _take_barcodes(rt: Runtime, inputs: Sequence[VariantInput]) -> None:
    """Take the page's barcodes off variants the page leaves alone (the cloud has moved them;
    their own changes come later in the feed), rebuilding those variants' documents."""
    skus = {item.sku.upper() for item in inputs}
    codes = [code.key for item in inputs for code in item.barcodes]
    if not codes:
        return
    losing: dict[str, int] = {}
    for row in rt.db.query(
        "SELECT b.code, v.id, v.sku FROM barcode b JOIN variant v ON v.id = b.variant_id"
        " WHERE b.code IN (SELECT value FROM json_each(?))",
        (_json_list(codes),),
    ):
        if row["sku"].upper() not in skus:
            losing[row["code"]] = row["id"]
    if not losing:
        return
    rt.db.execute(
        "DELETE FROM barcode WHERE code IN (SELECT value FROM json_each(?))",
        (_json_list(losing),),
    )
    rebuild_variants(rt, sorted(set(losing.values())))


def record_head(rt: Runtime, head: int) -> None:
    """Keep the cloud's catalog version as last heard, for the sync status."""
    with rt.db.write():
        rt.db.execute("UPDATE cloud_catalog SET head = ? WHERE id = 1", (head,))


def record_problem(rt: Runtime, problem: str) -> None:
    """Keep why the last page was refused, for the sync status."""
    with rt.db.write():
        rt.db.execute(
            "UPDATE cloud_catalog SET problem = ?, problem_ms = ? WHERE id = 1",
            (problem, rt.now_ms()),
        )


def reset(rt: Runtime) -> None:
    """Start again from version 0 (the cloud's catalog is older than what was applied)."""
    with rt.db.write():
        rt.db.execute("UPDATE cloud_catalog SET version = 0 WHERE id = 1")


@dataclass
class _Asked:
    correlation: bytes
    since: int
    deadline: float
    timeout_s: float


class CatalogPull:
    """The catalog side of the uplink: hears the head and replies, asks for pages."""

    def __init__(self, rt: Runtime, publish: Publish) -> None:
        self.rt = rt
        self.store = rt.store
        self._publish = publish
        self._heard: queue.Queue[tuple[str, bytes, bytes | None]] = queue.Queue()
        self.applied = read_state(rt).version
        self.head: int | None = None
        self._asked: _Asked | None = None
        self.reply_topic = catalog_reply_topic(self.store)

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the uplink subscribes to on connect, for the catalog."""
        return [(catalog_head_topic(), 1), (self.reply_topic, 1)]

    # ---- paho's thread ---------------------------------------------------------------------

    def heard(self, topic: str, payload: bytes, correlation: bytes | None) -> bool:
        """Queue a message if it is the catalog's; whether it was."""
        if topic not in (catalog_head_topic(), self.reply_topic):
            return False
        self._heard.put((topic, payload, correlation))
        return True

    # ---- the uplink's worker thread ----------------------------------------------------

    def connected(self) -> None:
        """A new connection: whatever was asked may have been lost with the old one."""
        if self._asked is not None:
            self._asked.deadline = 0.0

    def drain(self) -> None:
        """Handle what was heard."""
        while True:
            try:
                topic, payload, correlation = self._heard.get_nowait()
            except queue.Empty:
                return
            if topic == self.reply_topic:
                self._on_reply(payload, correlation)
                continue
            version = parse_head(payload)
            if version is None:
                _log.warning("store %s: ignored a catalog head %.200r", self.store, payload)
                continue
            if version != self.head:
                record_head(self.rt, version)
            self.head = version
            asked = self._asked
            # A newer head while waiting out a refused page: ask again now.
            if (
                asked is not None
                and asked.deadline > time.monotonic()
                and read_state(self.rt).problem is not None
            ):
                asked.deadline = 0.0

    def step(self) -> None:
        """Ask for the next page when the head is not what is applied and nothing is asked,
        or what was asked has had no answer in time."""
        if self.head is None or (self.head == self.applied and self._asked is None):
            return
        now = time.monotonic()
        asked = self._asked
        if asked is not None and now < asked.deadline:
            return
        settings = self.rt.settings
        timeout_s = settings.sync_ack_timeout_ms / 1000
        if asked is not None and asked.deadline:
            timeout_s = min(asked.timeout_s * 2, settings.sync_ack_timeout_max_ms / 1000)
            _log.info(
                "store %s: asking the cloud again for catalog changes since %s",
                self.store,
                self.applied,
            )
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        request = ChangesRequest(since=self.applied, limit=settings.sync_catalog_page)
        self._publish(catalog_request_topic(self.store), msgspec.json.encode(request), props)
        self._asked = _Asked(
            correlation=correlation,
            since=self.applied,
            deadline=now + timeout_s,
            timeout_s=timeout_s,
        )

    def _on_reply(self, payload: bytes, correlation: bytes | None) -> None:
        asked = self._asked
        if asked is None or correlation != asked.correlation:
            _log.debug("store %s: ignored a catalog reply to another request", self.store)
            return
        try:
            reply = msgspec.json.decode(payload, type=ChangesReply)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # Asked again after the timeout; a cloud that keeps sending this is reported.
            _log.error("store %s: a catalog reply that is not one: %s", self.store, exc)
            record_problem(self.rt, f"the cloud's reply could not be read: {exc}")
            return
        if reply.next < asked.since:
            _log.warning(
                "store %s: the cloud's catalog (head %s) is older than the version applied here"
                " (%s): applying it again from 0",
                self.store,
                reply.head,
                asked.since,
            )
            reset(self.rt)
            self.applied, self.head, self._asked = 0, reply.head, None
            return
        try:
            self.applied = apply_page(self.rt, asked.since, reply)
        except PageRefused as exc:
            seqs = sorted({p.row for p in exc.problems})
            reason = (
                f"catalog changes {asked.since + 1}–{reply.next} refused, nothing of them"
                f" applied: change {seqs[0] if seqs else '?'}: {exc}"
            )
            _log.error("store %s: %s", self.store, reason)
            record_problem(self.rt, reason)
            # Asked again when the timeout (doubling) runs out, or at once on a newer head.
            return
        self.head = reply.head if self.head is None else max(self.head, reply.head)
        self._asked = None
