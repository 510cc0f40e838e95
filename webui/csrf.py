"""CSRF tokens for server-rendered forms: one per signed-in session, and a double-submit cookie
for a sign-in form (before sign-in there is no session to keep a token in)."""

from __future__ import annotations

import hmac
import secrets

from flask import Request, Response

from webui.errors import Forbidden

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def new_token() -> str:
    """A fresh unguessable token."""
    return secrets.token_urlsafe(32)


def matches(expected: str, given: str | None) -> bool:
    """True when the form's token is the expected one (compared in constant time)."""
    return (
        bool(expected)
        and bool(given)
        and hmac.compare_digest(expected.encode(), (given or "").encode())
    )


# A sign-in form's token lives an hour: long enough to type, short enough to go stale.
FORM_COOKIE_MAX_AGE_S = 3600


def set_form_cookie(
    response: Response, *, cookie: str, token: str, path: str, secure: bool
) -> None:
    """The sign-in form's double-submit half: the token the form also carries, in a cookie
    scripts cannot read and other sites cannot send."""
    response.set_cookie(
        cookie,
        token,
        path=path,
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=FORM_COOKIE_MAX_AGE_S,
    )


def check_form_cookie(request: Request, *, cookie: str) -> None:
    """Refuse a sign-in POST whose form token is not the one in its cookie (403)."""
    if not matches(request.cookies.get(cookie) or "", request.form.get(FIELD)):
        raise Forbidden(
            "this sign-in form has expired; reload the page and try again", code="csrf_failed"
        )


def signed_in(
    response: Response,
    *,
    session_cookie: str,
    token: str,
    form_cookie: str,
    path: str,
    secure: bool,
) -> Response:
    """A successful sign-in's answer: the session cookie set, the form's cookie gone."""
    response.set_cookie(
        session_cookie, token, path=path, httponly=True, samesite="Strict", secure=secure
    )
    response.delete_cookie(form_cookie, path=path)
    return response
