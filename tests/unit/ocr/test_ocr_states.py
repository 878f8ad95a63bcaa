"""State of issue from plate text, and sticker text that is not a plate number."""

from __future__ import annotations

import pytest

from ocr_worker.states import infer_state, looks_like_sticker, substring_distance


@pytest.mark.parametrize(("texts", "state"), [
    (["ALASKA"], "AK"),
    (["ALAS KA", "CELEBRATING STATEHOOD"], "AK"),  # split by the recogniser
    (["Stars Fell On"], "AL"),
    (["Arkansas"], "AR"),  # not Kansas
    (["KANSAS"], "KS"),
    (["WEST VIRGINIA"], "WV"),  # not Virginia
    (["Virginia is for Lovers"], "VA"),
    (["GRAND CANYON STATE"], "AZ"),
    (["CALIFORNLA"], "CA"),  # one misread letter
    (["Live Free or Die"], "NH"),
    (["LAND OF LINCOLN"], "IL"),
    (["EMPIRE STATE"], "NY"),
    (["", "FEB"], None),
    (["XQZRTPLM"], None),
])
def test_infer_state(texts: list[str], state: str | None) -> None:
    """Names and slogans name the state; longer phrases win over names they contain."""
    guess = infer_state(texts)
    assert (guess.state if guess else None) == state


def test_confidence_grows_with_evidence() -> None:
    """A long phrase is surer than a short one."""
    assert infer_state(["MASSACHUSETTS"]).confidence > infer_state(["OHIO"]).confidence


@pytest.mark.parametrize(("token", "sticker"), [
    ("FEB", True), ("MAY", True), ("2009", True), ("07", True), ("JUL13", True),
    ("ABC123", False), ("7ABC123", False), ("2A9043J", False),
])
def test_looks_like_sticker(token: str, sticker: bool) -> None:
    """Months, years and two-digit stickers are never the plate number."""
    assert looks_like_sticker(token) is sticker


@pytest.mark.parametrize(("needle", "haystack", "distance"), [
    ("OHIO", "XXOHIOYY", 0), ("OHIO", "XXOHOYY", 1), ("TEXAS", "TEX", 2), ("", "ABC", 0),
])
def test_substring_distance(needle: str, haystack: str, distance: int) -> None:
    """Edits to match a phrase anywhere inside the text."""
    assert substring_distance(needle, haystack) == distance
