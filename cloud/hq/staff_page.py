"""The Staff page: the chain's staff master (cloud/staff.py, decisions.md §57). Everyone with
a role per store, where each store has applied the last change, PIN lockouts the stores
reported, overrides asked for and approved; adding people, roles per store, PINs, leaving.

Who may do what: HQ admins everything; store managers the staff of their own stores (a
person's name, leaving and coming back only when every store they work at is theirs; a PIN
only at their stores); buyers read only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Response, current_app, request, url_for

from cloud import staff as master
from cloud.hq.accounts import HqRole
from cloud.hq.core import (
    EVERYONE,
    audit,
    check_store,
    db,
    done,
    form_text,
    hq_route,
    me,
    page,
    requested_store,
    scope_stores,
    settings,
)
from webui.errors import ApiError, Forbidden, Invalid, NotFound
from webui.forms import FormInvalid, Forms, from_domain, refused
from webui.pages import wants_json
from webui.spreadsheet import csv_cell

EDITORS = frozenset({HqRole.ADMIN, HqRole.STORE_MANAGER})
ROLES = [("cashier", "Cashier"), ("supervisor", "Supervisor"), ("manager", "Manager")]


def _stores_shown() -> list[str]:
    picked = requested_store()
    return [picked] if picked else [s for s, _ in scope_stores(me().user)]


def _text() -> str:
    text = (request.args.get("q") or "").strip()
    if len(text) > 80:
        raise Invalid(
            "search text is at most 80 characters", code="invalid_filter", details={"field": "q"}
        )
    return text


def _page_no() -> int:
    raw = (request.args.get("page") or "1").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or int(raw) < 1:
        raise Invalid(
            "page must be a whole number from 1", code="invalid_filter", details={"field": "page"}
        )
    return int(raw)


def _list_page(forms: Forms, status: int = 200) -> Response:
    conn = db()
    stores = _stores_shown()
    found = master.list_people(
        conn, stores=stores, text=_text(), page=_page_no(), page_size=settings().page_size
    )
    counts = master.override_counts(conn, [p.id for p in found.people], stores)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return page(
        "hq/staff.html",
        status=status,
        forms=forms,
        found=found,
        counts=counts,
        shown=set(stores),
        picked=requested_store(),
        args=args,
        roles=ROLES,
        may_edit=me().user.role in EDITORS,
        now=datetime.now(UTC),
    )


@hq_route("/staff", roles=EVERYONE)
def staff() -> Response:
    """Everyone working at the stores shown, a page at a time."""
    return _list_page(Forms())


@hq_route("/staff.csv", roles=EVERYONE)
def staff_csv() -> Response:
    """One line per person and store, for the stores shown."""
    conn = db()
    stores = _stores_shown()
    found = master.list_people(conn, stores=stores, text=_text(), page=1, page_size=None)
    counts = master.override_counts(conn, [p.id for p in found.people], stores)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "staff_id",
            "name",
            "store",
            "role",
            "may_sign_in",
            "synced_to_store",
            "locked_until",
            "lockouts",
            "overrides_requested",
            "overrides_approved",
        ]
    )
    for person in found.people:
        asked, approved = counts.get(person.id, (0, 0))
        for a in person.assignments:
            if a.store not in stores:
                continue
            writer.writerow(
                [
                    csv_cell(person.id),
                    csv_cell(person.name),
                    csv_cell(a.store),
                    a.role,
                    int(person.active and a.active),
                    int(not a.pending),
                    "" if a.locked_until is None else a.locked_until.isoformat(timespec="seconds"),
                    a.lockouts,
                    asked,
                    approved,
                ]
            )
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="staff-{stamp}.csv"'},
    )


def _refused(exc: FormInvalid, show: Callable[[Forms, int], Response]) -> Response:
    if wants_json():
        raise Invalid("the form has errors", details=exc.errors) from None
    return show(refused(exc), exc.status)


def _pin(form: str, *, required: bool = True) -> str | None:
    pin = request.form.get("pin") or ""
    if not pin and not required:
        return None
    if pin != (request.form.get("pin_again") or ""):
        raise FormInvalid(form, {"pin_again": "The two PINs differ"})
    return pin


def _role_field(form: str) -> str:
    role = (request.form.get("role") or "").strip()
    if role not in dict(ROLES):
        raise FormInvalid(form, {"role": "choose a role from the list"})
    return role


def _store_field(form: str) -> str:
    store = (request.form.get("store") or "").strip()
    user = me().user
    if store and not user.may_see(store):
        check_store(user, store)  # 403 store_out_of_scope
    if store not in dict(scope_stores(user)):
        raise FormInvalid(form, {"store": "choose a store from the list"})
    return store


@hq_route("/staff", roles=EDITORS, methods=("POST",))
def staff_add() -> Response:
    """Add a person at one store with a role and a first PIN (more stores on their page)."""
    form = "add"
    try:
        name = form_text("name", max_length=200)
        store = _store_field(form)
        role = _role_field(form)
        pin = _pin(form)
        assert pin is not None
        try:
            with db().transaction():
                person = master.add_person(
                    db(), master.hash_pin, name=name, store=store, role=role, pin=pin
                )
                audit("staff_add", person, {"store": store, "role": role})
        except ApiError as exc:
            if exc.status == 403:
                raise
            raise from_domain(form, exc) from None
    except FormInvalid as exc:
        return _refused(exc, _list_page)
    return done(
        "hq.staff_person",
        f"{name} added at {store} as {role}: they sign in there with staff ID {person} once"
        " the store has the change",
        person_id=person,
    )


def _visible(person: master.Person) -> None:
    user = me().user
    if user.role.all_stores or any(user.may_see(a.store) for a in person.assignments):
        return
    raise NotFound(f"no staff member {person.id}", code="unknown_staff")


def _manages_all(person: master.Person) -> bool:
    user = me().user
    return user.role is HqRole.ADMIN or (
        user.role is HqRole.STORE_MANAGER
        and all(user.may_see(a.store) for a in person.assignments if a.active)
    )


def _person(person_id: str) -> master.Person:
    person = master.get_person(db(), person_id)
    _visible(person)
    return person


def _person_page(person_id: str, forms: Forms, status: int = 200) -> Response:
    conn = db()
    person = _person(person_id)
    user = me().user
    stores = [a.store for a in person.assignments if user.may_see(a.store)]
    return page(
        "hq/staff_person.html",
        status=status,
        forms=forms,
        person=person,
        overrides=master.overrides(conn, person.id, stores),
        # The audit's override search, when this HQ has it.
        audit_url=url_for("hq.audit_overrides", staff=person.id)
        if "hq.audit_overrides" in current_app.view_functions
        else None,
        roles=ROLES,
        may_edit=user.role in EDITORS,
        manages_all=_manages_all(person),
        now=datetime.now(UTC),
    )


@hq_route("/staff/<person_id>", roles=EVERYONE)
def staff_person(person_id: str) -> Response:
    """One person: their stores and roles, lockouts, overrides, and the forms to change them."""
    return _person_page(person_id, Forms())


def _edit(
    person_id: str, form: str, change: Callable[[master.Person], str], *, whole: bool = False
) -> Response:
    """Run one change to a person from a form: scope, domain errors on the form, audit."""
    try:
        person = _person(person_id)
        if whole and not _manages_all(person):
            raise Forbidden(
                f"{person.name} also works at stores that are not yours; ask head office",
                code="staff_out_of_scope",
            )
        try:
            with db().transaction():
                notice = change(person)
        except ApiError as exc:
            if exc.status in (403, 404):
                raise
            raise from_domain(form, exc) from None
    except FormInvalid as exc:
        return _refused(exc, lambda forms, status: _person_page(person_id, forms, status))
    return done("hq.staff_person", notice, person_id=person_id)


@hq_route("/staff/<person_id>/stores", roles=EDITORS, methods=("POST",))
def staff_assign(person_id: str) -> Response:
    """Set a person's role at a store, adding them there (with a PIN for that store)."""
    form = "assign"

    def change(person: master.Person) -> str:
        store = _store_field(form)
        role = _role_field(form)
        pin = _pin(form, required=False)
        added = master.assign(db(), master.hash_pin, person.id, store=store, role=role, pin=pin)
        audit("staff_assign", person.id, {"store": store, "role": role, "added": added})
        return f"{person.name} is {role} at {store}" + (" (added there)" if added else "")

    return _edit(person_id, form, change)


@hq_route("/staff/<person_id>/stores/<store>/remove", roles=EDITORS, methods=("POST",))
def staff_unassign(person_id: str, store: str) -> Response:
    """A person may no longer sign in at a store."""

    def change(person: master.Person) -> str:
        master.unassign(db(), person.id, store)
        audit("staff_unassign", person.id, {"store": store})
        return f"{person.name} may no longer sign in at {store}"

    return _edit(person_id, f"store-{store}", change)


@hq_route("/staff/<person_id>/pin", roles=EDITORS, methods=("POST",))
def staff_pin(person_id: str) -> Response:
    """A new PIN at every store of the person's that is also the user's."""
    form = "pin"

    def change(person: master.Person) -> str:
        pin = _pin(form)
        assert pin is not None
        user = me().user
        mine = [a.store for a in person.assignments if user.may_see(a.store)]
        stores = master.set_pin(db(), master.hash_pin, person.id, pin, mine)
        audit("staff_pin", person.id, {"stores": stores})
        return f"New PIN for {person.name} at {', '.join(stores)}"

    return _edit(person_id, form, change)


@hq_route("/staff/<person_id>/name", roles=EDITORS, methods=("POST",))
def staff_rename(person_id: str) -> Response:
    """Change a person's name (at every store they work at)."""
    form = "name"

    def change(person: master.Person) -> str:
        name = form_text("name", max_length=200)
        master.rename(db(), person.id, name)
        audit("staff_rename", person.id, {"name": name})
        return f"{person.id} is now called {master.clean_name(name)}"

    return _edit(person_id, form, change, whole=True)


@hq_route("/staff/<person_id>/leave", roles=EDITORS, methods=("POST",))
def staff_leave(person_id: str) -> Response:
    """The person leaves: they may sign in at no store (their history stays)."""

    def change(person: master.Person) -> str:
        master.set_active(db(), master.hash_pin, person.id, active=False, pin=None)
        audit("staff_leave", person.id, {})
        return f"{person.name} has left: they may sign in nowhere once the stores have it"

    return _edit(person_id, "leave", change, whole=True)


@hq_route("/staff/<person_id>/return", roles=EDITORS, methods=("POST",))
def staff_return(person_id: str) -> Response:
    """Bring a person back, with a new PIN at the stores they work at."""
    form = "return"

    def change(person: master.Person) -> str:
        pin = _pin(form)
        master.set_active(db(), master.hash_pin, person.id, active=True, pin=pin)
        audit("staff_return", person.id, {})
        return f"{person.name} is back"

    return _edit(person_id, form, change, whole=True)
