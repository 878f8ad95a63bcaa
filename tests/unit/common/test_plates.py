"""Unit tests for server.common.plates."""

from __future__ import annotations

import pytest

from server.common.plates import (
    PLATE_ALPHABET,
    PLATE_MAX_LEN,
    PlateError,
    normalize_plate,
    parse_plate,
    plate_problem,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ABC123", "ABC123"),
        ("abc123", "ABC123"),
        ("AbC1d2", "ABC1D2"),
        ("  ABC123  ", "ABC123"),
        ("\tABC123\n", "ABC123"),
        ("ABC 123", "ABC123"),
        ("A B C 1 2 3", "ABC123"),
        ("ABC   123", "ABC123"),
        ("ABC\u00a0123", "ABC123"),  # no-break space
        ("ABC\u3000123", "ABC123"),  # ideographic space
        ("ABC-123", "ABC123"),
        ("AB-C-12-3", "ABC123"),
        ("ABC\u2013123", "ABC123"),  # en dash
        ("ABC\u2014123", "ABC123"),  # em dash
        ("ABC\u2010123", "ABC123"),  # hyphen
        ("ABC\u2212123", "ABC123"),  # minus sign
        ("ABC.123", "ABC123"),
        ("ABC\u00b7123", "ABC123"),  # middle dot
        ("ABC\u2022123", "ABC123"),  # bullet
        ("ABC\u30fb123", "ABC123"),  # katakana middle dot
        ("ABC\uff65123", "ABC123"),  # half-width katakana middle dot
        ("abc - 123", "ABC123"),
        (" a.b-c 1·2•3 ", "ABC123"),
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "ABC123"),  # full-width
        ("\uff41\uff42\uff43\uff11", "ABC1"),  # full-width lower-case
        ("\uff21\uff22\uff23\uff0d\uff11", "ABC1"),  # full-width hyphen
        ("", ""),
        ("   ", ""),
        ("-.-", ""),
    ],
)
def test_normalize_plate(raw: str, expected: str) -> None:
    """normalize_plate upper-cases, NFKC-folds and drops whitespace and separators."""
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB$12", "AB$12"),
        ("abc_123", "ABC_123"),
        ("ABC123XYZ", "ABC123XYZ"),
        ("ÄBC", "ÄBC"),
    ],
)
def test_normalize_plate_does_not_validate(raw: str, expected: str) -> None:
    """normalize_plate keeps invalid characters and over-long plates for the validator."""
    assert normalize_plate(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["ABC123", "abc 123", " A-B-C 1.2.3 ", "\uff21\uff22\uff23\uff11"],
)
def test_normalize_plate_is_idempotent(raw: str) -> None:
    """Normalising an already-normalised plate changes nothing."""
    once = normalize_plate(raw)
    assert normalize_plate(once) == once


@pytest.mark.parametrize(
    "plate",
    [
        "A",
        "7",
        "AB",
        "ABC123",
        "1234567",
        "ABCD1234",  # exactly PLATE_MAX_LEN
        "ZZZZZZZZ",
        "00000000",
    ],
)
def test_plate_problem_accepts_valid(plate: str) -> None:
    """plate_problem returns None for 1- to 8-character A-Z/0-9 plates."""
    assert plate_problem(plate) is None


@pytest.mark.parametrize(
    ("plate", "expected"),
    [
        ("", "plate is empty"),
        ("ABC12345X", "plate 'ABC12345X' is 9 characters; at most 8 are allowed"),
        (
            "ABCDEFGHIJKL",
            "plate 'ABCDEFGHIJKL' is 12 characters; at most 8 are allowed",
        ),
        ("AB$12", "plate 'AB$12' has characters outside A-Z and 0-9: '$'"),
        ("AB$1%", "plate 'AB$1%' has characters outside A-Z and 0-9: '$', '%'"),
        ("A$$$", "plate 'A$$$' has characters outside A-Z and 0-9: '$'"),
        ("abc", "plate 'abc' has characters outside A-Z and 0-9: 'a', 'b', 'c'"),
        ("AB C", "plate 'AB C' has characters outside A-Z and 0-9: ' '"),
        ("AB-C", "plate 'AB-C' has characters outside A-Z and 0-9: '-'"),
        ("ÄBC", "plate 'ÄBC' has characters outside A-Z and 0-9: 'Ä'"),
    ],
)
def test_plate_problem_reports_reason(plate: str, expected: str) -> None:
    """plate_problem names what is wrong: empty, too long, or which characters are bad."""
    assert plate_problem(plate) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc 123", "ABC123"),
        ("A", "A"),
        (" ab-cd-12-34 ", "ABCD1234"),
        ("\uff21\uff22\uff23", "ABC"),
        ("7·ABC·123", "7ABC123"),
    ],
)
def test_parse_plate_returns_normalised(raw: str, expected: str) -> None:
    """parse_plate returns the normalised plate when it is valid."""
    assert parse_plate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "plate is empty"),
        ("  - . ", "plate is empty"),
        ("abc-12345x", "plate 'ABC12345X' is 9 characters; at most 8 are allowed"),
        ("ab$12", "plate 'AB$12' has characters outside A-Z and 0-9: '$'"),
        ("ab_12", "plate 'AB_12' has characters outside A-Z and 0-9: '_'"),
    ],
)
def test_parse_plate_rejects_invalid(raw: str, message: str) -> None:
    """parse_plate raises PlateError carrying plate_problem's reason."""
    with pytest.raises(PlateError) as excinfo:
        parse_plate(raw)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("exc_type", [PlateError, ValueError])
def test_plate_error_is_value_error(exc_type: type[Exception]) -> None:
    """PlateError can be caught as a ValueError."""
    with pytest.raises(exc_type):
        parse_plate("$")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PLATE_MAX_LEN", PLATE_MAX_LEN, 8),
        ("PLATE_ALPHABET size", len(PLATE_ALPHABET), 36),
        ("PLATE_ALPHABET", PLATE_ALPHABET, frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
    ],
)
def test_plate_constants(name: str, value: object, expected: object) -> None:
    """The plate length limit and alphabet have their documented values."""
    assert value == expected, name
