"""Tests for protocol.permissions: roles, actions and the one permission table."""

from __future__ import annotations

import pytest

from protocol.permissions import PERMISSIONS, Action, Permission, Role, may_approve, may_perform

C, S, M = Role.CASHIER, Role.SUPERVISOR, Role.MANAGER

# The table as the architecture decided it: (action, min_role, approvable, amount_bound).
EXPECTED = [
    ("price_override", S, True, True),
    ("discount_over_threshold", S, True, True),
    ("line_void", C, True, False),
    ("post_void", S, True, True),
    ("return_without_receipt", S, True, True),
    ("no_sale", S, True, False),
    ("pay_in", S, True, True),
    ("pay_out", S, True, True),
    ("shift_close", C, True, False),
    ("stock_adjust", S, True, False),
    ("stock_count_approve", M, True, False),
    ("staff_unlock", S, True, False),
    ("register_manage", M, False, False),
    ("staff_manage", M, False, False),
]


def test_roles_are_ordered() -> None:
    assert Role.CASHIER < Role.SUPERVISOR < Role.MANAGER
    assert [role.slug for role in Role] == ["cashier", "supervisor", "manager"]


@pytest.mark.parametrize(
    ("name", "role"),
    [("cashier", C), ("Supervisor", S), ("MANAGER", M), ("mAnAgEr", M)],
)
def test_role_parse_ignores_case(name: str, role: Role) -> None:
    assert Role.parse(name) is role


@pytest.mark.parametrize("name", ["", "owner", "cashier ", "1", "CASHIERS", None, 1])
def test_role_parse_rejects_other_names(name: object) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse(name)  # type: ignore[arg-type]


def test_actions_are_the_agreed_wire_names() -> None:
    assert [action.value for action in Action] == [row[0] for row in EXPECTED]
    assert all(action.value == action.name.lower() for action in Action)


@pytest.mark.parametrize(("action", "min_role", "approvable", "amount_bound"), EXPECTED)
def test_table_rows(action: str, min_role: Role, approvable: bool, amount_bound: bool) -> None:
    permission = PERMISSIONS[Action(action)]
    assert permission == Permission(
        action=Action(action),
        min_role=min_role,
        approvable=approvable,
        amount_bound=amount_bound,
        label=permission.label,
    )


def test_table_covers_every_action_with_a_label() -> None:
    assert set(PERMISSIONS) == set(Action)
    assert all(key is permission.action for key, permission in PERMISSIONS.items())
    labels = [permission.label for permission in PERMISSIONS.values()]
    assert all(label and label[0].isupper() and len(label) <= 30 for label in labels)
    assert len(set(labels)) == len(labels)
    assert PERMISSIONS[Action.PRICE_OVERRIDE].label == "Price override"


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        PERMISSIONS[Action.NO_SALE] = PERMISSIONS[Action.PAY_IN]  # type: ignore[index]


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_may_perform_and_may_approve_follow_the_table(role: Role, action: Action) -> None:
    permission = PERMISSIONS[action]
    assert may_perform(role, action) == (role >= permission.min_role)
    assert may_approve(role, action) == (permission.approvable and role >= permission.min_role)
    if may_approve(role, action):
        assert may_perform(role, action)


def test_examples() -> None:
    assert not may_perform(C, Action.PRICE_OVERRIDE)
    assert may_perform(S, Action.PRICE_OVERRIDE)
    assert not may_approve(C, Action.PRICE_OVERRIDE)
    assert may_approve(S, Action.PRICE_OVERRIDE)
    assert may_approve(M, Action.PRICE_OVERRIDE)
    assert may_perform(C, Action.LINE_VOID)
    assert not may_approve(S, Action.STOCK_COUNT_APPROVE)
    assert may_approve(M, Action.STOCK_COUNT_APPROVE)
    assert may_perform(M, Action.STAFF_MANAGE)
    assert not may_approve(M, Action.STAFF_MANAGE)
    assert not may_approve(M, Action.REGISTER_MANAGE)


def test_wire_strings_are_accepted_for_actions() -> None:
    assert may_perform(S, "pay_out")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid Action"):
        may_perform(M, "open_safe")  # type: ignore[arg-type]
