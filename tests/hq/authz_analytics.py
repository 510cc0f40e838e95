"""The authorization matrix's rows for the analytics pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): ids the paths use (made fresh for each case; store is the one the request
names, "s01" in the manager's scope or "s02" outside it).
"""

from __future__ import annotations

from typing import Any

from tests.hq.authz import EVERYONE, Case, _none
from tests.hq.conftest import Hq

# Read-only pages: every role, a store manager for their stores only.
CASES: dict[str, Case] = {
    "hq.analytics": Case(EVERYONE, lambda i: "/hq/analytics", _none),
    "hq.analytics_csv": Case(EVERYONE, lambda i: "/hq/analytics.csv", _none),
}
# Nothing here changes anything.
SNAPSHOT: tuple[str, ...] = ()


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """Nothing to prepare: the pages read whatever the rollups hold."""
    return {}
