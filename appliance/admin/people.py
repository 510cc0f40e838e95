"""The registers page (pairing codes, revoke, unlock) and the staff page (add, role, PIN reset,
deactivate, unlock). Thin: each form calls appliance/staff, as the API and the CLI do."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, request

from appliance.admin.changes import change, submit
from appliance.admin.core import admin, admin_route, audit, done, form_text, page, rt
from appliance.errors import ApiError
from appliance.runtime import Runtime
from appliance.staff import directory, registers
from appliance.staff.directory import StaffMember
from protocol.permissions import PERMISSIONS, Action, Role
from webui.forms import FormInvalid, Forms, choice, from_domain

REGISTERS_ROLE = PERMISSIONS[Action.REGISTER_MANAGE].min_role
STAFF_ROLE = PERMISSIONS[Action.STAFF_MANAGE].min_role
UNLOCK_ROLE = PERMISSIONS[Action.STAFF_UNLOCK].min_role
# Supervisors see the staff list (to unlock someone); changing it is for managers.
STAFF_PAGE_ROLE = min(STAFF_ROLE, UNLOCK_ROLE)
ROLES = {role.slug: role for role in Role}

_STAFF_FIELDS = {
    "invalid_name": "name",
    "invalid_pin": "pin",
    "pin_in_use": "pin",
    "pin_required": "pin",
    "last_manager": "role",
}


# ---- registers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterView:
    """A register as the page lists it: with when it was last heard from."""

    register: registers.Register
    last_seen_ms: int | None
    online: bool
    locked: bool


def register_views(runtime: Runtime) -> list[RegisterView]:
    """Every register, with its last sign of life: a staff session's last request, or the
    last event it pushed; online while its register app holds its scan stream open."""
    seen: dict[str, int] = {}
    for row in runtime.db.query(
        "SELECT register_id AS id, MAX(last_seen_ms) AS ms FROM staff_session GROUP BY register_id"
    ):
        seen[row["id"]] = row["ms"]
    for row in runtime.db.query(
        "SELECT o.origin AS id, e.received_ms AS ms FROM origin_cursor o"
        " JOIN event e ON e.origin = o.origin AND e.seq = o.last_seq"
    ):
        if row["ms"] is not None:
            seen[row["id"]] = max(seen.get(row["id"], 0), row["ms"])
    streaming = runtime.scans.streaming()
    now = runtime.now_ms()
    return [
        RegisterView(
            register=r,
            last_seen_ms=seen.get(r.id),
            online=r.revoked_at is None and r.id in streaming,
            locked=r.locked_until_ms is not None and r.locked_until_ms > now,
        )
        for r in registers.list_registers(runtime)
    ]


def _show_registers(
    forms: Forms | None = None, status: int = 200, code: registers.PairingCode | None = None
) -> Response:
    return page(
        "admin/registers.html",
        status=status,
        forms=forms or Forms(),
        registers=register_views(rt()),
        pairing=code,
    )


@admin_route("/registers", role=REGISTERS_ROLE)
def registers_page() -> Response:
    """Registers, when each was last heard from, and pairing a new one."""
    return _show_registers()


@admin_route("/registers/pairing-code", role=REGISTERS_ROLE, methods=("POST",))
def pairing_code() -> Response:
    """A one-time code the new tablet types where it asks for a manager's PIN."""
    runtime = rt()
    with runtime.db.write():
        code = registers.issue_pairing_code(runtime, manager_id=admin().staff.id)
        audit("pairing_code", None, {"expires_ms": code.expires_ms})
    # Shown on this answer only (never in a URL, never stored readable).
    return _show_registers(code=code)


def _register(register_id: str) -> registers.Register:
    return registers.get_register(rt(), register_id)


@admin_route("/registers/<register_id>/revoke", role=REGISTERS_ROLE, methods=("POST",))
def register_revoke(register_id: str) -> Response:
    """Its device token stops working at once and every staff session on it ends."""
    runtime = rt()
    register = _register(register_id)
    with runtime.db.write():
        registers.revoke_register(runtime, register.id)
        audit("register_revoke", f"register:{register.id}", {"name": register.name})
    return done("admin.registers_page", f"{register.name} ({register.id}) revoked")


@admin_route("/registers/<register_id>/unlock", role=UNLOCK_ROLE, methods=("POST",))
def register_unlock(register_id: str) -> Response:
    """Lift a register's PIN lockout early."""
    runtime = rt()
    register = _register(register_id)
    with runtime.db.write():
        registers.unlock_register(runtime, register.id)
        audit("register_unlock", f"register:{register.id}")
    endpoint = "admin.registers_page" if admin().staff.role >= REGISTERS_ROLE else "admin.dashboard"
    return done(endpoint, f"{register.name} unlocked")


# ---- staff ---------------------------------------------------------------------------------

# Head office's own people have ids it gave them (hq-1, hq-2 …; decisions.md §57); the store's
# are `<store>-staff-<n>`.
HQ_STAFF_PREFIX = "hq-"


def from_head_office(member: StaffMember) -> bool:
    """Whether head office added this person (and so manages them)."""
    return member.id.startswith(HQ_STAFF_PREFIX)


def _show_staff(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    staff = directory.list_staff(runtime, include_inactive=True)
    return page(
        "admin/staff.html",
        status=status,
        forms=forms or Forms(),
        staff=staff,
        from_hq={m.id for m in staff if from_head_office(m)},
        now_ms=runtime.now_ms(),
        roles=list(ROLES),
        may_manage=admin().staff.role >= STAFF_ROLE,
    )


@admin_route("/staff", role=STAFF_PAGE_ROLE)
def staff_page() -> Response:
    """Staff, their roles and lockouts."""
    return _show_staff()


def _member(staff_id: str) -> StaffMember:
    return directory.get_staff(rt(), staff_id)


def _new_pin(form: str, name: str = "pin") -> str:
    pin = (request.form.get(name) or "").strip()
    confirm = (request.form.get(f"{name}_again") or "").strip()
    if pin != confirm:
        raise FormInvalid(form, {f"{name}_again": "the two PINs differ"})
    return pin


@admin_route("/staff", role=STAFF_ROLE, methods=("POST",))
def staff_add() -> Response:
    """Add a staff member with a role and a first PIN."""
    form = "staff-add"

    def act() -> Response:
        runtime = rt()
        role = choice(form, "role", ROLES, label="role")
        pin = _new_pin(form)
        name = form_text("name", max_length=200)
        try:
            member = directory.add_staff(runtime, name=name, role=ROLES[role], pin=pin)
        except ApiError as exc:
            raise from_domain(form, exc, _STAFF_FIELDS) from None
        with runtime.db.write():
            audit("staff_add", f"staff:{member.id}", {"name": member.name, "role": role})
        return done(
            "admin.staff_page",
            f"{member.name} added as {role}: they sign in with staff ID {member.id}",
        )

    return submit(_show_staff, act)


@admin_route("/staff/<staff_id>/role", role=STAFF_ROLE, methods=("POST",))
def staff_role(staff_id: str) -> Response:
    """Change a staff member's role (the store keeps at least one active manager)."""
    form = f"staff-{staff_id}"

    def act() -> Response:
        member = _member(staff_id)
        role = choice(form, "role", ROLES, label="role")
        with change(form, _STAFF_FIELDS) as runtime:
            directory.update_staff(runtime, member.id, role=ROLES[role])
            audit("staff_role", f"staff:{member.id}", {"from": member.role.slug, "to": role})
        return done("admin.staff_page", f"{member.name} is now a {role}")

    return submit(_show_staff, act)


@admin_route("/staff/<staff_id>/pin", role=STAFF_ROLE, methods=("POST",))
def staff_pin(staff_id: str) -> Response:
    """Set a new PIN for someone who forgot theirs (tell them; they keep it or ask again).

    Bringing back a deactivated member also goes through here: they need a new PIN, since
    their old one may have gone to someone else meanwhile."""
    form = f"staff-{staff_id}"

    def act() -> Response:
        runtime = rt()
        member = _member(staff_id)
        pin = _new_pin(form)
        reactivate = request.form.get("reactivate") == "1" and not member.active
        try:
            directory.update_staff(runtime, member.id, pin=pin, active=True if reactivate else None)
        except ApiError as exc:
            raise from_domain(form, exc, _STAFF_FIELDS) from None
        with runtime.db.write():
            # A PIN reset also lifts a lockout: the person now has a PIN they know.
            directory.unlock_staff(runtime, member.id)
            audit("staff_reactivate" if reactivate else "staff_pin_reset", f"staff:{member.id}")
        what = "is back with a new PIN" if reactivate else "has a new PIN"
        return done("admin.staff_page", f"{member.name} {what}")

    return submit(_show_staff, act)


@admin_route("/staff/<staff_id>/deactivate", role=STAFF_ROLE, methods=("POST",))
def staff_deactivate(staff_id: str) -> Response:
    """Stop a staff member signing in anywhere; their sessions end now."""
    form = f"staff-{staff_id}"

    def act() -> Response:
        member = _member(staff_id)
        if member.id == admin().staff.id:
            raise FormInvalid(form, {"_form": "you cannot deactivate yourself"})
        with change(form, _STAFF_FIELDS) as runtime:
            # Their register sessions end here; their admin session stops resolving.
            directory.update_staff(runtime, member.id, active=False)
            audit("staff_deactivate", f"staff:{member.id}", {"name": member.name})
        return done("admin.staff_page", f"{member.name} deactivated")

    return submit(_show_staff, act)


@admin_route("/staff/<staff_id>/unlock", role=UNLOCK_ROLE, methods=("POST",))
def staff_unlock(staff_id: str) -> Response:
    """Lift a PIN lockout early."""
    runtime = rt()
    member = _member(staff_id)
    with runtime.db.write():
        directory.unlock_staff(runtime, member.id)
        audit("staff_unlock", f"staff:{member.id}")
    return done("admin.staff_page", f"{member.name} unlocked")
