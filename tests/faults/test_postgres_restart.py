"""Fault 8: PostgreSQL goes away in the middle of ingest, twice, and comes back.

The cloud's database is a cluster of the test's own (the shared server is never touched).
While a store drains its journal through a real `IngestWorker`, the cluster is stopped in
`immediate` mode (every backend quits at once, no checkpoint) and later the postmaster is
SIGKILLed; each time it is started again, recovering from its WAL. Meanwhile the worker holds
the batch it has and retries, no ack reaches the appliance, and the store keeps trading.
Afterwards the cloud must hold exactly the journal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud import worker as worker_module
from cloud.migrate import connect
from cloud.worker import BrokerSettings, IngestWorker
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.faults.cloudside import Cluster, open_shop, own_cluster, uplink, wait_synced
from tests.faults.invariants import assert_converged
from tests.faults.test_worker_kill import SEED, cloud_cursor


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with own_cluster() as started:
        yield started


@pytest.mark.parametrize(
    ("batch_events", "events", "marks"),
    [
        pytest.param(3, 150, (30, 90), id="small-batches"),
        # Above ingest's COPY threshold: PostgreSQL goes while COPYed batches flow.
        pytest.param(200, 900, (200, 600), id="copied-batches"),
    ],
)
def test_the_worker_holds_its_batch_while_postgresql_restarts_and_nothing_is_lost(
    tmp_path: Path,
    cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    batch_events: int,
    events: int,
    marks: tuple[int, int],
) -> None:
    # The worker's back-off as it is, only quicker, so the test waits less.
    monkeypatch.setattr(worker_module, "RETRY_MIN_S", 0.1)
    monkeypatch.setattr(worker_module, "RETRY_MAX_S", 1.0)
    dsn = cluster.cloud_database()
    shop = open_shop(tmp_path / "s01", "s01", seed=SEED, skews_ms=(0, -20_000, 45_000))
    shop.trade(events, per_push=25)
    broker = Broker(tmp_path / "broker").start()
    link = uplink(shop, broker, sync_batch_max_events=batch_events)
    worker = IngestWorker(dsn, BrokerSettings(port=broker.port), name="pg-restart", threads=2)
    try:
        worker.start()
        assert worker.wait_subscribed()
        link.start()
        outages = zip((cluster.crash, cluster.kill_postmaster), marks, strict=True)
        for outage, (go, mark) in enumerate(outages):
            wait_for(lambda m=mark: link.cursor() >= m, timeout=30, what=f"ingest past {mark}")
            retries = worker.counters.retries
            go()
            shop.trade(20)
            # The worker notices, keeps the batch in hand and tries again with a back-off.
            wait_for(
                lambda r=retries: worker.counters.retries >= r + 2,
                timeout=20,
                what=f"the worker retrying (outage {outage})",
            )
            held = link.cursor()
            wait_for(lambda r=retries: worker.counters.retries >= r + 3, timeout=20)
            assert link.cursor() == held, "an ack came while PostgreSQL was down"
            assert not link.synced()
            cluster.start()
        shop.trade(20)
        wait_synced([link], timeout=60)
        with connect(dsn) as pg:
            assert cloud_cursor(pg, "s01") == shop.journal.head()
            assert_converged(pg, shop.journal)
            assert pg.execute("SELECT kind, details FROM alert").fetchall() == []
            assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
        assert worker.counters.errors == 0, "a batch failed other than by the outage"
    finally:
        worker.stop()
        link.stop()
        broker.kill()
        shop.close()
