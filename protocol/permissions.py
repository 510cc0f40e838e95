"""The one table of who may do what, and who may approve it on the spot for someone else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType


class Role(IntEnum):
    """Staff roles, ordered: Cashier < Supervisor < Manager."""

    CASHIER = 1
    SUPERVISOR = 2
    MANAGER = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """Return the role named "cashier", "supervisor" or "manager" (any case)."""
        raw: object = name
        if isinstance(raw, str):
            for role in cls:
                if role.slug == raw.lower():
                    return role
        raise ValueError(f"unknown role {raw!r}: expected cashier, supervisor or manager")

    @property
    def slug(self) -> str:
        """The lowercase name, as stored and sent over the wire."""
        return self.name.lower()


class Action(StrEnum):
    """Actions that need a minimum role, or an on-the-spot override by a higher one."""

    PRICE_OVERRIDE = "price_override"
    DISCOUNT_OVER_THRESHOLD = "discount_over_threshold"
    LINE_VOID = "line_void"
    POST_VOID = "post_void"
    RETURN_WITHOUT_RECEIPT = "return_without_receipt"
    NO_SALE = "no_sale"
    PAY_IN = "pay_in"
    PAY_OUT = "pay_out"
    SHIFT_CLOSE = "shift_close"
    STOCK_ADJUST = "stock_adjust"
    STOCK_COUNT_APPROVE = "stock_count_approve"
    STAFF_UNLOCK = "staff_unlock"
    REGISTER_MANAGE = "register_manage"
    STAFF_MANAGE = "staff_manage"


@dataclass(frozen=True, slots=True)
class Permission:
    """The minimum role for an action, whether it can be overridden, and if so for an amount."""

    action: Action
    min_role: Role
    approvable: bool
    amount_bound: bool
    label: str


_C, _S, _M = Role.CASHIER, Role.SUPERVISOR, Role.MANAGER

# fmt: off
_TABLE = (
    #          action                          min approvable amount label
    Permission(Action.PRICE_OVERRIDE,          _S, True,     True,  "Price override"),
    Permission(Action.DISCOUNT_OVER_THRESHOLD, _S, True,     True,  "Discount over threshold"),
    # A cashier may void a line before tender; listed so that the table covers every action.
    Permission(Action.LINE_VOID,               _C, True,     False, "Line void"),
    Permission(Action.POST_VOID,               _S, True,     True,  "Post-void"),
    Permission(Action.RETURN_WITHOUT_RECEIPT,  _S, True,     True,  "Return without receipt"),
    Permission(Action.NO_SALE,                 _S, True,     False, "No-sale"),
    Permission(Action.PAY_IN,                  _S, True,     True,  "Pay-in"),
    Permission(Action.PAY_OUT,                 _S, True,     True,  "Pay-out"),
    Permission(Action.SHIFT_CLOSE,             _C, True,     False, "Shift close"),
    Permission(Action.STOCK_ADJUST,            _S, True,     False, "Stock adjustment"),
    Permission(Action.STOCK_COUNT_APPROVE,     _M, True,     False, "Stock count approval"),
    Permission(Action.STAFF_UNLOCK,            _S, True,     False, "Staff unlock"),
    Permission(Action.REGISTER_MANAGE,         _M, False,    False, "Manage registers"),
    Permission(Action.STAFF_MANAGE,            _M, False,    False, "Manage staff"),
)
# fmt: on

PERMISSIONS: Mapping[Action, Permission] = MappingProxyType({p.action: p for p in _TABLE})


def may_perform(role: Role, action: Action) -> bool:
    """Tell whether role may do action itself."""
    return role >= PERMISSIONS[Action(action)].min_role


def may_approve(role: Role, action: Action) -> bool:
    """Tell whether role may approve action on the spot as an override for a lower role."""
    permission = PERMISSIONS[Action(action)]
    return permission.approvable and role >= permission.min_role
