"""Reading HQ's catalog pages as a browser would: a form's fields as it would submit them,
the errors shown beside fields, and the rows of a table."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser


class _Form(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.found = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.found and a.get("action") == self.action:
            self.inside = self.found = True
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
                self.fields.setdefault(self._select, value)
            if "selected" in a:
                self.fields[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """The fields of the first form posting to `action`, as a browser would send them."""
    parser = _Form(action)
    parser.feed(html)
    assert parser.found, f"no form posting to {action}"
    return parser.fields


def errors(html: str) -> dict[str, str]:
    """The errors beside the product editor's fields: {field: message}."""
    return {
        name: " ".join(unescape(text).split())
        for name, text in re.findall(
            r'<span class="error" id="product-([A-Za-z0-9_]+)-error"[^>]*>([^<]+)<', html
        )
    }


def rows_by_sku(html: str) -> dict[str, str]:
    """Each table row with a data-sku, its text squeezed."""
    found = re.findall(r'<tr(?: data-row="[0-9]+")? data-sku="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    return {sku: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for sku, body in found}
