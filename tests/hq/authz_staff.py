"""The authorization matrix's rows for the staff pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): ids the paths use (made fresh for each case; store is the one the request
names, "s01" in the manager's scope or "s02" outside it).
"""

from __future__ import annotations

from typing import Any

from tests.hq.authz import Case
from tests.hq.conftest import Hq

CASES: dict[str, Case] = {}
SNAPSHOT: tuple[str, ...] = ()


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """Nothing to prepare yet."""
    return {}
