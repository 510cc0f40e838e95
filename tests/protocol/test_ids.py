"""Tests for protocol.ids: UUIDv7 event ids."""

from __future__ import annotations

import uuid

import pytest

from protocol.ids import is_uuid7, new_id


def test_new_id_is_a_lowercase_canonical_uuid7() -> None:
    text = new_id()
    assert len(text) == 36
    assert text == text.lower()
    assert str(uuid.UUID(text)) == text
    assert uuid.UUID(text).version == 7
    assert is_uuid7(text)


def test_new_ids_are_unique_and_sort_in_creation_order() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "text",
    [
        str(uuid.uuid4()),
        str(uuid.uuid1()),
        new_id().upper(),
        "{" + new_id() + "}",
        new_id().replace("-", ""),
        new_id() + "\n",
        " " + new_id(),
        "",
        "0193a6f0-0000-7000-c000-000000000001",  # variant bits are not RFC 9562's
    ],
)
def test_is_uuid7_rejects_anything_else(text: str) -> None:
    assert not is_uuid7(text)


@pytest.mark.parametrize("value", [None, 7, b"0193a6f0-0000-7000-8000-000000000001"])
def test_is_uuid7_is_false_for_non_strings(value: object) -> None:
    assert not is_uuid7(value)  # type: ignore[arg-type]


def test_a_burst_stays_ordered_and_on_time() -> None:
    """100,000 ids in a burst (a big import) are strictly increasing and their embedded
    timestamps do not run ahead of the real clock."""
    import time
    import uuid

    from protocol.ids import new_id

    before = time.time_ns() // 1_000_000
    burst = [new_id() for _ in range(100_000)]
    after = time.time_ns() // 1_000_000
    assert burst == sorted(burst)
    assert len(set(burst)) == len(burst)
    stamps = [uuid.UUID(i).int >> 80 for i in (burst[0], burst[-1])]
    assert before <= stamps[0] <= stamps[1] <= after
