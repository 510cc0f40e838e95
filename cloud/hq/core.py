"""HQ's blueprint machinery: who is signed in, role and store-scope checks in one place, CSRF,
errors in the one shape (a page for a browser), rendering, and the database per request.

Every HQ view is declared with `hq_route`, which records who may use it (the authorization
matrix test walks that table against the URL map), signs the browser in or sends it to the
sign-in page, checks the role, checks any store the request names (`<store>` in the path or
`?store=`) against the user's scope, and checks the CSRF token on every POST.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from cloud.hq import accounts
from cloud.hq.accounts import HqRole, HqSession, HqUser
from cloud.hq.settings import HqSettings
from cloud.migrate import connect
from webui import csrf
from webui.errors import ApiError, Forbidden, NotFound, Unauthorized, Unavailable
from webui.pages import age_text, security_headers, see_other, wants_json
from webui.pages import form_text as form_text
from webui.pages import safe_next as safe_next_under

_log = logging.getLogger(__name__)

COOKIE = "tillbox_hq"
LOGIN_CSRF_COOKIE = "tillbox_hq_login"
EVERYONE: frozenset[HqRole] = frozenset(HqRole)
ADMINS: frozenset[HqRole] = frozenset({HqRole.ADMIN})

bp = Blueprint("hq", __name__, url_prefix="/hq", template_folder="templates")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteSpec:
    """One HQ route: the roles that may use it (None: anyone, the sign-in page)."""

    endpoint: str
    rule: str
    methods: tuple[str, ...]
    roles: frozenset[HqRole] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NavEntry:
    """A page in HQ's navigation: its endpoint (None: not built yet), label and roles."""

    endpoint: str | None
    label: str
    roles: frozenset[HqRole]


# Filled by hq_route as the page modules are imported.
ROUTES: dict[str, RouteSpec] = {}
# Endpoints machines call (an appliance enrolling): their errors are always the JSON shape.
MACHINE_ENDPOINTS: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> HqSettings:
    """This app's HQ settings."""
    value: HqSettings = current_app.extensions["tillbox_hq"]
    return value


def currency() -> str:
    """The chain's currency (TILLBOX_HQ_CURRENCY): what HQ's amounts are in."""
    return settings().currency


def passwords() -> accounts.Passwords:
    """The app's argon2id hasher."""
    value: accounts.Passwords = current_app.extensions["tillbox_hq_passwords"]
    return value


def db() -> psycopg.Connection[Any]:
    """This request's database connection (autocommit; writes open a transaction)."""
    conn: psycopg.Connection[Any] | None = g.get("hq_db")
    if conn is None:
        try:
            conn = connect(settings().dsn)
        except psycopg.OperationalError as exc:
            _log.error("HQ cannot reach PostgreSQL: %s", exc)
            raise Unavailable(
                "the HQ database cannot be reached; try again shortly",
                code="database_unavailable",
                details={"retry_after_s": 5},
            ) from None
        g.hq_db = conn
    return conn


@bp.teardown_app_request
def _close_db(exc: BaseException | None) -> None:
    conn: psycopg.Connection[Any] | None = g.pop("hq_db", None)
    if conn is not None:
        conn.close()


def me() -> HqSession:
    """The signed-in session of this request (only inside a view that needs a role)."""
    session: HqSession = g.hq
    return session


def client_address() -> str:
    """The browser's address (waitress takes X-Forwarded-For from nginx on 127.0.0.1 only)."""
    return request.remote_addr or ""


def requested_store() -> str | None:
    """The store this request names (path `<store>` or `?store=`), if any."""
    named = (request.view_args or {}).get("store") or request.args.get("store") or None
    return str(named) if named else None


def scope_stores(user: HqUser) -> list[tuple[str, str]]:
    """The stores this user may see, as (id, display name), by id."""
    rows = (
        db()
        .execute(
            "SELECT id, COALESCE(name, 'Store ' || id) FROM store"
            " WHERE %s OR id = ANY(%s) ORDER BY id",
            (user.role.all_stores, list(user.stores)),
        )
        .fetchall()
    )
    return [(row[0], row[1]) for row in rows]


def check_store(user: HqUser, store: str) -> None:
    """The one store-scope check: 403 outside a store manager's stores, 404 for a store
    HQ does not know (said only to those who see every store)."""
    if not user.may_see(store):
        raise Forbidden(
            f"{store} is not one of your stores",
            code="store_out_of_scope",
            details={"store": store},
        )
    if user.role.all_stores:
        known = db().execute("SELECT 1 FROM store WHERE id = %s", (store,)).fetchone()
        if known is None:
            raise NotFound(f"no store {store}", code="unknown_store", details={"store": store})


def hq_route(
    rule: str,
    *,
    roles: frozenset[HqRole] | None,
    methods: tuple[str, ...] = ("GET",),
    machine: bool = False,
) -> Callable[[F], F]:
    """Declare an HQ view: its rule under /hq, the roles that may use it, its methods;
    `machine` for an API no browser uses (errors always JSON)."""

    def decorate(view: F) -> F:
        endpoint = view.__name__

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if roles is not None:
                session = _signed_in()
                if session is None:
                    if request.method == "GET" and not wants_json():
                        return redirect(url_for("hq.login", next=request.full_path.rstrip("?")))
                    raise Unauthorized("sign in to HQ first", code="login_required")
                g.hq = session
                user = session.user
                if user.role not in roles:
                    allowed = ", ".join(sorted(r.label for r in roles))
                    raise Forbidden(
                        f"this page is for: {allowed}; {user.name} is a {user.role.label}",
                        code="role_required",
                        details={"roles": sorted(r.value for r in roles)},
                    )
                store = requested_store()
                if store is not None:
                    check_store(user, store)
                if request.method == "POST":
                    given = request.form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
                    if not csrf.matches(session.csrf_token, given):
                        _log.warning(
                            "hq %s %s refused: bad CSRF token user=%s",
                            request.method,
                            request.path,
                            user.id,
                        )
                        raise Forbidden(
                            "this form has expired or did not come from this page; reload the"
                            " page and try again",
                            code="csrf_failed",
                        )
            return view(*args, **kwargs)

        bp.add_url_rule(rule, endpoint, guarded, methods=list(methods))
        if machine:
            MACHINE_ENDPOINTS.add(f"hq.{endpoint}")
        ROUTES[f"hq.{endpoint}"] = RouteSpec(
            endpoint=f"hq.{endpoint}", rule=f"/hq{rule}", methods=methods, roles=roles
        )
        return guarded  # type: ignore[return-value]  # same signature as the view

    return decorate


def _signed_in() -> HqSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    config = settings()
    return accounts.resolve(
        db(),
        token,
        idle=timedelta(minutes=config.session_idle_minutes),
        max_age=timedelta(hours=config.session_max_hours),
    )


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a page under /hq on this site."""
    return safe_next_under(
        target, under="/hq", default=url_for("hq.dashboard"), never=("/hq/login", "/hq/logout")
    )


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render an HQ page (the session's one-time notice goes with it, and is cleared)."""
    session: HqSession | None = g.get("hq")
    notice = context.pop("notice", None)
    if session is not None and session.notice:
        notice = notice or session.notice
        accounts.set_notice(db(), session, None)
    return Response(render_template(template, notice=notice, **context), status=status)


def done(endpoint: str, notice: str, **values: Any) -> Response:
    """After a change: keep a notice for the next page and go there (POST, redirect, GET)."""
    accounts.set_notice(db(), me(), notice)
    return see_other(url_for(endpoint, **values))


def cookie_secure() -> bool:
    """Whether cookies are Secure: always, never, or when the page came over HTTPS."""
    mode = settings().cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.is_secure


def _error_response(exc: ApiError) -> Response:
    if wants_json() or request.endpoint in MACHINE_ENDPOINTS:
        response = Response(
            json.dumps(exc.to_json()), status=exc.status, mimetype="application/json"
        )
    elif exc.status == 401 and request.method == "GET":
        return see_other(url_for("hq.login", next=request.full_path.rstrip("?")))
    else:
        response = Response(
            render_template(
                "hq/error.html",
                status=exc.status,
                code=exc.code,
                message=exc.message,
                back=_back_link(),
            ),
            status=exc.status,
        )
    response.headers.update(exc.headers())
    return response


def _back_link() -> str:
    parts = urlsplit(request.referrer or "")
    if parts.netloc == request.host and parts.path.startswith("/hq"):
        return parts.path
    return url_for("hq.dashboard")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    if exc.status >= 500:
        _log.error("hq error %s: %s", exc.code, exc.message)
    return _error_response(exc)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    error = ApiError(exc.description or exc.name, code=_HTTP_CODES.get(status, "http_error"))
    error.status = status  # type: ignore[misc]  # an instance with the HTTP status
    return _error_response(error)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    _log.exception("unhandled error on %s %s", request.method, request.path)
    error = ApiError("something went wrong in HQ; it has been logged", code="internal")
    error.status = 500  # type: ignore[misc]  # an instance with the HTTP status
    return _error_response(error)


@bp.after_request
def _headers(response: Response) -> Response:
    return security_headers(response)


def nav_for(user: HqUser | None) -> list[NavEntry]:
    """The navigation entries this user may see (unbuilt pages are shown, not linked)."""
    entries: tuple[NavEntry, ...] = current_app.extensions["tillbox_hq_nav"]
    built = current_app.view_functions
    return [
        e if e.endpoint is None or e.endpoint in built else replace(e, endpoint=None)
        for e in entries
        if user is not None and user.role in e.roles
    ]


@bp.context_processor
def _context() -> dict[str, Any]:
    session: HqSession | None = g.get("hq")
    return {
        "me": session,
        "csrf_token": session.csrf_token if session else "",
        "nav": nav_for(session.user if session else None),
        "scope": scope_stores(session.user) if session else [],
        "HqRole": HqRole,
    }


@bp.app_template_filter("ago")
def _ago(at: datetime | None) -> str:
    return age_text(None if at is None else int((datetime.now(UTC) - at).total_seconds()))


@bp.app_template_filter("seconds")
def _seconds(value: int | None) -> str:
    return "—" if value is None else age_text(value).removesuffix(" ago")


@bp.app_template_filter("cover")
def _cover(days: float | None) -> str:
    if days is None:
        return "no recent sales"
    return f"{days:.0f} d cover" if days >= 1 else "< 1 d cover"


def audit(action: str, target: str | None, details: Mapping[str, Any] | None = None) -> None:
    """Record a change made by the signed-in user (call inside the change's transaction)."""
    accounts.record(
        db(), me().user.id, action, target, dict(details or {}), address=client_address()
    )
