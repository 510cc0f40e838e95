"""`tillbox cloud demo`: two demo stores and the cloud on one machine, with events flowing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import requests

from appliance.settings import DATABASE_FILE
from cloud.demo import DemoOptions, run_demo
from cloud.worker import BrokerSettings
from tests.appliance.sync.mqtt_fakes import Broker, free_port, free_port_run
from tests.faults.invariants import Journal, assert_converged

Conn = psycopg.Connection[Any]
_HQ_LINE = re.compile(r"HQ at (http://127\.0\.0\.1:\d+/hq/)\s+sign in as (\S+), password (\S+)$")
_ROW = re.compile(r'<tr data-store="(d0[12])">(.*?)</tr>', re.S)


class HqVisitor:
    """Someone who reads the demo's printed HQ address and credentials, signs in, and opens
    the fleet page at each report, noting each store's state there."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.browser = requests.Session()
        self.signed_in = False
        self.seen: dict[str, set[str]] = {"d01": set(), "d02": set()}

    def __call__(self, line: str) -> None:
        self.said.append(line)
        if not (line.startswith("store ") and "sales in cloud" in line):
            return  # only at each report's header line
        printed = next((m for m in map(_HQ_LINE.search, self.said) if m), None)
        assert printed, self.said
        base, username, password = printed.groups()
        if not self.signed_in:
            form = self.browser.get(base + "login", timeout=10)
            assert form.status_code == 200, form.text
            token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
            assert token
            answer = self.browser.post(
                base + "login",
                data={"csrf_token": token.group(1), "username": username, "password": password},
                allow_redirects=False,
                timeout=30,
            )
            assert answer.status_code == 303, answer.text
            self.signed_in = True
        fleet = self.browser.get(base + "fleet", timeout=10, allow_redirects=False)
        assert fleet.status_code == 200, fleet.status_code
        for store, row in _ROW.findall(fleet.text):
            state = re.search(r'<span class="pill \w+">([^<]+)</span>', row)
            assert state
            self.seen[store].add(state.group(1))


def test_the_demo_drains_two_stores_history_and_their_live_sales_into_the_cloud(
    cloud_dsn: str, pg: Conn, tmp_path: Path
) -> None:
    broker = Broker(tmp_path / "broker").start()
    visitor = HqVisitor()
    said = visitor.said
    try:
        stores = run_demo(
            DemoOptions(
                dsn=cloud_dsn,
                broker=BrokerSettings(port=broker.port),
                data=tmp_path / "stores",
                stores=("d01", "d02"),
                base_port=free_port_run(2),
                sale_every_s=0.2,
                seconds=4,
                report_every_s=1,
                hq_port=free_port(),
            ),
            echo=visitor,
        )
    finally:
        broker.kill()
    assert [s.store for s in stores] == ["d01", "d02"]
    for store in stores:
        assert store.till is not None and store.till.sold >= 3
        assert_converged(pg, Journal(store.store, store.data / DATABASE_FILE))
    # The last report shows both stores level with the cloud.
    final = said[-2:]
    assert all(line.split()[3] == "0" for line in final), said[-3:]
    assert any("creating a demo store" in line for line in said)
    # HQ's fleet page, signed in with the printed credentials, showed both stores online.
    assert visitor.signed_in
    assert "online" in visitor.seen["d01"] and "online" in visitor.seen["d02"], visitor.seen
    assert any("receipts worker writing" in line for line in said)
