"""Unit tests for server.search.patterns: plate patterns to SQL LIKE (as read and by OCR key), and radii."""

from __future__ import annotations

import pytest

from server.search.patterns import PatternError, distance_m, parse_pattern, radius_box


@pytest.mark.parametrize(("raw", "text", "literal", "key", "wildcard"), [
    ("ABC1234", "ABC1234", "ABC1234", "48C1234", False),
    ("abc 1234", "ABC1234", "ABC1234", "48C1234", False),
    ("AB*12?", "AB*12?", "AB%12_", "48%12_", True),
    ("*1234", "*1234", "%1234", "%1234", True),
    ("A**B", "A*B", "A%B", "4%8", True),
    ("ab-c12", "ABC12", "ABC12", "48C12", False),
    ("0O8B", "0O8B", "0O8B", "0088", False),
])
def test_patterns(raw: str, text: str, literal: str, key: str, wildcard: bool) -> None:
    """Normalised text, LIKE on the plate, LIKE on the OCR key (O/0, B/8, A/4, T/7 ... share a key)."""
    p = parse_pattern(raw)
    assert (p.text, p.literal_like, p.key_like, p.wildcard) == (text, literal, key, wildcard)


@pytest.mark.parametrize("raw", ["", "*", "A*", "??", "A?*", "AB%1", "AB_1", "ÄBC", "A" * 17, "A'B;--"])
def test_refused_patterns(raw: str) -> None:
    """A pattern with fewer than two known characters, SQL wildcards or non-plate characters is refused."""
    with pytest.raises(PatternError):
        parse_pattern(raw)


@pytest.mark.parametrize(("pattern", "plate", "as_read"), [
    ("ABC1234", "ABC1234", True), ("ABC1234", "A8C1234", False), ("AB*", "ABX9", True), ("A?C*", "ABC12", True),
    ("A?C*", "48C12", False),
])
def test_literal_match(pattern: str, plate: str, as_read: bool) -> None:
    """A plate matched as read is `exact`; one found only through its OCR key is `ocr_equivalent`."""
    assert parse_pattern(pattern).literal_match(plate) is as_read


def test_radius_box_contains_the_circle() -> None:
    """The bounding box holds every point within the radius; distances agree with a known value."""
    box = radius_box(61.2, -149.9, 1000)
    assert box.min_lat < 61.2 < box.max_lat and box.min_lon < -149.9 < box.max_lon
    assert abs(distance_m(61.2, -149.9, 61.2 + 1000 / 111_320, -149.9) - 1000) < 1
    north_edge = distance_m(61.2, -149.9, box.max_lat, -149.9)
    east_edge = distance_m(61.2, -149.9, 61.2, box.max_lon)
    assert abs(north_edge - 1000) < 1 and abs(east_edge - 1000) < 1
