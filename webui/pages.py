"""What every server-rendered Tillbox page does alike: tell a browser from an API caller,
redirect after a change, keep sign-in redirects on the site, read a form field, say how long
ago something was, and send the security headers."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit

from flask import Response, redirect, request

# Pages show names, codes and tokens: nothing from elsewhere runs, nothing frames them, and
# forms post only here. The pages work without inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def wants_json() -> bool:
    """An API-ish caller (asks for JSON, or sends it) gets the error shape, a browser a page."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def see_other(url: str) -> Response:
    """A 303 redirect (in an app, flask.redirect makes the app's own Response class)."""
    return cast(Response, redirect(url, code=303))


def safe_next(target: str | None, *, under: str, default: str, never: tuple[str, ...]) -> str:
    """Where to go after sign-in: a path under `under` on this site (not one of `never`, the
    sign-in and sign-out pages), else `default`; never another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or target.startswith("//"):
        return default
    if not (parts.path == under or parts.path.startswith(under.rstrip("/") + "/")):
        return default
    if parts.path.startswith(never):
        return default
    return target


def form_text(name: str, *, max_length: int = 200) -> str:
    """A form field as text (stripped; cut at max_length, which the field also enforces)."""
    return (request.form.get(name) or "").strip()[:max_length]


def age_text(seconds: int | None) -> str:
    """How long ago, roughly ("3 min ago"), or "never"."""
    if seconds is None:
        return "never"
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} days ago"


def security_headers(response: Response) -> Response:
    """Never cached, never framed, no sniffing, the referrer kept on the site, the CSP."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
