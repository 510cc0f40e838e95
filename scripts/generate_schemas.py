"""Write protocol/schemas/bodies.json from protocol/bodies.py (the PWA mirrors this schema).

.venv/bin/python scripts/generate_schemas.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.bodies import body_schemas  # noqa: E402

TARGET = ROOT / "protocol" / "schemas" / "bodies.json"


def main() -> None:
    """Regenerate the file; a test fails while it is stale."""
    text = json.dumps(body_schemas(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
