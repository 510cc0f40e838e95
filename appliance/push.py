"""Applying a register's pushed events: the Replicache rule per origin, business rules, flags.

Live events that break a rule are refused with 422 (the cashier sees why, nothing is
stored). Replayed offline events that break a rule happened physically: they are kept and
flagged for a manager. Either way a push is one transaction: all of it or none of it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance import journal
from appliance.errors import Conflict, Forbidden, Invalid
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember
from appliance.staff.registers import Register
from protocol.bodies import Body, BodyError, decode_body
from protocol.envelope import Envelope, EnvelopeError, decode_envelope, verify_hash
from protocol.hlc import DEFAULT_MAX_AHEAD_MS, HLC
from protocol.permissions import PERMISSIONS, Action, Role, may_perform

_log = logging.getLogger(__name__)

Mode = Literal["live", "replay"]


@dataclass
class Batch:
    """What the events of one push share: exchanges pair a return and a sale in one push."""

    exchanges: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Apply:
    """One event being applied, and how its rule breaches are handled."""

    rt: Runtime
    env: Envelope
    body: Any
    live: bool
    hlc: HLC
    batch: Batch
    flags: list[tuple[str, str]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    _actor: StaffMember | None = None

    def breach(self, code: str, message: str, **details: Any) -> None:
        """A broken rule: refuse a live event (422); keep and flag a replayed one."""
        if self.live:
            raise Invalid(message, code=code, details={"event": self.env.id, **details})
        self.flags.append((code, message))

    def flag(self, code: str, message: str) -> None:
        """Something a manager should look at, that never refuses the event (negative stock)."""
        self.flags.append((code, message))

    def actor(self) -> StaffMember | None:
        """The staff member who did this, or None (a breach) when unknown."""
        if self._actor is not None:
            return self._actor
        if self.env.actor is None:
            self.breach("actor_required", f"{self.env.type} needs the staff member who did it")
            return None
        row = self.rt.db.one(
            "SELECT id, name, role, active, locked_until_ms FROM staff WHERE id = ?",
            (self.env.actor,),
        )
        if row is None:
            self.breach("unknown_actor", f"no staff member {self.env.actor}")
            return None
        self._actor = StaffMember(
            id=row["id"],
            name=row["name"],
            role=Role.parse(row["role"]),
            active=bool(row["active"]),
            locked_until_ms=row["locked_until_ms"],
        )
        return self._actor

    def authorize(
        self, action: Action, *, amount: int | None = None, approval: str | None = None
    ) -> str | None:
        """Allow an action by the actor's role, or by using up an approval; the approval id.

        `approval` names an approval for part of the event (a line's price); otherwise the
        envelope's `override` is used. The approval must be for this action (and amount),
        asked for by this actor on this register, and not used before.
        """
        staff = self.actor()
        if staff is None:
            return None
        permission = PERMISSIONS[action]
        if may_perform(staff.role, action):
            return None
        override = self.env.override
        claimed_approver = None
        if approval is None and override is not None and override.action == action.value:
            approval = override.id
            claimed_approver = override.approver
        if approval is None:
            self.breach(
                "override_required",
                f"{permission.label} needs a {permission.min_role.slug} or an override",
                action=action.value,
            )
            return None
        row = self.rt.db.one("SELECT * FROM approval WHERE id = ?", (approval,))
        problem = None
        if row is None:
            problem = f"approval {approval} is unknown"
        elif row["used_ms"] is not None:
            problem = f"approval {approval} was already used"
        elif row["action"] != action.value:
            problem = f"approval {approval} is for {row['action']}, not {action.value}"
        elif permission.amount_bound and row["amount"] != amount:
            problem = f"approval {approval} is for a different amount"
        elif row["requester_id"] != staff.id or row["register_id"] != self.env.origin:
            problem = f"approval {approval} was given to someone else"
        elif claimed_approver is not None and claimed_approver != row["approver_id"]:
            # The journal keeps the envelope as written: it must not name a different approver.
            problem = (
                f"approval {approval} was given by {row['approver_id']}, not {claimed_approver}"
            )
        elif self.live and not row["offline"] and row["expires_ms"] <= self.rt.now_ms():
            problem = f"approval {approval} has expired; ask again"
        if problem is not None or row is None:
            self.breach("approval_invalid", problem or "invalid approval", action=action.value)
            return None
        self.rt.db.execute(
            "UPDATE approval SET used_ms = ?, used_for = ? WHERE id = ? AND used_ms IS NULL",
            (self.rt.now_ms(), self.env.id, approval),
        )
        if row["offline"]:
            self.flag(
                "offline_override", f"{permission.label} approved offline by {row['approver_id']}"
            )
        return approval

    def open_shift(self, shift_id: str) -> bool:
        """Check the shift exists, is this register's, and is open; breach otherwise."""
        row = self.rt.db.one("SELECT register, closed_event FROM shift WHERE id = ?", (shift_id,))
        if row is None:
            self.breach("unknown_shift", f"shift {shift_id} was never opened", shift=shift_id)
            return False
        if row["register"] != self.env.origin:
            self.breach(
                "wrong_shift", f"shift {shift_id} belongs to {row['register']}", shift=shift_id
            )
            return False
        if row["closed_event"] is not None:
            self.breach("shift_closed", f"shift {shift_id} is closed", shift=shift_id)
            return False
        return True


Applier = Callable[[Apply], None]


@functools.cache
def _appliers() -> Mapping[str, Applier]:
    """Every event type's rules and projections (imported here to keep the modules apart)."""
    from appliance import returns, selling, shifts, stock
    from appliance.staff import overrides

    return {
        "sale.completed": selling.apply_sale,
        "sale.voided": selling.apply_void,
        "return.completed": returns.apply_return,
        "shift.opened": shifts.apply_opened,
        "cash.moved": shifts.apply_cash_moved,
        "shift.closed": shifts.apply_closed,
        "stock.received": stock.apply_received,
        "stock.adjusted": stock.apply_adjusted,
        "stock.counted": stock.apply_counted,
        "transfer.requested": stock.apply_transfer_note,
        "transfer.approved": stock.apply_transfer_note,
        "transfer.shipped": stock.apply_transfer_shipped,
        "transfer.received": stock.apply_transfer_received,
        "override.granted": overrides.apply_granted,
        "receipt.requested": selling.apply_receipt_requested,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """What a push did: the highest seq now held per origin, and what was flagged."""

    acked: dict[str, int]
    flagged: list[dict[str, Any]]
    applied: int
    duplicates: int


def _decode_all(raw_events: Sequence[Any]) -> list[Envelope]:
    envelopes = []
    for index, raw in enumerate(raw_events):
        try:
            envelopes.append(decode_envelope(raw))
        except EnvelopeError as exc:
            raise Invalid(
                f"event {index}: {exc.reason}",
                code="invalid_envelope",
                details={"index": index, "field": exc.field},
            ) from None
    return envelopes


def push(
    rt: Runtime,
    register: Register,
    raw_events: Sequence[Any],
    *,
    mode: Mode,
    staff: StaffMember | None,
) -> PushResult:
    """Apply a register's events in seq order, in one transaction."""
    if len(raw_events) > rt.settings.push_max_events:
        raise Invalid(
            f"at most {rt.settings.push_max_events} events in one push",
            code="too_many_events",
        )
    envelopes = _decode_all(raw_events)
    for env in envelopes:
        if env.store != rt.store:
            raise Invalid(f"event {env.id} is for store {env.store}", code="wrong_store")
        if env.origin != register.id:
            raise Forbidden(
                f"{register.id} may push only its own events, not {env.origin}'s",
                code="wrong_origin",
            )
        if mode == "live" and (staff is None or env.actor not in (None, staff.id)):
            # Live events are authenticated by the staff session that sends them.
            raise Forbidden(
                "live events must come from the logged-in staff member's session",
                code="actor_mismatch",
            )
    envelopes.sort(key=lambda e: e.seq)
    appliers = _appliers()
    # Everything that needs no database is done before taking the write lock, so other
    # registers' pushes can commit (and fsync) meanwhile.
    prepared = []
    for env in envelopes:
        # The hash first: a resent event whose body was changed but whose id and claimed
        # hash were not must be refused, not taken for the duplicate of what is stored.
        if not verify_hash(env):
            raise Invalid(f"event {env.id} does not match its hash", code="bad_hash")
        if env.actor is None:
            raise Invalid(f"event {env.id} names no staff member", code="actor_required")
        prepared.append((env, _body(env), HLC.parse(env.hlc)))
    live = mode == "live"

    def apply_all() -> PushResult:
        flagged: list[dict[str, Any]] = []
        applied = duplicates = 0
        chain = _chain_of(rt, register.id)
        batch = Batch()
        for env, body, hlc in prepared:
            if _already_applied(rt, env, chain):
                duplicates += 1
                continue
            step = Apply(rt=rt, env=env, body=body, live=live, hlc=hlc, batch=batch)
            if staff is not None and staff.id == env.actor:
                step._actor = staff  # the session's, resolved for this very request
            # Journal first: projections may refer to their event (override_log.event_id is a
            # foreign key), and the chain link and the id are checked before any rule. A
            # refusal below still rolls the whole push back.
            journal.append_in_chain(rt, env, prev_hash=chain.hash)
            previous = chain.hlc
            chain.seq, chain.hash, chain.hlc = env.seq, env.hash, (hlc.wall_ms, hlc.counter)
            if rt.clock.observe(hlc).clamped:
                step.flag("clock_ahead", f"the register's clock is ahead: {env.hlc}")
            elif live and hlc.wall_ms < rt.now_ms() - DEFAULT_MAX_AHEAD_MS:
                # A live event was sealed a moment ago (the PWA queues for replay otherwise),
                # so a stamp this old is a slow clock, which the cloud cannot tell from a late
                # event. The fold still trusts it; a manager should set the clock right.
                step.flag("clock_behind", f"the register's clock is behind: {env.hlc}")
            if previous is not None and chain.hlc <= previous:
                # The stock fold orders by HLC: a register whose clock ran backwards would
                # reorder its own movements. Kept on replay, but a manager should know.
                step.breach(
                    "clock_backwards",
                    f"the register's clock went backwards: {env.hlc} is not after its"
                    " previous event",
                )
            appliers[env.type](step)
            if step.flags:
                created = rt.now_ms()
                rt.db.executemany(
                    "INSERT INTO review_flag (event, code, message, created_ms) VALUES (?, ?, ?, ?)",
                    [(env.id, code, message, created) for code, message in step.flags],
                )
                flagged.append(
                    {
                        "id": env.id,
                        "seq": env.seq,
                        "flags": [{"code": c, "message": m} for c, m in step.flags],
                    }
                )
                _log.warning(
                    "flagged store=%s origin=%s seq=%s id=%s flags=%s",
                    rt.store,
                    env.origin,
                    env.seq,
                    env.id,
                    ",".join(c for c, _ in step.flags),
                )
            applied += 1
        _finish_batch(rt, batch, live=live, flagged=flagged)
        return PushResult(
            acked={register.id: chain.seq},
            flagged=flagged,
            applied=applied,
            duplicates=duplicates,
        )

    # Committed together with other registers' concurrent pushes (one fsync for all), each
    # in its own savepoint: a refused push rolls back alone.
    return rt.db.write_together(apply_all)


@dataclass(slots=True)
class _Chain:
    """Where an origin's chain stands: its last seq, hash and HLC (wall, counter)."""

    seq: int
    hash: str | None
    hlc: tuple[int, int] | None


def _chain_of(rt: Runtime, origin: str) -> _Chain:
    row = rt.db.one(
        "SELECT c.last_seq, c.last_hash, e.hlc_wall, e.hlc_counter FROM origin_cursor c"
        " LEFT JOIN event e ON e.origin = c.origin AND e.seq = c.last_seq WHERE c.origin = ?",
        (origin,),
    )
    if row is None:
        return _Chain(seq=0, hash=None, hlc=None)
    hlc = None if row["hlc_wall"] is None else (row["hlc_wall"], row["hlc_counter"])
    return _Chain(seq=int(row["last_seq"]), hash=row["last_hash"], hlc=hlc)


def _body(env: Envelope) -> Body:
    try:
        return decode_body(env.type, env.body)
    except BodyError as exc:
        raise Invalid(
            f"event {env.id}: {exc}",
            code="invalid_body",
            details={"event": env.id, "path": exc.path},
        ) from None


def _already_applied(rt: Runtime, env: Envelope, chain: _Chain) -> bool:
    """The Replicache rule: a seq already held is skipped if it is the same event, else 409;
    a seq beyond the next is a gap, answered with the seq expected. (An id held under another
    origin or seq is found by the event's primary key when it is stored: a 409 too.)"""
    if env.seq <= chain.seq:
        held = rt.db.one(
            "SELECT id, hash FROM event WHERE origin = ? AND seq = ?", (env.origin, env.seq)
        )
        if held is not None and held["id"] == env.id and held["hash"] == env.hash:
            return True
        raise Conflict(
            f"{env.origin} seq {env.seq} is already a different event",
            code="seq_conflict",
            details={
                "origin": env.origin,
                "seq": env.seq,
                "held": None if held is None else held["id"],
            },
        )
    if env.seq != chain.seq + 1:
        raise Conflict(
            f"{env.origin} is at seq {chain.seq}; send seq {chain.seq + 1} next",
            code="seq_gap",
            details={"expected": {env.origin: chain.seq + 1}},
        )
    return False


def _finish_batch(rt: Runtime, batch: Batch, *, live: bool, flagged: list[dict[str, Any]]) -> None:
    """Checks that need the whole push: both halves of every exchange arrived.

    A replayed flag is reported in the push's `flagged` as well as stored, like any other."""
    for return_id, pending in batch.exchanges.items():
        if not pending.get("sale_seen"):
            message = f"return {return_id} is an exchange but its sale {pending['sale']} is not in this push"
            if live:
                raise Invalid(message, code="exchange_incomplete", details={"event": return_id})
            rt.db.execute(
                "INSERT INTO review_flag (event, code, message, created_ms) VALUES (?, ?, ?, ?)",
                (return_id, "exchange_incomplete", message, rt.now_ms()),
            )
            flag = {"code": "exchange_incomplete", "message": message}
            entry = next((e for e in flagged if e["id"] == return_id), None)
            if entry is None:
                seq = rt.db.scalar("SELECT seq FROM event WHERE id = ?", (return_id,))
                flagged.append({"id": return_id, "seq": seq, "flags": [flag]})
            else:
                entry["flags"].append(flag)


def apply_own(rt: Runtime, *, type: str, body: dict[str, Any], actor: StaffMember) -> Envelope:
    """An event the appliance makes itself for a signed-in staff member (a delivery, a count
    or an adjustment from the admin pages): journaled under the appliance's origin and applied
    as a live event in one write, so a broken rule refuses it (422) and nothing is stored.
    What it flags (negative stock, a recount) waits for review like a register's flags."""
    with rt.db.write():
        env = journal.record(rt, type=type, body=body, actor=actor.id).envelope
        step = Apply(
            rt=rt, env=env, body=_body(env), live=True, hlc=HLC.parse(env.hlc), batch=Batch()
        )
        step._actor = actor
        _appliers()[type](step)
        if step.flags:
            created = rt.now_ms()
            rt.db.executemany(
                "INSERT INTO review_flag (event, code, message, created_ms) VALUES (?, ?, ?, ?)",
                [(env.id, code, message, created) for code, message in step.flags],
            )
    return env
