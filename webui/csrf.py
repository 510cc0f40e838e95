"""CSRF tokens for server-rendered forms: one per signed-in session, and a double-submit cookie
for a sign-in form (before sign-in there is no session to keep a token in)."""

from __future__ import annotations

import hmac
import secrets

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
