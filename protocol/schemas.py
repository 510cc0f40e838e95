"""Load the JSON Schemas shipped in protocol/schemas/ (the PWA and the cloud mirror them)."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def load_schema(name: str) -> dict[str, Any]:
    """Return a fresh copy of the named schema, e.g. load_schema("envelope")."""
    raw: object = name
    if not isinstance(raw, str):
        raise ValueError(f"schema name must be a string, got {type(raw).__name__}")
    stem = raw.removesuffix(".json")
    # Names are plain words, so a caller can never read a file outside protocol/schemas/.
    if _NAME.fullmatch(stem) is None:
        raise ValueError(f"not a schema name: {raw!r}")
    resource = resources.files("protocol").joinpath("schemas", f"{stem}.json")
    if not resource.is_file():
        raise ValueError(f"no schema named {stem!r}")
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema
