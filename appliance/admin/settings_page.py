"""Store settings a manager may change: the store's name, receipts, tax, time zone, printer,
email and SMS delivery, refunds without a receipt and overrides. Checked by Settings' own
validation (a SettingsError names what is wrong), written to tillbox.toml atomically
(settings.write_settings_file) and audited. Passwords and tokens are write-only: each goes
to a 0600 file in the data directory that the setting names, and is never shown back.

The appliance reads its settings when it starts, so a change applies after a restart; the
page says which saved values are waiting for one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response, request

from appliance.admin.core import admin_route, audit, done, page, rt
from appliance.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    load_settings,
    write_settings_file,
)
from protocol.permissions import Role
from webui.forms import Fields, FormInvalid, Forms, refused

SETTINGS_ROLE = Role.MANAGER
FORM = "settings"
SECRETS_DIR = "secrets"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One editable setting: how the form shows it."""

    name: str
    label: str
    kind: str  # text, long, number, choice, flag, multi
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()
    max_length: int = 200


GROUPS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "Store",
        (
            Field(name="store_name", label="Store name", kind="text", max_length=80),
            Field(
                name="timezone",
                label="Time zone",
                kind="text",
                help="As 'Europe/Dublin': receipts and reports show this local time.",
                max_length=64,
            ),
            Field(
                name="locale",
                label="Money and date format",
                kind="text",
                help="A language tag: en-IE writes €1,234.56, de-DE 1.234,56 €.",
                max_length=16,
            ),
        ),
    ),
    (
        "Receipts",
        (
            Field(
                name="receipt_header",
                label="Receipt header",
                kind="long",
                help="Printed under the store's name: address, tax number.",
                max_length=500,
            ),
            Field(name="receipt_footer", label="Receipt footer", kind="long", max_length=500),
            Field(
                name="receipt_link_base",
                label="Online receipt link",
                kind="text",
                help="An SMS receipt carries this address followed by the receipt number.",
                max_length=200,
            ),
        ),
    ),
    (
        "Printer",
        (
            Field(
                name="printer_width",
                label="Characters per line",
                kind="number",
                help="48 on 80 mm paper, 32 on 58 mm.",
            ),
            Field(
                name="printer_profile",
                label="Printer model profile",
                kind="text",
                help="python-escpos's profile for the model; 'default' suits any ESC/POS printer.",
                max_length=64,
            ),
        ),
    ),
    (
        "Tax and selling",
        (
            Field(
                name="tax_mode",
                label="Prices",
                kind="choice",
                options=(
                    ("inclusive", "include tax (shelf price is what is paid)"),
                    ("exclusive", "exclude tax (tax added at the till)"),
                ),
                help="Change only between days: every register recomputes with it.",
            ),
            Field(
                name="tax_rounding",
                label="Tax rounding",
                kind="choice",
                options=(("line", "on each line"), ("total", "once per rate on the total")),
            ),
            Field(
                name="discount_threshold_bp",
                label="Discounts above this need a supervisor (hundredths of a percent)",
                kind="number",
                help="1000 is 10 %.",
            ),
            Field(
                name="no_receipt_refunds",
                label="Refunds without a receipt may be paid as",
                kind="multi",
                options=(("store_credit", "store credit"), ("cash", "cash")),
            ),
            Field(
                name="override_ttl_seconds",
                label="A supervisor's approval lasts (seconds)",
                kind="number",
            ),
        ),
    ),
    (
        "Email receipts",
        (
            Field(
                name="receipt_delivery",
                label="Emailed and texted receipts are sent by",
                kind="choice",
                options=(
                    ("cloud", "the chain's cloud (HQ's mail server and SMS account)"),
                    ("appliance", "this appliance, with the settings below"),
                ),
                help="Receipts already waiting keep the sender they were queued for. A store"
                " without a cloud link always sends itself.",
            ),
            Field(name="smtp_host", label="SMTP server", kind="text", max_length=253),
            Field(name="smtp_port", label="SMTP port", kind="number"),
            Field(name="smtp_starttls", label="Use STARTTLS", kind="flag"),
            Field(name="smtp_username", label="SMTP user", kind="text", max_length=200),
            Field(name="smtp_from", label="Send from (address)", kind="text", max_length=200),
        ),
    ),
    (
        "SMS receipts",
        (
            Field(name="sms_gateway_url", label="Gateway URL", kind="text", max_length=300),
            Field(name="sms_account", label="Account", kind="text", max_length=200),
            Field(name="sms_from", label="Send from (number or name)", kind="text", max_length=32),
        ),
    ),
)
FIELDS = {f.name: f for _, group in GROUPS for f in group}
# Write-only secrets: the form field, the setting naming its file, and the file's name.
SECRETS = {
    "smtp_password": ("smtp_password_file", "SMTP password"),
    "sms_token": ("sms_token_file", "SMS gateway token"),
}


def _shown(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _saved(runtime: Any) -> Settings | None:
    """The settings as the file now says (what a restart would run with), or None if unreadable."""
    try:
        return load_settings(runtime.settings.data_dir)
    except SettingsError:
        return None


def _show(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    current = runtime.settings
    saved = _saved(runtime) or current
    values = {name: _shown(saved, name) for name in FIELDS}
    pending = [
        FIELDS[name].label for name in FIELDS if _shown(saved, name) != _shown(current, name)
    ]
    secrets = {
        field: getattr(saved, setting) is not None for field, (setting, _) in SECRETS.items()
    }
    from_env = sorted(
        FIELDS[name].label for name in FIELDS if (ENV_PREFIX + name.upper()) in os.environ
    )
    return page(
        "admin/settings.html",
        status=status,
        forms=forms or Forms(values={FORM: values}),
        groups=GROUPS,
        values=values,
        pending=pending,
        secrets=secrets,
        secret_labels={k: label for k, (_, label) in SECRETS.items()},
        from_env=from_env,
    )


@admin_route("/settings", role=SETTINGS_ROLE)
def settings_page() -> Response:
    """The store-editable settings, as saved."""
    return _show()


def _parse(saved: Settings) -> dict[str, Any]:
    """The form's values as settings (only those that differ from the saved ones)."""
    fields = Fields(FORM)
    changes: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        if spec.kind == "flag":
            value: Any = request.form.get(name) == "1"
        elif spec.kind == "multi":
            chosen = request.form.getlist(name)
            allowed = [key for key, _ in spec.options]
            if any(c not in allowed for c in chosen):
                fields.errors[name] = "choose from the list"
                continue
            value = tuple(key for key in allowed if key in chosen)
        elif spec.kind == "number":
            value = fields.number(name, label=spec.label, default=getattr(saved, name))
        elif spec.kind == "choice":
            value = fields.choice(name, dict(spec.options), label=spec.label.lower())
        else:
            raw = request.form.get(name)
            if raw is None:
                continue  # a field the form did not send keeps its value
            value = raw.replace("\r\n", "\n").strip()
            if len(value) > spec.max_length:
                fields.errors[name] = f"at most {spec.max_length} characters"
                continue
            if spec.kind == "text" and ("\n" in value or "\r" in value):
                fields.errors[name] = "one line"
                continue
            if any(ord(c) < 0x20 and c != "\n" for c in value):
                fields.errors[name] = "no control characters"
                continue
        if value != getattr(saved, name):
            changes[name] = value
    for field, (_, label) in SECRETS.items():
        secret = request.form.get(field) or ""
        if len(secret) > 500 or any(ord(c) < 0x20 for c in secret):
            fields.errors[field] = f"the {label.lower()} is at most 500 characters on one line"
    fields.check()
    return changes


def _field_of(message: str, names: list[str]) -> str:
    """The form field a SettingsError is about (its message names the setting)."""
    for name in sorted(names, key=len, reverse=True):
        if name in message:
            return name
    for field, (setting, _) in SECRETS.items():
        if setting in message:
            return field
    return "_form"


def _write_secret(data_dir: Path, name: str, secret: str) -> Path:
    """A secret in its own 0600 file, replaced atomically."""
    folder = data_dir / SECRETS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    partial = folder / f".{name}.tmp"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(secret)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    return path


@admin_route("/settings", role=SETTINGS_ROLE, methods=("POST",))
def settings_save() -> Response:
    """Check the whole form with Settings' validation, then write the file in one go."""
    runtime = rt()
    saved = _saved(runtime) or runtime.settings
    data_dir = runtime.settings.data_dir
    try:
        changes = _parse(saved)
        secrets: dict[str, str] = {}
        for field, (setting, _) in SECRETS.items():
            if request.form.get(f"{field}_clear") == "1":
                changes[setting] = None
            elif request.form.get(field):
                secrets[field] = request.form[field]
                changes[setting] = data_dir / SECRETS_DIR / field
        if not changes:
            raise FormInvalid(FORM, {"_form": "nothing changed"}, 422)
        try:
            saved.replace(**changes).validate()
        except SettingsError as exc:
            field = _field_of(str(exc), [n for n in changes if n in FIELDS] + list(FIELDS))
            raise FormInvalid(FORM, {field: str(exc)}) from None
        # Checked as a whole: the secrets' files first (a file no setting names is harmless),
        # then the settings file, replaced atomically.
        for field, secret in secrets.items():
            _write_secret(data_dir, field, secret)
        try:
            write_settings_file(saved, **changes)
        except SettingsError as exc:
            raise FormInvalid(FORM, {"_form": str(exc)}) from None
        with runtime.db.write():
            audit(
                "settings_save",
                "settings",
                {
                    "changed": sorted(
                        k for k in changes if not k.endswith(("_password_file", "_token_file"))
                    ),
                    "secrets": sorted(
                        [f for f in SECRETS if f in secrets]
                        + [f for f, (s, _) in SECRETS.items() if changes.get(s, 0) is None]
                    ),
                },
            )
    except FormInvalid as exc:
        forms = refused(exc)
        kept = forms.values.setdefault(FORM, {})
        for field in SECRETS:
            kept.pop(field, None)  # never sent back
        for name, spec in FIELDS.items():
            if spec.kind == "flag":
                kept[name] = "1" if request.form.get(name) == "1" else ""
            elif spec.kind == "multi":
                kept[name] = ",".join(request.form.getlist(name))
        return _show(forms, exc.status)
    return done(
        "admin.settings_page",
        f"Saved {len(changes)} setting(s). They apply when the appliance restarts.",
    )
