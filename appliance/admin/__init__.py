"""The store manager's admin pages at /admin: server-rendered, thin over the domain.

How it fits together
- `core.py`: the blueprint `bp`, `admin_route` (every view's rule, minimum role and methods;
  sign-in, role and CSRF checks), errors (a page for a browser, the API's error shape for a
  caller that asks for JSON), `page()` to render, `done()` to redirect after a change with a
  one-time notice, `audit()` to log a change in `admin_audit`.
- `sessions.py`: sign-in with a staff ID and PIN (the staff lockout and the address guard
  apply, plus a per-address and per-staff throttle), server-side sessions in SQLite whose
  idle and total lifetime are the staff sessions' settings, each with its CSRF token.
- webui (shared with HQ): CSRF tokens, the sign-in throttle, security headers, form errors by
  field (`webui.forms.FormInvalid`), the form macros (`webui/_forms.html`) and the CSS.
- Pages: `dashboard.py`, `devices.py`, `people.py` (registers and staff), `sync_pages.py`
  (the sync queue), `review_pages.py` (flagged events), `reports.py` (X, Z, the day; print
  and CSV), `stock_pages.py` (counts, deliveries, adjustments), `transfers_pages.py` (transfers between
  stores), `settings_page.py`.
- Templates in appliance/templates/admin/ extend `base.html`; webui's `webui.css` is the
  register app's look (same colours, font, 44 px touch targets), served at /admin/ui/static/.

Adding a page (sync queue, review, reports, stock counts, settings …)
1. Write a module here with views declared by `admin_route(rule, role=…, methods=…)`;
   every POST form carries `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">`.
   Views parse the form, call the domain, `audit(...)` inside the same write, and answer with
   `done(endpoint, notice)` or `page("admin/….html", forms=…)` when a form was refused.
2. Import the module in `_PAGES` below and add one `NavEntry` to `NAV`: the navigation and
   the dashboard's links follow from it, shown only to roles that may open the page.
3. tests/appliance/admin/test_authorization.py walks `core.ROUTES` against the URL map, so
   the new routes are checked for every role (give each its role in the test's table, or it
   fails).
The overview already links its tiles to `admin.sync` (the sync queue) and `admin.review`
(flagged events) once views with those endpoint names exist and are in NAV; until then the
tiles show their numbers without a link.
"""

from __future__ import annotations

from flask import Flask

from appliance.admin import (
    core,
    dashboard,
    devices,
    login,
    people,
    reports,
    review_pages,
    settings_page,
    stock_pages,
    sync_pages,
    transfers_pages,
)
from appliance.admin.core import NavEntry, bp
from protocol.permissions import Role
from webui import register as register_webui
from webui.throttle import LoginThrottle

# Imported for their routes.
_PAGES = (
    dashboard,
    devices,
    login,
    people,
    reports,
    review_pages,
    settings_page,
    stock_pages,
    sync_pages,
    transfers_pages,
)

# The navigation, in order. A page of the next part plugs in with one entry here.
NAV: tuple[NavEntry, ...] = (
    NavEntry(endpoint="admin.dashboard", label="Overview", role=Role.SUPERVISOR),
    NavEntry(endpoint="admin.devices", label="Devices", role=devices.DEVICES_ROLE),
    NavEntry(endpoint="admin.registers_page", label="Registers", role=people.REGISTERS_ROLE),
    NavEntry(endpoint="admin.staff_page", label="Staff", role=people.STAFF_PAGE_ROLE),
    NavEntry(endpoint="admin.sync", label="Sync queue", role=sync_pages.SYNC_ROLE),
    NavEntry(endpoint="admin.review", label="Flagged events", role=review_pages.REVIEW_ROLE),
    NavEntry(endpoint="admin.reports", label="Reports", role=reports.REPORTS_ROLE),
    NavEntry(endpoint="admin.stock_page", label="Stock", role=stock_pages.STOCK_ROLE),
    NavEntry(
        endpoint="admin.transfers_page", label="Transfers", role=transfers_pages.TRANSFERS_ROLE
    ),
    NavEntry(endpoint="admin.settings_page", label="Settings", role=settings_page.SETTINGS_ROLE),
)


def init_app(app: Flask) -> None:
    """Mount the admin pages on the app."""
    settings = app.extensions["tillbox"].settings
    app.extensions["tillbox_admin_nav"] = NAV
    app.extensions["tillbox_admin_throttle"] = LoginThrottle(
        limit=settings.admin_login_attempts_per_minute, window_s=60.0
    )
    app.register_blueprint(bp)
    # The shared form macros, CSS and script, served at /admin/ui/static/.
    register_webui(app, "/admin/ui")


__all__ = ["NAV", "NavEntry", "core", "init_app"]
