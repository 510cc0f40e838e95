"""The stores' directory uploads and restore requests, answered beside the catalog's.

`tillbox cloud catalog serve` runs a `StoreResponder`: the catalog responder's connection,
shared subscription group and answering thread (`cloud.catalog_rpc`), plus two more request
topics (decisions.md §42):

- `tillbox/v1/stores/{store}/rpc/directory`: the appliance's directory snapshot and variant
  ids (`protocol.directory.DirectoryUpload`), kept by `cloud.store_directory.apply_upload`;
  the reply (`DirectoryAck`) is the acknowledgement the appliance waits for.
- `tillbox/v1/stores/{store}/rpc/restore`: a replacement appliance's `begin`, `variants` and
  `events` requests.
- `tillbox/v1/stores/{store}/rpc/chain`: questions about the rest of the chain
  (`protocol.chain`: other stores' stock), answered by `cloud.chain` (decisions.md §43).
- `tillbox/v1/stores/{store}/rpc/staff`: the store's staff changes since what it applied
  (`protocol.staff`), from `cloud.staff`; the responder also keeps the retained staff head
  (`tillbox/v1/catalog/staff-head`) current (decisions.md §57).

- `tillbox/v1/stores/{store}/rpc/transfers`: the store's transfers changed since what it
  pulled (`protocol.transfers`), from `cloud.transfers.changes_since` (decisions.md §55).

As for the catalog, a request is answered only on the asking store's own reply topic
(`…/rpc/{name}/reply`) and anything else is logged and dropped. A request that is not one
(bad JSON, a wrong field) is answered with `{"error": …}`, having changed nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud import staff
from cloud.catalog_rpc import CatalogResponder, _Request
from cloud.chain import answer as answer_chain
from cloud.migrate import connect
from cloud.store_directory import apply_upload, restore_begin, restore_events, restore_variants
from cloud.transfers import changes_since as transfer_changes
from protocol.chain import encode as encode_chain
from protocol.directory import (
    DirectoryAck,
    RestoreError,
    parse_restore_request,
    parse_upload,
)
from protocol.staff import StaffHead, StaffReply, staff_head_topic
from protocol.staff import parse_request as parse_staff_request
from protocol.topics import PREFIX, rpc_reply_topic
from protocol.transfers import TransfersReply
from protocol.transfers import parse_request as parse_transfers_request

_log = logging.getLogger(__name__)

NAMES = ("directory", "restore", "chain", "staff", "transfers")


def _answer_directory(conn: psycopg.Connection[Any], store: str, payload: bytes) -> bytes:
    upload = parse_upload(payload)
    if isinstance(upload, str):
        return msgspec.json.encode(DirectoryAck(error=f"not a directory upload: {upload}"))
    # The staff master takes the store's edits in the snapshot's transaction (decisions.md §57).
    try:
        with conn.transaction():
            if upload.directory is not None:
                staff.merge_upload(conn, store, upload.directory)
            ack = apply_upload(conn, store, upload)
            if ack.error is not None:
                raise _Refused(ack)
    except _Refused as refused:
        ack = refused.ack
    return msgspec.json.encode(ack)


class _Refused(Exception):
    """An upload apply_upload refused: what the staff master took from it is rolled back."""

    def __init__(self, ack: DirectoryAck) -> None:
        super().__init__(ack.error)
        self.ack = ack


def _answer_staff(conn: psycopg.Connection[Any], store: str, payload: bytes) -> bytes:
    asked = parse_staff_request(payload)
    if isinstance(asked, str):
        return msgspec.json.encode(StaffReply(error=f"not a staff request: {asked}"))
    return msgspec.json.encode(staff.changes_since(conn, store, asked.since, asked.limit))


def _answer_restore(conn: psycopg.Connection[Any], store: str, payload: bytes) -> bytes:
    request = parse_restore_request(payload)
    if isinstance(request, str):
        return msgspec.json.encode(RestoreError(error=f"not a restore request: {request}"))
    if request.op == "begin":
        return msgspec.json.encode(restore_begin(conn, store))
    if request.op == "variants":
        return msgspec.json.encode(restore_variants(conn, store, request))
    return msgspec.json.encode(restore_events(conn, store, request))


def _asking_store(topic: str, name: str) -> str | None:
    """The store of `tillbox/v1/stores/{store}/rpc/{name}`, or None."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:3]) != f"{PREFIX}/stores" or parts[4:] != ["rpc", name]:
        return None
    return parts[3] or None


def _answer_chain(conn: psycopg.Connection[Any], store: str, payload: bytes) -> bytes:
    return encode_chain(answer_chain(conn, store, payload))


def _answer_transfers(conn: psycopg.Connection[Any], store: str, payload: bytes) -> bytes:
    asked = parse_transfers_request(payload)
    if isinstance(asked, str):
        return msgspec.json.encode(TransfersReply(error=f"not a transfers request: {asked}"))
    return msgspec.json.encode(transfer_changes(conn, store, asked.since, asked.limit))


_HANDLERS = {
    "directory": _answer_directory,
    "restore": _answer_restore,
    "chain": _answer_chain,
    "staff": _answer_staff,
    "transfers": _answer_transfers,
}


class StoreResponder(CatalogResponder):
    """The catalog responder, answering directory uploads and restore requests too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff_head = staff.StaffHead(self.dsn, self._publish_staff_head, poll_s=self.poll_s)

    def _publish_staff_head(self, version: int) -> None:
        payload = msgspec.json.encode(StaffHead(version=version))
        self.client.publish(staff_head_topic(), payload, qos=1, retain=True)

    def start(self) -> StoreResponder:
        """Start answering, and keep the staff head published."""
        super().start()
        self.staff_head.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop answering and the staff head."""
        self.staff_head.stop(timeout)
        super().stop(timeout)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        super()._on_connect(client, userdata, flags, reason, props)
        if not reason.is_failure:
            client.subscribe(
                [(f"$share/{self.group}/{PREFIX}/stores/+/rpc/{name}", 1) for name in NAMES]
            )
            # Published again on each connect, as the catalog head is.
            self.staff_head.due.set()

    def _answer(
        self, conn: psycopg.Connection[Any] | None, request: _Request
    ) -> psycopg.Connection[Any] | None:
        for name in NAMES:
            store = _asking_store(request.topic, name)
            if store is not None:
                return self._answer_store(conn, request, store, name)
        return super()._answer(conn, request)

    def _answer_store(
        self, conn: psycopg.Connection[Any] | None, request: _Request, store: str, name: str
    ) -> psycopg.Connection[Any] | None:
        reply_to = request.response_topic
        if reply_to != rpc_reply_topic(store, name):
            self.dropped += 1
            _log.warning(
                "catalog %s: dropped a %s request on %s (reply to %r)",
                self.name,
                name,
                request.topic,
                reply_to,
            )
            return conn
        try:
            if conn is None or conn.closed:
                conn = connect(self.dsn)
            reply = _HANDLERS[name](conn, store, request.payload)
        except Exception as exc:
            # PostgreSQL away, or a bug: no answer; the store asks again after its timeout.
            _log.warning(
                "catalog %s: could not answer store %s's %s request (%s)",
                self.name,
                store,
                name,
                exc,
            )
            if conn is not None:
                conn.close()
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if request.correlation is not None:
            props.CorrelationData = request.correlation
        self.client.publish(reply_to, reply, qos=1, properties=props)
        self.answered += 1
        return conn
