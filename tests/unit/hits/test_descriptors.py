"""Vehicle descriptor comparison: what the officer is warned about when the listed and the seen vehicle differ."""

from __future__ import annotations

import pytest

from server.hits.descriptors import FIELDS, descriptor_mismatches

CASES = [
    pytest.param({"type": "MC"}, {"type": "SUV"}, [{"field": "type", "entry": "MC", "read": "SUV"}],
                 id="motorcycle-listed-suv-seen"),
    pytest.param({"make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK"},
                 {"make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK"}, [], id="all-agree"),
    pytest.param({"color": "blk"}, {"color": " BLK "}, [], id="case-and-spaces-do-not-count"),
    pytest.param({"make": "TOYT", "color": None}, {"make": None, "color": "RED"}, [],
                 id="unknown-on-either-side-is-no-mismatch"),
    pytest.param({"model": ""}, {"model": "CIV"}, [], id="empty-is-unknown"),
    pytest.param({}, {}, [], id="nothing-known"),
    pytest.param({"make": "HOND", "model": "CIV", "color": "WHI", "type": "4D"},
                 {"make": "TOYT", "model": "CAM", "color": "BLU", "type": "PK"},
                 [{"field": "make", "entry": "HOND", "read": "TOYT"},
                  {"field": "model", "entry": "CIV", "read": "CAM"},
                  {"field": "color", "entry": "WHI", "read": "BLU"},
                  {"field": "type", "entry": "4D", "read": "PK"}], id="all-differ-in-field-order"),
    pytest.param({"year": 2019, "features": ["roof rack"]}, {"year": 2005, "features": []}, [],
                 id="fields-not-compared-are-ignored"),
    pytest.param({"color": "red"}, {"color": "Blue"}, [{"field": "color", "entry": "RED", "read": "BLUE"}],
                 id="mismatch-shown-normalised"),
]


@pytest.mark.parametrize(("entry", "seen", "expected"), CASES)
def test_descriptor_mismatches(entry: dict, seen: dict, expected: list[dict[str, str]]) -> None:
    """Only attributes known on both sides and really different are flagged, in a fixed field order."""
    assert descriptor_mismatches(entry, seen) == expected


def test_compared_fields() -> None:
    """Make, model, colour and body type are the descriptors an officer checks at a glance."""
    assert FIELDS == ("make", "model", "color", "type")
