"""bench/reorder_sim.py on a tiny chain: it runs, it is reproducible, and its stock balances."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cloud.reorder import Policy

ROOT = Path(__file__).resolve().parents[2]


def _sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reorder_sim", ROOT / "bench" / "reorder_sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reorder_sim"] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_simulation_balances_and_repeats() -> None:
    sim = _sim()
    policies = ["gut", "weekly", "daily@0.99"]
    results = sim.simulate(7, 3, 12, 4, policies, Policy())
    assert [r.policy for r in results] == [
        "gut",
        "weekly, run-out cost 5.00 €",
        "daily, 99 % service level",
    ]
    world = sim.make_world(7, 3, 12, 4)
    demand = [
        sum(sum(world.demand[(s, k)][world.first_test :]) for k in range(12)) for s in range(3)
    ]
    for res in results:
        # start + received + transferred in − out − sold = end, for every store × SKU.
        assert sim.check_balance(res) == []
        assert res.days == 28
        # Every unit asked for was either sold or lost, store by store.
        sold = [0, 0, 0]
        for (s, _k), row in res.ledger.items():
            sold[s] += row[4]
        assert [sold[s] + res.lost[s] for s in range(3)] == res.demand == demand
        assert sum(res.stockout_days) == sum(res.short_days.values())
        assert all(res.stockout_days[s] <= 12 * 28 for s in range(3))
        # Transfers move stock, they do not make it: what left one store reached another
        # or is still on the road at the end.
        t_in = sum(row[2] for row in res.ledger.values())
        t_out = sum(row[3] for row in res.ledger.values())
        assert t_in <= t_out == res.transferred
    # The gut policy makes no transfers; the same seed gives the same figures again.
    assert results[0].transferred == 0
    again = sim.simulate(7, 3, 12, 4, policies, Policy())
    assert [(r.stockout_days, r.value_days) for r in again] == [
        (r.stockout_days, r.value_days) for r in results
    ]


def test_a_broken_ledger_is_caught() -> None:
    sim = _sim()
    res = sim.simulate(3, 2, 5, 2, ["gut"], Policy())[0]
    key = next(iter(res.ledger))
    res.ledger[key][4] += 1
    assert len(sim.check_balance(res)) == 1
