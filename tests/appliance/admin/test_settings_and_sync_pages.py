"""The settings page (checked by Settings' own validation, written atomically, audited,
secrets write-only) and the sync queue page (appliance/sync/status.py in a manager's words)."""

from __future__ import annotations

import stat
import tomllib
from typing import Any

import pytest

from appliance.settings import load_settings
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item
from tests.conftest import FakeWall, Store


def _form(manager: AdminBrowser, **changes: Any) -> dict[str, Any]:
    """The settings form as the page fills it, with some fields changed."""
    settings = manager.rt.settings
    form: dict[str, Any] = {
        "store_name": settings.store_name,
        "timezone": settings.timezone,
        "locale": settings.locale,
        "receipt_header": settings.receipt_header,
        "receipt_footer": settings.receipt_footer,
        "receipt_link_base": settings.receipt_link_base,
        "printer_width": str(settings.printer_width),
        "printer_profile": settings.printer_profile,
        "tax_mode": settings.tax_mode,
        "tax_rounding": settings.tax_rounding,
        "discount_threshold_bp": str(settings.discount_threshold_bp),
        "no_receipt_refunds": list(settings.no_receipt_refunds),
        "override_ttl_seconds": str(settings.override_ttl_seconds),
        "receipt_delivery": settings.receipt_delivery,
        "smtp_host": settings.smtp_host,
        "smtp_port": str(settings.smtp_port),
        "smtp_starttls": "1" if settings.smtp_starttls else "",
        "smtp_username": settings.smtp_username,
        "smtp_from": settings.smtp_from,
        "sms_gateway_url": settings.sms_gateway_url,
        "sms_account": settings.sms_account,
        "sms_from": settings.sms_from,
    }
    form.update(changes)
    return form


def _file(manager: AdminBrowser) -> bytes | None:
    path = manager.rt.settings.settings_path
    return path.read_bytes() if path.exists() else None


def test_settings_are_saved_to_the_file_and_audited(manager: AdminBrowser) -> None:
    page = manager.get("/admin/settings")
    assert page.status_code == 200
    answer = manager.post(
        "/admin/settings",
        _form(
            manager,
            store_name="Main Street",
            receipt_footer="Thanks!\r\nSee you soon",
            printer_width="32",
            no_receipt_refunds=["store_credit"],
            receipt_delivery="appliance",
            smtp_host="smtp.example.com",
            smtp_from="receipts@example.com",
            smtp_password="s3cret pass",
        ),
    )
    assert answer.status_code == 303, answer.text[:600]
    data_dir = manager.rt.settings.data_dir
    saved = load_settings(data_dir, env={})
    assert saved.store_name == "Main Street"
    assert saved.receipt_footer == "Thanks!\nSee you soon"
    assert saved.printer_width == 32
    assert saved.no_receipt_refunds == ("store_credit",)
    assert saved.receipt_delivery == "appliance"
    assert saved.smtp_password_file == data_dir / "secrets" / "smtp_password"
    secret = data_dir / "secrets" / "smtp_password"
    assert secret.read_text() == "s3cret pass"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    table = tomllib.loads(_file(manager).decode())["appliance"]  # type: ignore[union-attr]
    assert table["store"] == "s01"  # what was there before is kept
    # The running appliance keeps its settings until restarted; the page says what waits.
    assert manager.rt.settings.store_name != "Main Street"
    page = manager.get("/admin/settings").text
    assert "Saved 8 setting(s). They apply when the appliance restarts." in page
    assert 'data-testid="pending"' in page and "Store name" in page
    # The secret is never shown back, only that it is set.
    assert "s3cret" not in page and "SMTP password (set; type a new one to replace it)" in page
    audit = manager.rt.db.one(
        "SELECT details FROM admin_audit WHERE action = 'settings_save' ORDER BY id DESC"
    )
    assert "s3cret" not in audit["details"] and "smtp_password" in audit["details"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "is not a time zone name"),
        ({"printer_width": "100"}, "printer_width", "printer_width must be 24–64"),
        ({"printer_width": "wide"}, "printer_width", "must be a whole number"),
        ({"tax_mode": "sometimes"}, "tax_mode", "choose a"),
        ({"receipt_delivery": "pigeon"}, "receipt_delivery", "choose a"),
        ({"smtp_host": "smtp.example.com", "smtp_from": ""}, "smtp_from", "smtp_from must be"),
        (
            {"sms_gateway_url": "ftp://x", "sms_account": "a", "sms_from": "b"},
            "sms_gateway_url",
            "http(s)",
        ),
        ({"no_receipt_refunds": ["cheque"]}, "no_receipt_refunds", "choose from the list"),
        ({"store_name": "two\nlines"}, "store_name", "one line"),
        ({"locale": "english"}, "locale", "is not a language tag"),
        ({"discount_threshold_bp": "20000"}, "discount_threshold_bp", "0–10000"),
    ],
)
def test_a_bad_setting_is_refused_by_field_and_nothing_is_written(
    manager: AdminBrowser, changes: dict[str, Any], field: str, message: str
) -> None:
    before = _file(manager)
    audits = manager.rt.db.scalar("SELECT count(*) FROM admin_audit")
    answer = manager.post("/admin/settings", _form(manager, smtp_password="never-shown", **changes))
    assert answer.status_code == 422, answer.text[:400]
    errors = field_errors(answer.text)
    assert message in errors.get(field, ""), errors
    assert "never-shown" not in answer.text
    assert _file(manager) == before
    assert not (manager.rt.settings.data_dir / "secrets").exists()
    assert manager.rt.db.scalar("SELECT count(*) FROM admin_audit") == audits


def test_nothing_changed_is_said_and_a_supervisor_may_not_save(
    manager: AdminBrowser, supervisor: AdminBrowser
) -> None:
    answer = manager.post("/admin/settings", _form(manager))
    assert answer.status_code == 422 and "nothing changed" in answer.text
    before = _file(manager)
    assert supervisor.post("/admin/settings", _form(manager, store_name="X")).status_code == 403
    assert _file(manager) == before


def test_the_sync_page_explains_the_queue(
    store: Store, catalog: Any, wall: FakeWall, supervisor: AdminBrowser
) -> None:
    till = make_till(store, wall)
    mug = uid(catalog, "MUG-1")
    ok(till.send("stock.received", {"lines": [{"variant": mug, "qty": 5}]}))
    wall.advance(125)
    ok(till.send("sale.completed", till.sale_body([Item(mug, 1, 950)])))
    page = supervisor.get("/admin/sync")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="sync-depth">3<' in html  # shift opened, delivery, sale
    assert 'data-testid="sync-oldest">2 min 5 s<' in html
    assert "shift.opened from s01-r01 (#1)" in html
    assert 'data-testid="sync-link">Not set up<' in html
    assert 'data-testid="origin-s01-r01"><td>s01-r01</td><td>3</td><td>0</td><td>3</td>' in html
    # The cloud acknowledges through store_seq 2: one left, the sale.
    catalog.db.execute("UPDATE cloud_cursor SET applied_through = 2, last_ack_ms = ?", (wall(),))
    html = supervisor.get("/admin/sync").text
    assert 'data-testid="sync-depth">1<' in html
    assert 'data-testid="sync-oldest">0 s<' in html
    assert "sale.completed from s01-r01 (#3)" in html
    # Digital receipts: the appliance's own by state, the cloud's counted apart.
    for event, sender, state in (
        ("m1", "appliance", "queued"),
        ("m2", "appliance", "failed"),
        ("m3", "cloud", "queued"),
        ("m4", "cloud", "queued"),
    ):
        catalog.db.execute(
            "INSERT INTO receipt_message (event, channel, address, receipt, next_attempt_ms,"
            " created_ms, sender, state) VALUES (?, 'email', 'a@b.example', 'r', 0, 0, ?, ?)",
            (event, sender, state),
        )
    html = supervisor.get("/admin/sync").text
    assert "Digital receipts: 1 waiting, 0 sent, 1 failed; 2 handed to the cloud to send." in html
    # The overview's tile links here.
    assert 'href="/admin/sync"' in supervisor.get("/admin/").text
