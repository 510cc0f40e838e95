"""The PWA's golden vectors (pwa/src/protocol/vectors.json) are what the Python protocol code
gives today, so the TypeScript port, which Vitest holds to them, cannot drift silently."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pwa_vectors.py"
VECTORS = ROOT / "pwa" / "src" / "protocol" / "vectors.json"


def _script() -> ModuleType:
    """Load scripts/pwa_vectors.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("pwa_vectors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_vectors_match_the_python_protocol_code() -> None:
    """Fails when protocol/ changed without `.venv/bin/python scripts/pwa_vectors.py`."""
    script = _script()
    vectors: dict[str, Any] = script.generate()
    committed = VECTORS.read_text(encoding="utf-8")
    assert json.loads(committed) == vectors, (
        "pwa/src/protocol/vectors.json is stale: run .venv/bin/python scripts/pwa_vectors.py "
        "and make the TypeScript port in pwa/src/protocol pass `npx vitest run src/protocol`"
    )
    assert committed == script.render(vectors)


def test_generation_is_deterministic() -> None:
    """The same seed gives the same bytes, so regenerating never makes a spurious diff."""
    script = _script()
    assert script.render(script.generate()) == script.render(script.generate())
