"""The transfer pull on its own (appliance/sync/transfers_pull.py), with the uplink's publish
replaced by a list and the cloud's answers made by cloud.transfers on the real PostgreSQL:
it asks from the number applied, keeps pages, asks again while short of the head, ignores
answers to other requests, records a refusal, and asks again after a timeout that doubles."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import psycopg
from paho.mqtt.properties import Properties

from appliance import transfers as store_transfers
from appliance.runtime import Runtime
from appliance.sync.transfers_pull import TransfersPull
from cloud import store_rpc
from cloud import transfers as cloud_transfers
from cloud.catalog import import_csv
from protocol.topics import rpc_reply_topic, rpc_request_topic
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import SMALL_CATALOG

Conn = psycopg.Connection[Any]


class Sent:
    """What the pull published: (topic, payload, correlation)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes, bytes]] = []

    def __call__(self, topic: str, payload: bytes, props: Properties) -> None:
        self.items.append((topic, payload, props.CorrelationData))


def _answer(conn: Conn, pull: TransfersPull, sent: Sent) -> None:
    """The cloud's answer to the last request, heard and handled."""
    topic, payload, correlation = sent.items[-1]
    assert topic == rpc_request_topic("s01", "transfers")
    reply = store_rpc._answer_transfers(conn, "s01", payload)
    assert pull.heard(rpc_reply_topic("s01", "transfers"), reply, correlation)
    pull.drain()


def test_pages_are_kept_in_order_and_a_refusal_is_recorded(
    rt: Runtime,
    pg: Conn,  # noqa: F811
) -> None:
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    pg.execute("INSERT INTO store (id) VALUES ('s01'), ('s02'), ('s03') ON CONFLICT DO NOTHING")
    made = [
        cloud_transfers.create(
            pg, from_store="s02", to_store="s01", lines=[("MUG-1", n)], note=None, by="B"
        )
        for n in (1, 2, 3)
    ]
    cloud_transfers.create(
        pg, from_store="s02", to_store="s03", lines=[("MUG-1", 9)], note=None, by="B"
    )
    sent = Sent()
    pull = TransfersPull(rt, sent, interval_s=3600)
    pull.step()
    assert msgspec.json.decode(sent.items[0][1]) == {"since": 0, "limit": 200}
    pull.step()
    assert len(sent.items) == 1  # one request in flight
    # Another request's answer (or another topic) is not ours.
    assert not pull.heard("tillbox/v1/stores/s01/rpc/catalog/reply", b"{}", sent.items[0][2])
    pull.heard(rpc_reply_topic("s01", "transfers"), b'{"transfers":[]}', b"other")
    pull.drain()
    assert store_transfers.version(rt) == 0
    _answer(pg, pull, sent)
    assert sorted(t.id for t in store_transfers.listing(rt)) == sorted(made)
    applied = store_transfers.version(rt)
    assert applied > 0
    # Caught up: the next poll is an interval away.
    pull.step()
    assert len(sent.items) == 1
    pull.poll_now()
    pull.step()
    assert msgspec.json.decode(sent.items[-1][1])["since"] == applied
    _answer(pg, pull, sent)
    assert store_transfers.version(rt) == applied

    # A refusal is recorded for the Transfers page and nothing is applied.
    pull.poll_now()
    pull.step()
    pull.heard(
        rpc_reply_topic("s01", "transfers"),
        b'{"error": "not a transfers request"}',
        sent.items[-1][2],
    )
    pull.drain()
    assert store_transfers.pull_state(rt)["problem"] == "not a transfers request"
    assert store_transfers.version(rt) == applied


def test_no_answer_is_asked_again_after_a_doubling_timeout(rt: Runtime) -> None:
    sent = Sent()
    pull = TransfersPull(rt, sent, interval_s=3600)
    pull.step()
    first = pull._asked
    assert first is not None
    first.deadline = time.monotonic() - 1
    pull.step()
    assert len(sent.items) == 2 and sent.items[0][2] != sent.items[1][2]
    second = pull._asked
    assert second is not None and second.timeout_s == min(
        first.timeout_s * 2, rt.settings.sync_ack_timeout_max_ms / 1000
    )
    # A new connection asks again at once.
    pull.connected()
    pull.step()
    assert len(sent.items) == 3
