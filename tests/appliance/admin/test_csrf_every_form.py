"""Every admin form (each POST route in the authorization table) refuses a missing or wrong
CSRF token with 403 `csrf_failed`, for a signed-in manager, and changes nothing: the
database, the settings file and the print queue stay as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.admin.core import ROUTES
from tests.appliance.admin.conftest import AdminBrowser
from tests.appliance.admin.test_authorization import CASES, SNAPSHOT, _ids
from tests.conftest import FakeWall, Store

POSTS = sorted(
    endpoint
    for endpoint, spec in ROUTES.items()
    if spec.methods[0] == "POST" and spec.role is not None
)


@pytest.mark.parametrize("token", ["", "not-the-token"])
@pytest.mark.parametrize("endpoint", POSTS)
def test_a_form_without_its_csrf_token_changes_nothing(
    endpoint: str,
    token: str,
    store: Store,
    manager: AdminBrowser,
    tmp_path: Path,
    wall: FakeWall,
) -> None:
    ids = _ids(store, tmp_path, wall)
    path = CASES[endpoint].path(ids)
    settings_file = store.rt.settings.settings_path
    before = (
        tuple(store.rt.db.one(SNAPSHOT)),
        settings_file.read_bytes() if settings_file.exists() else None,
    )
    form: dict[str, Any] = dict(CASES[endpoint].form)
    if token:
        form["csrf_token"] = token
    answer = manager.client.post(path, data=form, headers={"Accept": "application/json"})
    assert answer.status_code == 403, (endpoint, answer.status_code)
    assert answer.get_json()["error"] == "csrf_failed"
    after = (
        tuple(store.rt.db.one(SNAPSHOT)),
        settings_file.read_bytes() if settings_file.exists() else None,
    )
    assert after == before


def test_every_form_of_part_two_is_covered() -> None:
    assert {
        "admin.review_resolve",
        "admin.review_adjust",
        "admin.report_print",
        "admin.count_start",
        "admin.count_scan",
        "admin.count_set",
        "admin.count_post",
        "admin.count_discard",
        "admin.delivery_receive",
        "admin.stock_adjust",
        "admin.settings_save",
    } <= set(POSTS)
