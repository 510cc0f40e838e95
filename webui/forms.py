"""Server-side form handling for the store admin and HQ pages: a form's values and its errors by field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import request

from webui.errors import ApiError


class FormInvalid(Exception):
    """A form's fields that are wrong, each with what to fix; nothing was changed."""

    def __init__(self, form: str, errors: Mapping[str, str], status: int = 422) -> None:
        super().__init__(f"{form}: {dict(errors)}")
        self.form = form
        self.errors = dict(errors)
        self.status = status


@dataclass
class Forms:
    """What a page shows in its forms after a refused submission: values and errors per form."""

    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def error(self, form: str, name: str) -> str | None:
        """The error for one field of one form, if any."""
        return self.errors.get(form, {}).get(name)

    def value(self, form: str, name: str, default: str = "") -> str:
        """What the manager typed into a field (kept when the form is shown again)."""
        return self.values.get(form, {}).get(name, default)

    def has_errors(self, form: str) -> bool:
        """True when the form was refused."""
        return bool(self.errors.get(form))


def refused(exc: FormInvalid) -> Forms:
    """The forms state after `exc`: its errors, and the submitted values (never a PIN or a
    password, nor the CSRF token)."""
    kept = {
        k: v
        for k, v in request.form.items()
        if "pin" not in k and "password" not in k and k != "csrf_token"
    }
    return Forms(errors={exc.form: exc.errors}, values={exc.form: kept})


def from_domain(
    form: str, exc: ApiError, fields: Mapping[str, str] | None = None, default: str = "_form"
) -> FormInvalid:
    """A domain error as a form error: on the field its details name, or that its code maps
    to, else on the form as a whole."""
    name = exc.details.get("field") if isinstance(exc.details, dict) else None
    name = name or (fields or {}).get(exc.code) or default
    return FormInvalid(form, {name: exc.message}, status=exc.status)


def whole_number(form: str, name: str, *, label: str, default: int | None = None) -> int:
    """A whole-number field, or FormInvalid saying so."""
    raw = (request.form.get(name) or "").strip()
    if not raw and default is not None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 9:
        raise FormInvalid(form, {name: f"{label} must be a whole number"})
    return int(raw)


def choice(
    form: str, name: str, options: Mapping[str, object] | tuple[str, ...], *, label: str
) -> str:
    """A field that must be one of `options`, or FormInvalid."""
    raw = (request.form.get(name) or "").strip()
    if raw not in options:
        raise FormInvalid(form, {name: f"choose a {label} from the list"})
    return raw


class Fields:
    """Reads a form's fields, collecting every field's problem, so all are shown at once."""

    def __init__(self, form: str) -> None:
        self.form = form
        self.errors: dict[str, str] = {}

    def number(self, name: str, *, label: str, default: int) -> int:
        """A whole-number field (`default` when empty); a problem is kept for `check`."""
        try:
            return whole_number(self.form, name, label=label, default=default)
        except FormInvalid as exc:
            self.errors.update(exc.errors)
            return default

    def choice(
        self, name: str, options: Mapping[str, object] | tuple[str, ...], *, label: str
    ) -> str:
        """A field that must be one of `options`; a problem is kept for `check`."""
        try:
            return choice(self.form, name, options, label=label)
        except FormInvalid as exc:
            self.errors.update(exc.errors)
            return ""

    def check(self) -> None:
        """Raise FormInvalid with every problem found, if any."""
        if self.errors:
            raise FormInvalid(self.form, self.errors)
