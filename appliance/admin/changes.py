"""How an admin page's form makes its change: the page shown again with the form's errors
when it is refused, and one write transaction for the change and its audit line, in which
a refusal from the domain becomes an error on the field it concerns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from flask import Response

from appliance.admin.core import rt
from appliance.errors import ApiError
from appliance.runtime import Runtime
from webui.forms import FormInvalid, Forms, from_domain, refused


def submit(show: Callable[[Forms, int], Response], action: Callable[[], Response]) -> Response:
    """The action's answer (a redirect after the change), or, when a form refuses it, the
    page drawn by show with that form's errors and values, with the refusal's status."""
    try:
        return action()
    except FormInvalid as exc:
        return show(refused(exc), exc.status)


@contextmanager
def change(
    form: str, fields: Mapping[str, str] | None = None, *, default: str = "_form"
) -> Iterator[Runtime]:
    """One write transaction for a form's change (and its audit line, inside it); a domain
    error raised in it rolls it back and becomes the form's error on the field its code
    maps to in fields (else on default)."""
    runtime = rt()
    try:
        with runtime.db.write():
            yield runtime
    except ApiError as exc:
        raise from_domain(form, exc, fields, default=default) from None
