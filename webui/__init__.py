"""What the store's admin pages and HQ's pages share (decisions.md, "One web UI package").

- `errors.py`: the error hierarchy and its one shape, {"error", "message", "details"}.
- `csrf.py`: CSRF tokens (per session, and a double-submit cookie for a sign-in form).
- `throttle.py`: the sign-in throttle per address and per account (429, Retry-After).
- `pages.py`: browser or API caller, 303 after a change, safe sign-in redirects, form text,
  "3 min ago", the security headers and CSP.
- `forms.py`: a refused form's errors by field and the values typed, shown again.
- `templates/webui/_forms.html`: the form macros (csrf, input, select, form_error).
- `static/webui.css`, `static/webui.js`: the register app's look (44 px targets, its colours)
  and the confirm-before-submit script.

An app mounts it with `register(app, url_prefix)`: the macros join its templates, the CSS and
script are served at `<url_prefix>/static/`.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint(
    "webui",
    __name__,
    static_folder="static",
    static_url_path="/static",
    template_folder="templates",
)


def register(app: Flask, url_prefix: str) -> None:
    """Mount the shared templates and static files on an app, the files under `url_prefix`."""
    app.register_blueprint(bp, url_prefix=url_prefix)


__all__ = ["bp", "register"]
