"""Low-stock alerts raised as events are ingested (on-hand <= reorder point, or cover < lead time).

Placeholder: `project` is called by cloud/ingest.py in every batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from cloud.ingest import Item, Projected

Conn = psycopg.Connection[Any]


def project(conn: Conn, store: str, items: Sequence[Item], out: Projected) -> None:
    """What this batch changes here (nothing yet)."""
