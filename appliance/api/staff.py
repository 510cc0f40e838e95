"""Registers, staff, sessions and overrides."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from appliance.api.registry import Call, Reply
from appliance.api.schemas import (
    ApprovalOut,
    LoginBody,
    NewStaffBody,
    OverrideBody,
    OverrideLog,
    OverrideQuery,
    PairBody,
    Paired,
    RegisterList,
    RegisterOut,
    SessionOut,
    StaffChangeBody,
    StaffList,
    StaffOut,
    UnlockBody,
    WhoAmI,
)
from appliance.api.v1 import api
from appliance.staff import directory, overrides, registers, sessions
from appliance.staff.directory import StaffMember
from appliance.staff.registers import Register
from protocol.envelope import format_at
from protocol.permissions import Action, Role

_REGISTER_PATH = {"type": "string", "pattern": r"^[a-z][a-z0-9]{1,15}-r[0-9]{2,4}$"}
_STAFF_PATH = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,62}$"}


def _register_out(register: Register) -> RegisterOut:
    return RegisterOut(**register.to_json())  # type: ignore[arg-type]


def _staff_out(member: StaffMember, now_ms: int) -> StaffOut:
    return StaffOut(**member.to_json(now_ms))  # type: ignore[arg-type]


@contextmanager
def _unlocking(call: Call, body: UnlockBody, target: str) -> Iterator[None]:
    """One transaction that authorises `staff_unlock` (by role, or by using up an approval)
    and lifts the lockout, so a failed unlock leaves the approval unused."""
    with call.rt.db.write():
        overrides.authorize(
            call.rt,
            call.staff_caller(),
            Action.STAFF_UNLOCK,
            approval=body.approval,
            used_for=f"unlock {target}",
        )
        yield


# ---- registers ---------------------------------------------------------------------------


@api.route(
    "POST",
    "/registers",
    summary="Pair this tablet as a register",
    tag="registers",
    auth="public",
    body=PairBody,
    response=Paired,
    status=201,
    errors=(401, 429),
)
def pair_register(call: Call, body: PairBody) -> Paired:
    """A manager types their PIN on the tablet to approve it, or the tablet takes an 8-digit
    pairing code a manager made on the admin pages (good once, for 10 minutes) in the same
    field. The device token in the answer is shown once; the tablet keeps it. Five wrong PINs
    or codes lock this address for five minutes."""
    register, token = registers.pair_register(
        call.rt, name=body.name, manager_pin=body.manager_pin, address=call.remote_addr
    )
    return Paired(register=_register_out(register), token=token, store=call.rt.store)


@api.route(
    "GET",
    "/registers",
    summary="All registers",
    tag="registers",
    auth="staff",
    action=Action.REGISTER_MANAGE,
    response=RegisterList,
)
def list_registers(call: Call) -> RegisterList:
    """Every register ever paired, revoked ones included. Managers only."""
    return RegisterList(registers=[_register_out(r) for r in registers.list_registers(call.rt)])


@api.route(
    "GET",
    "/registers/current",
    summary="The register this token belongs to",
    tag="registers",
    auth="device",
    response=RegisterOut,
)
def current_register(call: Call) -> RegisterOut:
    """Lets a tablet check that its pairing still holds."""
    return _register_out(call.device_caller().register)


@api.route(
    "POST",
    "/registers/<register_id>/unlock",
    summary="Lift a register's PIN lockout",
    tag="registers",
    auth="staff",
    body=UnlockBody,
    response=RegisterOut,
    path={"register_id": _REGISTER_PATH},
)
def unlock_register(call: Call, body: UnlockBody, register_id: str) -> RegisterOut:
    """After five wrong PINs on one tablet nobody can log in there for five minutes. A
    supervisor or manager may lift that early (from another register); a cashier needs a
    supervisor's approval token for `staff_unlock`."""
    registers.get_register(call.rt, register_id)
    with _unlocking(call, body, register_id):
        register = registers.unlock_register(call.rt, register_id)
    return _register_out(register)


@api.route(
    "DELETE",
    "/registers/<register_id>",
    summary="Revoke a register",
    tag="registers",
    auth="staff",
    action=Action.REGISTER_MANAGE,
    response=RegisterOut,
    path={"register_id": _REGISTER_PATH},
)
def revoke_register(call: Call, register_id: str) -> RegisterOut:
    """Its device token stops working at once and every staff session on it ends."""
    return _register_out(registers.revoke_register(call.rt, register_id))


# ---- staff -------------------------------------------------------------------------------


@api.route(
    "GET",
    "/staff",
    summary="Staff for the login screen",
    tag="staff",
    auth="device",
    response=StaffList,
)
def list_staff(call: Call) -> StaffList:
    """Active staff with their role and whether they are locked out."""
    now = call.rt.now_ms()
    return StaffList(staff=[_staff_out(m, now) for m in directory.list_staff(call.rt)])


@api.route(
    "POST",
    "/staff",
    summary="Add a staff member",
    tag="staff",
    auth="staff",
    action=Action.STAFF_MANAGE,
    body=NewStaffBody,
    response=StaffOut,
    status=201,
    errors=(409,),
)
def add_staff(call: Call, body: NewStaffBody) -> StaffOut:
    """PINs are unique in the store, so a PIN alone can identify an approver (409 if taken)."""
    member = directory.add_staff(call.rt, name=body.name, role=Role.parse(body.role), pin=body.pin)
    return _staff_out(member, call.rt.now_ms())


@api.route(
    "PATCH",
    "/staff/<staff_id>",
    summary="Change a staff member",
    tag="staff",
    auth="staff",
    action=Action.STAFF_MANAGE,
    body=StaffChangeBody,
    response=StaffOut,
    path={"staff_id": _STAFF_PATH},
    errors=(409,),
)
def change_staff(call: Call, body: StaffChangeBody, staff_id: str) -> StaffOut:
    """Rename, change role or PIN, or deactivate (which ends their sessions)."""
    member = directory.update_staff(
        call.rt,
        staff_id,
        name=body.name,
        role=Role.parse(body.role) if body.role else None,
        pin=body.pin,
        active=body.active,
    )
    return _staff_out(member, call.rt.now_ms())


@api.route(
    "POST",
    "/staff/<staff_id>/unlock",
    summary="Lift a PIN lockout",
    tag="staff",
    auth="staff",
    body=UnlockBody,
    response=StaffOut,
    path={"staff_id": _STAFF_PATH},
)
def unlock_staff(call: Call, body: UnlockBody, staff_id: str) -> StaffOut:
    """A supervisor or manager may do this; a cashier needs a supervisor's approval token for
    `staff_unlock` (POST /overrides). The token is used up, and the override was logged."""
    directory.get_staff(call.rt, staff_id)
    with _unlocking(call, body, staff_id):
        member = directory.unlock_staff(call.rt, staff_id)
    return _staff_out(member, call.rt.now_ms())


# ---- sessions ----------------------------------------------------------------------------


@api.route(
    "POST",
    "/sessions",
    summary="Staff PIN login on this register",
    tag="sessions",
    auth="device",
    body=LoginBody,
    response=SessionOut,
    status=201,
    errors=(429,),
)
def login(call: Call, body: LoginBody) -> SessionOut:
    """Five wrong PINs lock the staff member, and separately the register, for five minutes
    (429 with Retry-After). The session ends when idle for the configured time."""
    caller = call.device_caller()
    if caller.staff is not None:
        caller = sessions.Caller(register=caller.register)
    session = sessions.start_session(call.rt, caller.register, staff_id=body.staff, pin=body.pin)
    assert session.caller.staff is not None
    return SessionOut(
        token=session.token,
        staff=_staff_out(session.caller.staff, call.rt.now_ms()),
        register=_register_out(session.caller.register),
        idle_timeout_s=session.idle_timeout_s,
        expires_at=format_at(session.expires_at_ms),
    )


@api.route(
    "GET",
    "/sessions/current",
    summary="Who is logged in",
    tag="sessions",
    auth="staff",
    response=WhoAmI,
)
def current_session(call: Call) -> WhoAmI:
    """The staff member and register of this session."""
    caller = call.staff_caller()
    assert caller.staff is not None
    return WhoAmI(
        staff=_staff_out(caller.staff, call.rt.now_ms()),
        register=_register_out(caller.register),
        store=call.rt.store,
    )


@api.route(
    "DELETE", "/sessions/current", summary="Log out", tag="sessions", auth="staff", status=204
)
def logout(call: Call) -> None:
    """The session token stops working at once."""
    sessions.end_session(call.rt, call.staff_caller())


# ---- overrides ---------------------------------------------------------------------------


@api.route(
    "POST",
    "/overrides",
    summary="Get a supervisor's approval",
    tag="overrides",
    auth="staff",
    body=OverrideBody,
    response=ApprovalOut,
    status=201,
    errors=(409, 429),
)
def grant_override(call: Call, body: OverrideBody) -> Reply:
    """The approver types their PIN on this register (naming themselves with `approver` is
    optional: PINs are unique). The answer's `approval` token is good once, for 60 seconds,
    for this action and amount, by this staff member on this register. Every grant goes into
    the journal and the override log."""
    grant = overrides.grant(
        call.rt,
        call.staff_caller(),
        action=Action(body.action),
        amount=body.amount,
        approver_pin=body.approver_pin,
        approver_id=body.approver,
        reason=body.reason,
    )
    out = ApprovalOut(
        id=grant.id,
        approval=grant.token,
        action=body.action,
        amount=grant.amount,
        currency=grant.currency,
        approver=_staff_out(grant.approver, call.rt.now_ms()),
        expires_at=format_at(grant.expires_at_ms),
    )
    return Reply(out, 201)


@api.route(
    "GET",
    "/overrides",
    summary="Search the override log",
    tag="overrides",
    auth="staff",
    role=Role.SUPERVISOR,
    query=OverrideQuery,
    response=OverrideLog,
)
def override_log(call: Call, query: OverrideQuery) -> OverrideLog:
    """Newest first; filter by staff member (requester or approver), action and time
    (`since`/`until` compare with the ISO 8601 `at`)."""
    entries = overrides.search_log(
        call.rt,
        staff=query.staff,
        action=query.action,
        since=query.since,
        until=query.until,
        limit=query.limit,
    )
    return OverrideLog(overrides=entries)
