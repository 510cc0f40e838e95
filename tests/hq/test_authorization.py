"""Every HQ route × every role × a store in and out of the user's scope: anonymous browsers go
to the sign-in page (or get 401), roles not allowed get 403 role_required, a store manager
naming another store gets 403 store_out_of_scope, and none of those changes anything; allowed
users get through. The table must name every route the app has, so a new page cannot be added
without saying who may use it."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from cloud.hq.accounts import HqRole
from cloud.hq.core import ROUTES
from tests.cloud.conftest import ResettableDb, resettable_db  # noqa: F401  (the fixture)
from tests.hq.authz import EVERYONE, A, Case, M, _none
from tests.hq.conftest import PASSWORDS, ROLES, Hq, HqBrowser

_CORE: dict[str, Case] = {
    "hq.login": Case(None, lambda i: "/hq/login", _none),
    "hq.login_submit": Case(None, lambda i: "/hq/login", _none),
    # The appliances' enrolment API (JSON only: a form gets 415; tests/hq/test_enrolment.py).
    "hq.enrol": Case(None, lambda i: "/hq/enrol", _none),
    "hq.logout": Case(EVERYONE, lambda i: "/hq/logout", _none),
    "hq.dashboard": Case(EVERYONE, lambda i: "/hq/", _none),
    "hq.account": Case(EVERYONE, lambda i: "/hq/account", _none),
    "hq.password_change": Case(
        EVERYONE,
        lambda i: "/hq/account/password",
        lambda who: {
            "current_password": PASSWORDS.get(who, "x"),
            "new_password": "a-new-password-9",
            "new_password_again": "a-new-password-9",
        },
    ),
    "hq.fleet_view": Case(EVERYONE, lambda i: "/hq/fleet", _none),
    "hq.stock": Case(EVERYONE, lambda i: "/hq/stock", _none),
    "hq.stock_csv": Case(EVERYONE, lambda i: "/hq/stock.csv", _none),
    "hq.users": Case(frozenset({A}), lambda i: "/hq/users", _none),
    "hq.user_add": Case(
        frozenset({A}),
        lambda i: "/hq/users",
        lambda who: {
            "username": "newcomer",
            "name": "New Comer",
            "role": "store_manager",
            "stores": ["s01"],
            "password": "first-password-1",
            "password_again": "first-password-1",
        },
    ),
    "hq.user_role": Case(
        frozenset({A}),
        lambda i: f"/hq/users/{i['target']}/role",
        lambda who: {"role": "buyer"},
    ),
    "hq.user_disable": Case(frozenset({A}), lambda i: f"/hq/users/{i['target']}/disable", _none),
    "hq.user_enable": Case(frozenset({A}), lambda i: f"/hq/users/{i['target']}/enable", _none),
}


@pytest.fixture
def cloud_dsn(resettable_db: ResettableDb) -> str:  # noqa: F811  (this module's own)
    """The module's one database, as new for each case (hundreds of cases: a new copy of the
    template each would take minutes)."""
    resettable_db.reset()
    return resettable_db.dsn


# Each page's own cases, snapshot and setup (tests/hq/authz_<page>.py).
PAGE_MODULES = tuple(
    importlib.import_module(f"tests.hq.authz_{name}")
    for name in ("transfers", "reorder", "analytics", "catalog", "staff", "audit")
)
CASES: dict[str, Case] = dict(_CORE)
# The page module whose prepare() makes what an endpoint's path and form need.
OWNER: dict[str, Any] = {}
for _module in PAGE_MODULES:
    assert not set(_module.CASES) & set(CASES), _module.__name__
    CASES.update(_module.CASES)
    OWNER.update(dict.fromkeys(_module.CASES, _module))

# What a route changes, to check that a refused request left it alone.
SNAPSHOT = "SELECT " + ", ".join(
    (
        "(SELECT string_agg(id || role || active || password_hash, ',' ORDER BY id) FROM hq_user)",
        "(SELECT string_agg(user_id || store, ',' ORDER BY user_id, store) FROM hq_user_store)",
        "(SELECT count(*) FROM hq_session WHERE ended_at IS NOT NULL)",
        *(part for module in PAGE_MODULES for part in module.SNAPSHOT),
    )
)


def test_the_table_names_every_hq_route(hq: Hq) -> None:
    rules = {
        rule.endpoint
        for rule in hq.app.url_map.iter_rules()
        if rule.endpoint not in ("webui.static", "_root")
    }
    assert rules == set(ROUTES) == set(CASES)
    for endpoint, spec in ROUTES.items():
        assert spec.roles == CASES[endpoint].roles, endpoint


@pytest.mark.parametrize("scope", ["in", "out"])
@pytest.mark.parametrize("who", ["anonymous", "admin", "buyer", "manager"])
@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_every_route_for_every_role_and_store(endpoint: str, who: str, scope: str, hq: Hq) -> None:
    case = CASES[endpoint]
    spec = ROUTES[endpoint]
    target = hq.query(
        "INSERT INTO hq_user (username, name, role, password_hash)"
        " VALUES ('target', 'Target', 'store_manager', '$argon2id$v=19$m=64,t=1,p=4$x$y')"
        " RETURNING id"
    )[0][0]
    hq.query("INSERT INTO hq_user_store (user_id, store) VALUES (%s, 's02')", (target,))
    # The manager's store is s01; s02 is outside its scope (everyone else sees both).
    store = "s01" if scope == "in" else "s02"
    ids: dict[str, Any] = {"target": target, "store": store}
    if endpoint in OWNER:
        ids.update(OWNER[endpoint].prepare(hq, store))
    path = f"{case.path(ids)}?store={store}"
    browser: HqBrowser = hq.browser()
    if who != "anonymous":
        browser.sign_in(who)
    before = hq.query(SNAPSHOT)
    method = spec.methods[0]
    form = case.form(who)
    answer = browser.get(path) if method == "GET" else browser.post(path, form)
    answer.close()
    if case.roles is None:
        assert answer.status_code in (200, 403, 415, 422), answer.status_code
        return
    if who == "anonymous":
        if method == "GET":
            assert answer.status_code == 302
            assert answer.headers["Location"].startswith("/hq/login?next=")
        else:
            assert answer.status_code == 401
        assert hq.query(SNAPSHOT) == before
        return
    role = HqRole(ROLES[who])
    refused = None
    if role not in case.roles:
        refused = "role_required"
    elif scope == "out" and role is M:
        refused = "store_out_of_scope"
    if refused:
        assert answer.status_code == 403, (answer.status_code, answer.text[:300])
        assert hq.query(SNAPSHOT) == before
        # An API-ish caller gets the one error shape.
        shaped = browser.client.open(
            path,
            method=method,
            data={"csrf_token": browser.csrf, **form},
            headers={"Accept": "application/json"},
        )
        assert shaped.status_code == 403
        assert shaped.get_json()["error"] == refused
        assert set(shaped.get_json()) == {"error", "message", "details"}
        assert hq.query(SNAPSHOT) == before
        return
    assert answer.status_code in (200, 303), (answer.status_code, answer.text[:500])
    if method == "POST" and endpoint != "hq.logout":
        assert hq.query(SNAPSHOT) != before or endpoint == "hq.user_enable"
