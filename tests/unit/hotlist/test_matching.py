"""Unit tests for server.hotlist.matching."""

from __future__ import annotations

import pytest

from server.hotlist.matching import (
    MATCH_KIND_RANK,
    OCR_CONFUSION_CLASSES,
    MatchKind,
    classify,
    ocr_key,
    state_mismatch,
)


@pytest.mark.parametrize(
    ("plate", "expected"),
    [
        # 0ODQ
        ("0", "0"),
        ("O", "0"),
        ("D", "0"),
        ("Q", "0"),
        # 1IL
        ("1", "1"),
        ("I", "1"),
        ("L", "1"),
        # 2Z
        ("2", "2"),
        ("Z", "2"),
        # 4A
        ("4", "4"),
        ("A", "4"),
        # 5S
        ("5", "5"),
        ("S", "5"),
        # 6G
        ("6", "6"),
        ("G", "6"),
        # 7T
        ("7", "7"),
        ("T", "7"),
        # 8B
        ("8", "8"),
        ("B", "8"),
        # characters in no class map to themselves
        ("3", "3"),
        ("9", "9"),
        ("C", "C"),
        ("X", "X"),
        ("", ""),
        # whole plates
        ("ABC123", "48C123"),
        ("O5LO", "0510"),
        ("DQ0O", "0000"),
        ("XYZ", "XY2"),
        ("KMNPRW", "KMNPRW"),
    ],
)
def test_ocr_key(plate: str, expected: str) -> None:
    """ocr_key replaces each character with its confusion class's first character."""
    assert ocr_key(plate) == expected


@pytest.mark.parametrize("cls", OCR_CONFUSION_CLASSES)
def test_ocr_key_collapses_each_class(cls: str) -> None:
    """Every member of a confusion class has the same key, its first character."""
    assert {ocr_key(ch) for ch in cls} == {cls[0]}


@pytest.mark.parametrize(
    "plate",
    ["", "A", "ABC123", "ZZZZZZZZ", "3CEFHJK9"],
)
def test_ocr_key_keeps_length_and_is_idempotent(plate: str) -> None:
    """The key is as long as the plate, and keying a key changes nothing."""
    key = ocr_key(plate)
    assert len(key) == len(plate)
    assert ocr_key(key) == key


def test_ocr_confusion_classes_are_disjoint() -> None:
    """No character is in two confusion classes."""
    chars = "".join(OCR_CONFUSION_CLASSES)
    assert len(chars) == len(set(chars))


@pytest.mark.parametrize(
    ("read_state", "entry_state", "expected"),
    [
        ("CO", "CO", False),
        ("CO", "MT", True),
        (None, "MT", False),
        ("CO", None, False),
        (None, None, False),
        ("", "MT", False),
    ],
)
def test_state_mismatch(
    read_state: str | None, entry_state: str | None, expected: bool
) -> None:
    """state_mismatch is True only when both states are known and differ."""
    assert state_mismatch(read_state, entry_state) is expected


@pytest.mark.parametrize(
    ("read_plate", "read_state", "entry_plate", "entry_state", "expected"),
    [
        # Same plate, same known state: exact.
        ("ABC123", "CO", "ABC123", "CO", "exact"),
        ("A", "QC", "A", "QC", "exact"),
        # Same plate, a state unknown or different: plate only.
        ("ABC123", None, "ABC123", "CO", "plate_only"),
        ("ABC123", "CO", "ABC123", None, "plate_only"),
        ("ABC123", None, "ABC123", None, "plate_only"),
        # The Montana motorcycle / Colorado SUV case.
        ("ABC123", "CO", "ABC123", "MT", "plate_only"),
        # OCR-equivalent plates with compatible states.
        ("ABC123", "CO", "48C123", "CO", "ocr_equivalent"),
        ("O5LO", None, "0510", "CO", "ocr_equivalent"),
        ("0510", "CO", "O5LO", None, "ocr_equivalent"),
        ("D1234", None, "Q1234", None, "ocr_equivalent"),
        ("8ZT", "MT", "B27", "MT", "ocr_equivalent"),
        # Identical key, one state unknown.
        ("5G1", "AK", "S61", None, "ocr_equivalent"),
        # OCR-equivalent but states known and different: two doubts, no match.
        ("ABC123", "CO", "48C123", "MT", None),
        ("O5LO", "AK", "0510", "BC", None),
        # Different lengths never match, even with a matching key prefix.
        ("ABC123", "CO", "ABC1234", "CO", None),
        ("ABC12", None, "ABC123", None, None),
        ("O", None, "00", None, None),
        # Different keys.
        ("ABC123", "CO", "XYZ789", "CO", None),
        ("ABC123", None, "ABC124", None, None),
        ("C", None, "E", None, None),
    ],
)
def test_classify(
    read_plate: str,
    read_state: str | None,
    entry_plate: str,
    entry_state: str | None,
    expected: MatchKind | None,
) -> None:
    """classify applies the exact / plate_only / ocr_equivalent / no-match rules."""
    assert classify(read_plate, read_state, entry_plate, entry_state) == expected


@pytest.mark.parametrize(
    ("read_plate", "read_state", "entry_plate", "entry_state"),
    [
        ("ABC123", "CO", "ABC123", "CO"),
        ("ABC123", "CO", "ABC123", "MT"),
        ("ABC123", None, "48C123", "CO"),
        ("ABC123", "CO", "48C123", "MT"),
        ("ABC12", None, "ABC123", None),
    ],
)
def test_classify_is_symmetric(
    read_plate: str,
    read_state: str | None,
    entry_plate: str,
    entry_state: str | None,
) -> None:
    """Swapping read and entry gives the same classification."""
    assert classify(read_plate, read_state, entry_plate, entry_state) == classify(
        entry_plate, entry_state, read_plate, read_state
    )


@pytest.mark.parametrize(
    ("stronger", "weaker"),
    [
        ("exact", "plate_only"),
        ("plate_only", "ocr_equivalent"),
        ("exact", "ocr_equivalent"),
    ],
)
def test_match_kind_rank_orders_strongest_first(
    stronger: MatchKind, weaker: MatchKind
) -> None:
    """A stronger match kind has a lower rank, so it sorts first."""
    assert MATCH_KIND_RANK[stronger] < MATCH_KIND_RANK[weaker]


@pytest.mark.parametrize(
    ("kind", "rank"),
    [("exact", 0), ("plate_only", 1), ("ocr_equivalent", 2)],
)
def test_match_kind_rank_values(kind: MatchKind, rank: int) -> None:
    """MATCH_KIND_RANK has the documented value for each kind."""
    assert MATCH_KIND_RANK[kind] == rank
