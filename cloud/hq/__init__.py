"""HQ's web app at /hq: server-rendered pages over the cloud's PostgreSQL, served by waitress
(`tillbox cloud serve`).

How it fits together
- `core.py`: the blueprint, `hq_route` (every view's rule, roles and methods; sign-in, role,
  store-scope and CSRF checks in one place), errors, `page()`, `done()`, `audit()`, the
  database connection per request.
- `accounts.py`: users, roles (HQ admin, buyer, store manager with stores), argon2id
  passwords, sessions in PostgreSQL, the HQ audit log. No Flask; the CLI uses it too.
- `enrol_api.py`: `POST /hq/enrol`, the one machine API (a store appliance's one-time code
  for its broker password; cloud/enrolment.py).
- Pages: `dashboard.py` (low stock, transfers waiting, fleet at a glance), `login.py` (sign
  in and out, own password), `users_page.py`, `fleet_page.py` (over cloud/fleet.py),
  `stock_page.py` (over cloud/stock_grid.py), `transfers_page.py` (over cloud/transfers.py),
  `reorder_page.py` (over cloud/reorder.py and cloud/purchase_orders.py), `analytics_page.py`
  (over cloud/analytics.py, which reads cloud/rollups.py's tables), `catalog_page.py` (over
  cloud/catalog_edit.py and cloud/catalog.py), `staff_page.py` (over cloud/staff.py) and
  `audit_page.py` (over cloud/audit.py and cloud/audit_facts.py).
- Money on every page is in one currency, `core.currency()` (TILLBOX_HQ_CURRENCY).
- Shared with the store's admin pages: webui (CSRF, throttle, headers, forms, CSS).

Adding a page: a module with views declared by `hq_route(rule, roles=…)`, imported in `_PAGES`;
give its NAV entry the endpoint; tests/hq/test_authorization.py fails until its table names
every new route with its roles.
"""

from __future__ import annotations

from flask import Flask, redirect
from werkzeug.wrappers import Response as BaseResponse

from cloud.hq import (
    analytics_page,
    audit_page,
    catalog_page,
    core,
    dashboard,
    enrol_api,
    fleet_page,
    login,
    reorder_page,
    staff_page,
    stock_page,
    transfers_page,
    users_page,
)
from cloud.hq.accounts import HqRole, Passwords
from cloud.hq.core import EVERYONE, NavEntry, bp
from cloud.hq.settings import HqSettings
from webui import register as register_webui
from webui.throttle import LoginThrottle

_PAGES = (
    analytics_page,
    audit_page,
    catalog_page,
    dashboard,
    enrol_api,
    fleet_page,
    login,
    reorder_page,
    staff_page,
    stock_page,
    transfers_page,
    users_page,
)

_ALL = EVERYONE
_CHAIN = frozenset({HqRole.ADMIN, HqRole.BUYER})
# The navigation, in order; an entry whose endpoint the app does not have is shown disabled.
NAV: tuple[NavEntry, ...] = (
    NavEntry(endpoint="hq.dashboard", label="Dashboard", roles=_ALL),
    NavEntry(endpoint="hq.stock", label="Stock", roles=_ALL),
    NavEntry(endpoint="hq.transfers", label="Transfers", roles=_ALL),
    NavEntry(endpoint="hq.reorder", label="Reorder", roles=_CHAIN),
    NavEntry(endpoint="hq.analytics", label="Analytics", roles=_ALL),
    NavEntry(endpoint="hq.catalog", label="Catalog", roles=_ALL),
    NavEntry(endpoint="hq.staff", label="Staff", roles=_ALL),
    NavEntry(endpoint="hq.audit", label="Audit", roles=_ALL),
    NavEntry(endpoint="hq.fleet_view", label="Fleet", roles=_ALL),
    NavEntry(endpoint="hq.users", label="Users", roles=users_page.USERS_ROLES),
)


def create_app(settings: HqSettings) -> Flask:
    """The HQ app: its blueprint at /hq, the shared web UI at /hq/ui; nothing connects yet."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["tillbox_hq"] = settings
    app.extensions["tillbox_hq_nav"] = NAV
    app.extensions["tillbox_hq_passwords"] = Passwords(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
    )
    app.extensions["tillbox_hq_throttle"] = LoginThrottle(
        limit=settings.login_attempts_per_minute, window_s=60.0
    )
    app.extensions["tillbox_hq_enrol_throttle"] = LoginThrottle(
        limit=settings.enrol_attempts_per_minute, window_s=60.0
    )
    app.register_blueprint(bp)
    register_webui(app, "/hq/ui")

    @app.get("/")
    def _root() -> BaseResponse:
        return redirect("/hq/")

    return app


__all__ = ["NAV", "core", "create_app"]
