"""Signing in to HQ (username and password) and out, and changing one's own password."""

from __future__ import annotations

from flask import Response, current_app, request, url_for

from cloud.hq import accounts
from cloud.hq.core import (
    COOKIE,
    EVERYONE,
    LOGIN_CSRF_COOKIE,
    client_address,
    cookie_secure,
    db,
    done,
    form_text,
    hq_route,
    me,
    page,
    passwords,
    safe_next,
)
from webui import csrf
from webui.errors import ApiError, Invalid
from webui.forms import FormInvalid, Forms, from_domain, refused
from webui.pages import see_other, wants_json
from webui.throttle import LoginThrottle


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["tillbox_hq_throttle"]
    return throttle


def _login_page(
    *, status: int = 200, errors: dict[str, str] | None = None, username: str = ""
) -> Response:
    """The sign-in form, with a fresh double-submit CSRF token in a cookie and the form."""
    token = csrf.new_token()
    response = page(
        "hq/login.html",
        status=status,
        errors=errors or {},
        username=username,
        login_csrf=token,
        next=safe_next(request.values.get("next")),
    )
    csrf.set_form_cookie(
        response, cookie=LOGIN_CSRF_COOKIE, token=token, path="/hq", secure=cookie_secure()
    )
    return response


@hq_route("/login", roles=None)
def login() -> Response:
    """The sign-in form."""
    return _login_page()


@hq_route("/login", roles=None, methods=("POST",))
def login_submit() -> Response:
    """Check the username and password (throttled per address and per username)."""
    csrf.check_form_cookie(request, cookie=LOGIN_CSRF_COOKIE)
    username = form_text("username", max_length=64).lower()
    password = (request.form.get("password") or "")[: accounts.PASSWORD_MAX + 1]
    errors = {}
    if not username:
        errors["username"] = "Type your username"
    if not password:
        errors["password"] = "Type your password"  # noqa: S105  (a message)
    if errors:
        if wants_json():
            raise Invalid("the sign-in form has errors", details=errors)
        return _login_page(status=422, errors=errors, username=username)
    address = client_address()
    try:
        _throttle().take(f"address:{address}", f"user:{username}")
        started = accounts.sign_in(
            db(), passwords(), username=username, password=password, address=address
        )
    except ApiError as exc:
        if wants_json():
            raise
        failed = _login_page(status=exc.status, errors={"password": exc.message}, username=username)
        failed.headers.update(exc.headers())
        return failed
    return csrf.signed_in(
        see_other(safe_next(request.form.get("next"))),
        session_cookie=COOKIE,
        token=started.token,
        form_cookie=LOGIN_CSRF_COOKIE,
        path="/hq",
        secure=cookie_secure(),
    )


@hq_route("/logout", roles=EVERYONE, methods=("POST",))
def logout() -> Response:
    """End this browser's session."""
    accounts.sign_out(db(), me(), address=client_address())
    response = see_other(url_for("hq.login"))
    response.delete_cookie(COOKIE, path="/hq")
    return response


@hq_route("/account", roles=EVERYONE)
def account() -> Response:
    """Who is signed in, and the password form."""
    return page("hq/account.html", forms=Forms())


@hq_route("/account/password", roles=EVERYONE, methods=("POST",))
def password_change() -> Response:
    """Change one's own password; the user's other sessions end."""
    try:
        new = request.form.get("new_password") or ""
        if new != (request.form.get("new_password_again") or ""):
            raise FormInvalid("password", {"new_password_again": "The two new passwords differ"})
        try:
            accounts.change_own_password(
                db(),
                passwords(),
                me(),
                current=request.form.get("current_password") or "",
                new=new,
                address=client_address(),
            )
        except ApiError as exc:
            raise from_domain("password", exc) from None
    except FormInvalid as exc:
        if wants_json():
            raise Invalid("the password form has errors", details=exc.errors) from None
        return page("hq/account.html", status=exc.status, forms=refused(exc))
    return done("hq.account", "Password changed; your other sessions were signed out")
