"""Confidence-weighted voting and the consensus of several reads of one plate."""

from __future__ import annotations

import pytest

from ocr_worker.postprocess import Line, canonical_o, consensus
from ocr_worker.voting import vote, vote_known


@pytest.mark.parametrize(("reads", "winner", "share"), [
    ([("ABC123", 0.9), ("ABC128", 0.5), ("ABC123", 0.6)], "ABC123", 0.75),
    ([("ABC123", 0.2), ("ABC128", 0.9)], "ABC128", 0.818),  # one sure read beats one unsure
    ([("ABC12", 0.5), ("ABC123", 0.5)], "ABC123", 0.5),  # a tie: the longer (a dropped character is likelier)
    ([], None, 0.0),
])
def test_vote(reads: list, winner: str | None, share: float) -> None:
    """The value with the largest summed confidence wins, with its share of the weight."""
    result = vote(reads)
    assert result.value == winner
    assert result.share == pytest.approx(share, abs=1e-3)


def test_vote_known_ignores_unknown() -> None:
    """Unknown states do not win, but they dilute the share."""
    result = vote_known([(None, 0.9), ("AK", 0.3), (None, 0.9)])
    assert result.value == "AK"
    assert result.share == pytest.approx(0.3 / 2.1)


def line(text: str, conf: float = 0.9, unsure: dict[int, dict[str, float]] | None = None) -> Line:
    unsure = unsure or {}
    return Line(text, tuple(unsure.get(i, {ch: 0.95}) for i, ch in enumerate(text)), conf)


@pytest.mark.parametrize(("lines", "plate"), [
    ([line("ABC1234"), line("ABC1234"), line("ABC124", 0.5)], "ABC1234"),  # the likeliest length wins
    ([line("ABC1234", 0.6), line("FEB", 0.99)], "ABC1234"),  # sticker text carries no weight
    ([line("ALASKA", 0.99), line("FUW999", 0.7)], "FUW999"),  # a word is a weaker plate than a number
    ([line("WH0515"), line("WHO515")], "WH0515"),  # the round glyph is written as 0
    # Averaged odds: two reads unsure at one position agree on the likelier letter.
    ([line("ABC1234", unsure={2: {"C": 0.6, "G": 0.4}}), line("ABG1234", unsure={2: {"G": 0.45, "C": 0.55}})],
     "ABC1234"),
    ([line("X", 0.9)], None),  # one character is no plate
    # A faint first character some views missed: the longer reading nearly ties and extends every shorter read.
    ([line("PGM335", 0.95), line("PGM335", 0.95), line("6PGM335", 0.9), line("6PGM335", 0.9)], "6PGM335"),
    # ... but not when it has clearly fewer views, nor when the shorter reads are not inside it.
    ([line("PGM335", 0.95), line("PGM335", 0.95), line("PGM335", 0.95), line("6PGM335", 0.9)], "PGM335"),
    ([line("PGM335", 0.95), line("PGM335", 0.95), line("6PGM385", 0.9), line("6PGM385", 0.9)], "PGM335"),
])
def test_consensus(lines: list[Line], plate: str | None) -> None:
    """Several views of one plate fold into one plate string."""
    result = consensus(lines)
    assert (result.plate if result else None) == plate


def test_consensus_confidence_drops_with_disagreement() -> None:
    """Views that disagree give a lower confidence than views that agree."""
    agree = consensus([line("ABC1234"), line("ABC1234")])
    disagree = consensus([line("ABC1234"), line("XYZ98")])
    assert agree.confidence > disagree.confidence


@pytest.mark.parametrize(("plate", "expected"), [("NOGODS", "N0G0DS"), ("ABC123", "ABC123")])
def test_canonical_o(plate: str, expected: str) -> None:
    """O and 0 share a glyph on most US plates: the reader writes 0."""
    assert canonical_o(plate) == expected
