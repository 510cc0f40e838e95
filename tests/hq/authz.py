"""The authorization matrix's vocabulary, shared by tests/hq/test_authorization.py and each
page's own table (tests/hq/authz_<page>.py: CASES, SNAPSHOT, prepare)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloud.hq.accounts import HqRole

A, B, M = HqRole.ADMIN, HqRole.BUYER, HqRole.STORE_MANAGER
EVERYONE = frozenset({A, B, M})
CHAIN = frozenset({A, B})


@dataclass(frozen=True)
class Case:
    """Who may use a route (None: anyone), its path from the prepared ids, and the form a
    POST sends (given who is asking)."""

    roles: frozenset[HqRole] | None
    path: Callable[[dict[str, Any]], str]
    form: Callable[[str], dict[str, Any]]


def _none(who: str) -> dict[str, Any]:
    return {}
