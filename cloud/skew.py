"""Register clocks the cloud can tell are wrong: a `clock_skew` alert, once per origin per batch.

The stock fold trusts each register's HLC, and neither the Pis nor the registers have a
real-time clock (ARCHITECTURE.md, "Identities, numbers, time"), so HQ should hear of a clock
that is off. Two things in a batch give one away, each beyond `SKEW_MS` (the HLC's own
5 minutes):

* an HLC ahead of the cloud's clock at ingest: no delay in delivery makes a stamp from the
  future, so the register's clock is fast;
* an HLC far from the event's own `at`: the register's wall clock was set back while its HLC,
  which never goes backwards, held on.

A clock that runs slow leaves neither, because its events look like late ones and an offline
day makes late events normal; the appliance, which hears live events as they are made, is
where a slow clock shows (its `clock_ahead` and `clock_behind` review flags, appliance/push.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from protocol.envelope import parse_at
from protocol.hlc import DEFAULT_MAX_AHEAD_MS

if TYPE_CHECKING:
    from cloud.ingest import Item

_log = logging.getLogger(__name__)

SKEW_MS = DEFAULT_MAX_AHEAD_MS


def skewed(items: Sequence[Item], now_ms: int) -> dict[str, dict[str, Any]]:
    """Per origin whose clock the batch shows wrong, what shows it (the alert's details)."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        env = item.envelope
        wall = item.hlc.wall_ms
        ahead = wall - now_ms
        off_at = wall - parse_at(env.at)
        if ahead <= SKEW_MS and abs(off_at) <= SKEW_MS:
            continue
        seen = found.get(env.origin)
        if seen is None:
            found[env.origin] = {
                "origin": env.origin,
                "event": env.id,
                "seq": env.seq,
                "hlc": env.hlc,
                "at": env.at,
                "events": 1,
                "ahead_ms": ahead,
                "hlc_minus_at_ms": off_at,
            }
        else:
            seen["events"] += 1
            seen["ahead_ms"] = max(seen["ahead_ms"], ahead)
            if abs(off_at) > abs(seen["hlc_minus_at_ms"]):
                seen["hlc_minus_at_ms"] = off_at
    return found


def flag_clock_skew(
    conn: psycopg.Connection[Any], store: str, items: Sequence[Item], now_ms: int | None = None
) -> None:
    """Raise one `clock_skew` alert per origin the batch shows a wrong clock for, in the
    caller's transaction (nothing is written, and no query made, when every clock looks right)."""
    found = skewed(items, time.time_ns() // 1_000_000 if now_ms is None else now_ms)
    if not found:
        return
    conn.execute(
        "INSERT INTO alert (kind, store, details) SELECT 'clock_skew', %s, unnest(%s::jsonb[])",
        (store, [Jsonb(details) for details in found.values()]),
    )
    for origin, details in found.items():
        _log.warning(
            "clock skew store=%s origin=%s events=%s ahead_ms=%s hlc_minus_at_ms=%s id=%s",
            store,
            origin,
            details["events"],
            details["ahead_ms"],
            details["hlc_minus_at_ms"],
            details["event"],
        )
