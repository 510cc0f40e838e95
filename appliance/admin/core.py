"""The admin blueprint's machinery: who is signed in, role and CSRF checks, errors, rendering.

Every admin view is declared with `admin_route`, which records its minimum role (the
authorization test walks that table against the URL map), signs the browser in or sends it
to the login page, checks the role, and checks the CSRF token on every POST.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from appliance.admin import sessions
from appliance.api.registry import render as render_json
from appliance.db import DatabaseError
from appliance.errors import ApiError, Forbidden, Unauthorized, Unavailable
from appliance.runtime import Runtime
from protocol.envelope import format_at
from protocol.permissions import Role
from webui import csrf
from webui.pages import age_text, security_headers

# The page modules import these from here.
from webui.pages import form_text as form_text
from webui.pages import safe_next as safe_next_under
from webui.pages import see_other as see_other
from webui.pages import wants_json as wants_json

_log = logging.getLogger(__name__)

COOKIE = "tillbox_admin"
# Before sign-in there is no session to hold a CSRF token, so the login form's token is also
# set as a cookie and the two must match (double submit).
LOGIN_CSRF_COOKIE = "tillbox_admin_login"
CSRF_FIELD = csrf.FIELD
CSRF_HEADER = csrf.HEADER

bp = Blueprint("admin", __name__, url_prefix="/admin")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteSpec:
    """One admin route: who may use it (None: anyone, the login page)."""

    endpoint: str
    rule: str
    methods: tuple[str, ...]
    role: Role | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NavEntry:
    """A page in the admin navigation: its view's endpoint, label and minimum role."""

    endpoint: str
    label: str
    role: Role


# Filled by admin_route as the page modules are imported.
ROUTES: dict[str, RouteSpec] = {}

F = TypeVar("F", bound=Callable[..., Any])


def rt() -> Runtime:
    """The running store."""
    runtime: Runtime = current_app.extensions["tillbox"]
    return runtime


def admin() -> sessions.AdminSession:
    """The signed-in session of this request (only inside a view that needs a role)."""
    session: sessions.AdminSession = g.admin
    return session


def client_address() -> str:
    """The browser's address (waitress takes X-Forwarded-For from nginx on 127.0.0.1 only)."""
    return request.remote_addr or ""


def admin_route(
    rule: str, *, role: Role | None, methods: tuple[str, ...] = ("GET",)
) -> Callable[[F], F]:
    """Declare an admin view: its rule under /admin, its minimum role, its methods.

    With a role, the browser must be signed in (GET: else it goes to the login page) as a
    staff member with at least that role (else 403), and a POST must carry the session's
    CSRF token (else 403, nothing changed).
    """

    def decorate(view: F) -> F:
        endpoint = view.__name__

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if role is not None:
                session = _signed_in()
                if session is None:
                    if request.method == "GET" and not wants_json():
                        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
                    raise Unauthorized("sign in to the admin pages first", code="login_required")
                g.admin = session
                if session.staff.role < role:
                    raise Forbidden(
                        f"this page is for a {role.slug}; {session.staff.name} is a"
                        f" {session.staff.role.slug}",
                        code="role_required",
                        details={"min_role": role.slug},
                    )
                if request.method == "POST":
                    given = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
                    if not csrf.matches(session.csrf_token, given):
                        _log.warning(
                            "admin %s %s refused: bad CSRF token staff=%s",
                            request.method,
                            request.path,
                            session.staff.id,
                        )
                        raise Forbidden(
                            "this form has expired or did not come from this page; reload the"
                            " page and try again",
                            code="csrf_failed",
                        )
            return view(*args, **kwargs)

        bp.add_url_rule(rule, endpoint, guarded, methods=list(methods))
        ROUTES[f"admin.{endpoint}"] = RouteSpec(
            endpoint=f"admin.{endpoint}", rule=f"/admin{rule}", methods=methods, role=role
        )
        return guarded  # type: ignore[return-value]  # same signature as the view

    return decorate


def _signed_in() -> sessions.AdminSession | None:
    token = request.cookies.get(COOKIE)
    return sessions.resolve(rt(), token) if token else None


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path under /admin on this site, never elsewhere."""
    return safe_next_under(
        target,
        under="/admin",
        default=url_for("admin.dashboard"),
        never=("/admin/login", "/admin/logout"),
    )


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render an admin page (the session's one-time notice goes with it, and is cleared)."""
    session: sessions.AdminSession | None = g.get("admin")
    notice = context.pop("notice", None)
    if session is not None and session.notice:
        notice = notice or session.notice
        sessions.set_notice(rt(), session, None)
    body = render_template(template, notice=notice, **context)
    return Response(body, status=status, mimetype="text/html")


def done(endpoint: str, notice: str, **values: Any) -> Response:
    """After a change: keep a notice for the next page and go there (POST, redirect, GET)."""
    sessions.set_notice(rt(), admin(), notice)
    return see_other(url_for(endpoint, **values))


def audit(action: str, target: str | None, details: Mapping[str, Any] | None = None) -> None:
    """Record a change made by the signed-in staff member (inside the change's write)."""
    sessions.record(
        rt(), admin().staff.id, action, target, dict(details or {}), address=client_address()
    )


def when(ms: int | None) -> str:
    """A time for the pages: ISO 8601 UTC, or a dash."""
    return "—" if ms is None else format_at(ms).replace("T", " ")[:19] + " UTC"


def ago(ms: int | None) -> str:
    """How long ago, roughly ("3 min ago"), or "never"."""
    return age_text(None if ms is None else (rt().now_ms() - ms) // 1000)


def _error_response(exc: ApiError) -> Response:
    if wants_json():
        response = render_json(exc.to_json(), exc.status)
    elif exc.status == 401 and request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))  # type: ignore[return-value]
    else:
        response = Response(
            render_template(
                "admin/error.html",
                status=exc.status,
                code=exc.code,
                message=exc.message,
                back=_back_link(),
            ),
            status=exc.status,
            mimetype="text/html",
        )
    response.headers.update(exc.headers())
    return response


def _back_link() -> str:
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.netloc == request.host and parts.path.startswith("/admin"):
        return parts.path
    return url_for("admin.dashboard")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    if exc.status >= 500:
        _log.error("admin error %s: %s", exc.code, exc.message)
    return _error_response(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    error = ApiError(exc.description or exc.name, code=_HTTP_CODES.get(status, "http_error"))
    error.status = status  # type: ignore[misc]  # an instance with the HTTP status
    return _error_response(error)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # Blueprint handlers are found before the app's, so the API's JSON-only handlers for these
    # never see an admin page's error: a browser gets a page, a JSON caller the one shape.
    if isinstance(exc, DatabaseError) and ("locked" in str(exc) or "busy" in str(exc)):
        _log.warning("database busy on %s %s", request.method, request.path)
        return _error_response(
            Unavailable(
                "the appliance is busy writing; try again shortly",
                code="busy",
                details={"retry_after_s": 2},
            )
        )
    _log.exception("unhandled error on %s %s", request.method, request.path)
    error = ApiError("something went wrong on the appliance; it has been logged", code="internal")
    error.status = 500  # type: ignore[misc]  # an instance with the HTTP status
    return _error_response(error)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


@bp.after_request
def _headers(response: Response) -> Response:
    # Admin pages show PINs' owners, codes and tokens: never cached, never framed.
    return security_headers(response)


@bp.app_template_filter("when")
def _when_filter(ms: int | None) -> str:
    return when(ms)


@bp.app_template_filter("ago")
def _ago_filter(ms: int | None) -> str:
    return ago(ms)


def nav_for(role: Role | None) -> list[NavEntry]:
    """The navigation entries this role may open."""
    entries: tuple[NavEntry, ...] = current_app.extensions["tillbox_admin_nav"]
    return [entry for entry in entries if role is not None and role >= entry.role]


@bp.context_processor
def _context() -> dict[str, Any]:
    session: sessions.AdminSession | None = g.get("admin")
    runtime = rt()
    return {
        "admin": session,
        "csrf_token": session.csrf_token if session else "",
        "nav": nav_for(session.staff.role if session else None),
        "store": runtime.store,
        "store_name": runtime.settings.store_name or f"Store {runtime.store}",
        "Role": Role,
    }


def cookie_secure() -> bool:
    """Whether the session cookie is Secure: always, never, or (auto) when the page came over
    HTTPS, which nginx tells waitress with X-Forwarded-Proto."""
    mode = rt().settings.admin_cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.is_secure
