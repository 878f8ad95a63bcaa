"""Comparing the hot-list entry's vehicle with the one the camera saw, so a mismatch shows at a glance."""

from __future__ import annotations

from collections.abc import Mapping

FIELDS = ("make", "model", "color", "type")


def _norm(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


def descriptor_mismatches(entry: Mapping[str, object], read: Mapping[str, object]) -> list[dict[str, str]]:
    """Fields known on both sides that differ: entry says motorcycle, camera saw an SUV."""
    out = []
    for name in FIELDS:
        a, b = _norm(entry.get(name)), _norm(read.get(name))
        if a and b and a != b:
            out.append({"field": name, "entry": a, "read": b})
    return out
