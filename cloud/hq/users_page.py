"""The Users page (HQ admins): add a user, change a role and store scope, disable or enable."""

from __future__ import annotations

from flask import Response, request

from cloud.hq import accounts
from cloud.hq.core import ADMINS, client_address, db, done, form_text, hq_route, me, page, passwords
from webui.errors import ApiError, Invalid
from webui.forms import FormInvalid, Forms, from_domain, refused
from webui.pages import wants_json

USERS_ROLES = ADMINS


def _page(forms: Forms, status: int = 200) -> Response:
    conn = db()
    stores = conn.execute(
        "SELECT id, COALESCE(name, 'Store ' || id) FROM store ORDER BY id"
    ).fetchall()
    return page(
        "hq/users.html",
        status=status,
        forms=forms,
        users=accounts.list_users(conn),
        stores=[(r[0], r[1]) for r in stores],
        roles=[(r.value, r.label) for r in accounts.HqRole],
        checked=set(request.form.getlist("stores")) if forms.errors else set(),
    )


def _refused(exc: FormInvalid) -> Response:
    if wants_json():
        raise Invalid("the form has errors", details=exc.errors) from None
    return _page(refused(exc), status=exc.status)


@hq_route("/users", roles=USERS_ROLES)
def users() -> Response:
    """Every HQ user with their role, stores and state."""
    return _page(Forms())


@hq_route("/users", roles=USERS_ROLES, methods=("POST",))
def user_add() -> Response:
    """Add a user with a first password (they change it under Account)."""
    try:
        password = request.form.get("password") or ""
        if password != (request.form.get("password_again") or ""):
            raise FormInvalid("add", {"password_again": "The two passwords differ"})
        try:
            user = accounts.add_user(
                db(),
                passwords(),
                username=form_text("username", max_length=64),
                name=form_text("name", max_length=100),
                role=form_text("role", max_length=20),
                password=password,
                stores=request.form.getlist("stores"),
                by=me().user.id,
                address=client_address(),
            )
        except ApiError as exc:
            raise from_domain("add", exc) from None
    except FormInvalid as exc:
        return _refused(exc)
    return done("hq.users", f"Added {user.username} ({user.role.label})")


def _form_id(user_id: int) -> str:
    return f"user-{user_id}"


@hq_route("/users/<int:user_id>/role", roles=USERS_ROLES, methods=("POST",))
def user_role(user_id: int) -> Response:
    """Change a user's role and stores."""
    try:
        try:
            user = accounts.set_role(
                db(),
                user_id,
                role=form_text("role", max_length=20),
                stores=request.form.getlist("stores"),
                by=me().user.id,
                address=client_address(),
            )
        except ApiError as exc:
            if exc.status == 404:
                raise
            raise from_domain(_form_id(user_id), exc) from None
    except FormInvalid as exc:
        return _refused(exc)
    scope = ", ".join(user.stores) if user.stores else "every store"
    return done("hq.users", f"{user.username} is now {user.role.label} ({scope})")


@hq_route("/users/<int:user_id>/disable", roles=USERS_ROLES, methods=("POST",))
def user_disable(user_id: int) -> Response:
    """Disable a user: their sessions end at once."""
    try:
        try:
            user = accounts.set_active(
                db(), user_id, active=False, by=me().user.id, address=client_address()
            )
        except ApiError as exc:
            if exc.status == 404:
                raise
            raise from_domain(_form_id(user_id), exc) from None
    except FormInvalid as exc:
        return _refused(exc)
    return done("hq.users", f"{user.username} is disabled and signed out")


@hq_route("/users/<int:user_id>/enable", roles=USERS_ROLES, methods=("POST",))
def user_enable(user_id: int) -> Response:
    """Enable a disabled user again."""
    user = accounts.set_active(
        db(), user_id, active=True, by=me().user.id, address=client_address()
    )
    return done("hq.users", f"{user.username} may sign in again")
