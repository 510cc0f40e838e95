"""HQ's navigation offers each role exactly the pages its route lets that role open: no link
that answers 403, no page a role may use missing from its menu."""

from __future__ import annotations

import re

import pytest

from cloud.hq import NAV
from cloud.hq.core import ROUTES
from tests.hq.conftest import ROLES, Hq

_LINK = re.compile(r'<a class="tab[^"]*" href="([^"]+)"[^>]*>([^<]+)</a>')


@pytest.mark.parametrize("who", sorted(ROLES))
def test_navigation_matches_the_routes_roles(hq: Hq, who: str) -> None:
    browser = hq.browser().sign_in(who)
    role = ROLES[who]
    expected = {
        entry.label
        for entry in NAV
        if entry.endpoint is not None
        and any(r.value == role for r in ROUTES[entry.endpoint].roles or ())
    }
    home = browser.get("/hq/")
    assert home.status_code == 200, home.text
    links = {label: href for href, label in _LINK.findall(home.text)}
    assert set(links) == expected, who
    if who == "manager":
        assert "Catalog" in links  # a store manager views it and sets their stores' prices
        assert "Reorder" not in links and "Users" not in links
    for label, href in links.items():
        answer = browser.get(href)
        assert answer.status_code == 200, (who, label, answer.status_code)
