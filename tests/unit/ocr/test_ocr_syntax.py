"""Plate syntax: layouts, plausibility and confusion-aware correction."""

from __future__ import annotations

import pytest

from ocr_worker.syntax import correct, layout, layout_share, plausible


def odds(plate: str, unsure: dict[int, dict[str, float]] | None = None) -> list[dict[str, float]]:
    """Per-position odds: sure of every character except the positions given."""
    unsure = unsure or {}
    return [unsure.get(i, {ch: 0.98}) for i, ch in enumerate(plate)]


@pytest.mark.parametrize(("read", "unsure", "expected", "changed"), [
    # A near tie between confusable glyphs: the layout decides.
    ("ABC1Z34", {4: {"Z": 0.55, "2": 0.45}}, "ABC1234", (4,)),
    ("A8C1234", {1: {"8": 0.5, "B": 0.5}}, "ABC1234", (1,)),
    ("7ABC12S", {6: {"S": 0.6, "5": 0.4}}, "7ABC125", (6,)),
    ("0GA123", {0: {"0": 0.4, "O": 0.35, "D": 0.25}}, "OGA123", (0,)),
    ("5NWVL68", {4: {"L": 0.6, "4": 0.4}}, "5NWV468", (4,)),  # a small open-topped 4 reads as L
    # Missouri's LLDLDL, though rare, is far likelier than an unlisted layout: small plates' digits read as letters.
    ("HFAY3B", {2: {"A": 0.9, "4": 0.1}}, "HF4Y3B", (2,)),
    ("FDZU4U", {2: {"Z": 0.8, "7": 0.2}}, "FD7U4U", (2,)),  # a 7 with a serif reads as Z
    # A character read at under 95% is not sure (on frame-sized plates, 1 in 5 of those at 90-95% were wrong).
    ("1A2E468", {2: {"2": 0.9, "Z": 0.1}}, "1AZE468", (2,)),
    # A clear read (95% or surer) is never overruled by a layout.
    ("ABC1Z34", {4: {"Z": 0.97, "2": 0.03}}, "ABC1Z34", ()),
    ("1A2E468", {2: {"2": 0.96, "Z": 0.04}}, "1A2E468", ()),
    # Vanity plates fit no template and stay as read.
    ("BUKTLST", None, "BUKTLST", ()),
    # Syntax only swaps within a confusion class: 'X' has no digit twin.
    ("ABCX234", {3: {"X": 0.5, "1": 0.5}}, "ABCX234", ()),
    # Already a standard layout: nothing to change.
    ("7ABC123", None, "7ABC123", ()),
])
def test_correct(read: str, unsure: dict | None, expected: str, changed: tuple[int, ...]) -> None:
    """Confusable glyphs are resolved by plate syntax only where the recogniser was unsure."""
    result = correct(read, odds(read, unsure))
    assert (result.plate, result.changed) == (expected, changed)


def test_correct_without_odds_is_conservative() -> None:
    """Without per-character odds a read that fits no layout is returned unchanged."""
    assert correct("ABC1Z34").plate == "ABC1Z34"


def test_correct_rejects_mismatched_odds() -> None:
    """One odds table per character, or the call is a programming error."""
    with pytest.raises(ValueError):
        correct("ABC", [{"A": 1.0}])


@pytest.mark.parametrize(("plate", "expected"), [
    ("ABC123", "LLLDDD"), ("7ABC123", "DLLLDDD"), ("", ""),
])
def test_layout(plate: str, expected: str) -> None:
    """Letters are L and digits D."""
    assert layout(plate) == expected


@pytest.mark.parametrize(("plate", "low", "high"), [
    ("ABC1234", 0.99, 1.0),
    ("7ABC123", 0.99, 1.0),
    ("AB", 0.1, 0.3),
    ("ABCDEFGHI", 0.0, 0.0),  # nine characters: no US plate
    ("AB-12", 0.0, 0.0),  # not cleaned
    ("ALASKA", 0.3, 0.6),  # an all-letter word: more likely a state name than a plate
    ("1111", 0.1, 0.15),  # one glyph over and over: a grille's bars
    ("777777", 0.2, 0.25),
    ("1112", 0.6, 0.6),  # two glyphs: an ordinary four-character plate
])
def test_plausible(plate: str, low: float, high: float) -> None:
    """Plausibility follows length, alphabet, layout and repetition."""
    assert low <= plausible(plate) <= high


@pytest.mark.parametrize(("likelier", "rarer"), [
    ("LLDLDL", "LLLLDL"),  # Missouri's layout against an unlisted one of its length
    ("LLLDDD", "LLDLDL"),  # a common layout against a rarer listed one
    ("LLLLDL", "LDLDLDL"),  # unlisted layouts: six characters are commoner than seven, and spread over fewer layouts
])
def test_layout_share_orders_layouts(likelier: str, rarer: str) -> None:
    """A listed layout outweighs any unlisted one of its length, and listed layouts keep their order."""
    assert layout_share(likelier) > layout_share(rarer)
