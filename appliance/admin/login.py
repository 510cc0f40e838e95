"""Signing in to the admin pages (staff ID and PIN) and out."""

from __future__ import annotations

from flask import Response, current_app, request, url_for

from appliance.admin import sessions
from appliance.admin.core import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    admin,
    admin_route,
    client_address,
    cookie_secure,
    form_text,
    page,
    rt,
    safe_next,
    see_other,
    wants_json,
)
from appliance.errors import ApiError, Invalid
from appliance.staff.pins import valid_pin
from protocol.permissions import Role
from webui import csrf
from webui.throttle import LoginThrottle


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["tillbox_admin_throttle"]
    return throttle


def _login_page(
    *, status: int = 200, errors: dict[str, str] | None = None, staff_id: str = ""
) -> Response:
    """The sign-in form, with a fresh double-submit CSRF token in a cookie and the form."""
    token = csrf.new_token()
    response = page(
        "admin/login.html",
        status=status,
        errors=errors or {},
        staff_id=staff_id,
        login_csrf=token,
        next=safe_next(request.values.get("next")),
    )
    csrf.set_form_cookie(
        response, cookie=LOGIN_CSRF_COOKIE, token=token, path="/admin", secure=cookie_secure()
    )
    return response


@admin_route("/login", role=None)
def login() -> Response:
    """The sign-in form."""
    return _login_page()


@admin_route("/login", role=None, methods=("POST",))
def login_submit() -> Response:
    """Check the staff ID and PIN; a supervisor or manager gets a session cookie."""
    runtime = rt()
    csrf.check_form_cookie(request, cookie=LOGIN_CSRF_COOKIE)
    typed = form_text("staff_id", max_length=64)
    pin = form_text("pin", max_length=16)
    errors: dict[str, str] = {}
    if not typed:
        errors["staff_id"] = "Type your staff ID (the number is enough, e.g. 3)"
    if not valid_pin(pin):
        errors["pin"] = "A PIN is 4 to 6 digits"
    if errors:
        return _form_error(422, errors, typed)
    staff_id = sessions.staff_id_for(runtime, typed)
    address = client_address()
    try:
        _throttle().take(f"address:{address}", f"staff:{staff_id}")
        started = sessions.sign_in(runtime, staff_id=staff_id, pin=pin, address=address)
    except ApiError as exc:
        if wants_json():
            raise
        # A browser gets the form again with the reason by the PIN (and Retry-After on 429).
        failed = _login_page(status=exc.status, errors={"pin": exc.message}, staff_id=typed)
        failed.headers.update(exc.headers())
        return failed
    return csrf.signed_in(
        see_other(safe_next(request.form.get("next"))),
        session_cookie=COOKIE,
        token=started.token,
        form_cookie=LOGIN_CSRF_COOKIE,
        path="/admin",
        secure=cookie_secure(),
    )


def _form_error(status: int, errors: dict[str, str], typed: str) -> Response:
    if wants_json():
        raise Invalid("the sign-in form has errors", details=errors)
    return _login_page(status=status, errors=errors, staff_id=typed)


@admin_route("/logout", role=Role.SUPERVISOR, methods=("POST",))
def logout() -> Response:
    """End this browser's session."""
    sessions.sign_out(rt(), admin(), address=client_address())
    response = see_other(url_for("admin.login"))
    response.delete_cookie(COOKIE, path="/admin")
    return response
