"""Normalisation and validation of licence plate strings."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = [
    "PLATE_ALPHABET",
    "PLATE_MAX_LEN",
    "PlateError",
    "normalize_plate",
    "parse_plate",
    "plate_problem",
]

# No US state or Canadian province issues plates longer than 8 characters, so
# anything longer is a mis-read or a typo rather than a real plate.
PLATE_MAX_LEN: Final = 8

# Plates are matched on their letters and digits only; everything else printed
# on a plate (separators, emblems, stacked characters) is decoration.
PLATE_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# Separators that appear between character groups on real plates or creep in
# from OCR engines and manual entry. They carry no identity, so "ABC-123",
# "ABC 123" and "ABC·123" must all be the same plate. Whitespace is handled
# separately (str.split covers every Unicode space).
_SEPARATORS: Final = (
    "-"  # hyphen-minus
    "\u2010"  # hyphen
    "\u2011"  # non-breaking hyphen
    "\u2012"  # figure dash
    "\u2013"  # en dash
    "\u2014"  # em dash
    "\u2015"  # horizontal bar
    "\u2212"  # minus sign
    "."  # full stop
    "\u00b7"  # middle dot
    "\u2022"  # bullet
    "\u2219"  # bullet operator
    "\u22c5"  # dot operator
    "\u30fb"  # katakana middle dot (what NFKC makes of the half-width one)
)
_DROP_SEPARATORS: Final = str.maketrans("", "", _SEPARATORS)


class PlateError(ValueError):
    """A plate string that cannot be a licence plate; the message says why."""


def normalize_plate(raw: str) -> str:
    """Return ``raw`` in canonical form: NFKC, upper-case, no spaces or separators.

    This does not validate; call :func:`plate_problem` or :func:`parse_plate`.
    """
    # NFKC first so full-width forms ("ＡＢＣ１") and compatibility dots/dashes
    # become their plain equivalents before the separator table is applied.
    text = unicodedata.normalize("NFKC", raw)
    text = text.translate(_DROP_SEPARATORS)
    # split()/join removes leading, trailing and inner whitespace of any kind
    # (tabs, no-break spaces, ideographic spaces) in one pass.
    text = "".join(text.split())
    return text.upper()


def plate_problem(plate: str) -> str | None:
    """Return None if the normalised ``plate`` is valid, else a human-readable reason."""
    if not plate:
        return "plate is empty"
    if len(plate) > PLATE_MAX_LEN:
        return (
            f"plate {plate!r} is {len(plate)} characters; "
            f"at most {PLATE_MAX_LEN} are allowed"
        )
    # Keep first-seen order and drop duplicates so the message lists each
    # offending character once, in the order the person typed them.
    bad = dict.fromkeys(ch for ch in plate if ch not in PLATE_ALPHABET)
    if bad:
        listed = ", ".join(repr(ch) for ch in bad)
        return f"plate {plate!r} has characters outside A-Z and 0-9: {listed}"
    return None


def parse_plate(raw: str) -> str:
    """Normalise ``raw`` and return it, raising :class:`PlateError` if it is invalid."""
    plate = normalize_plate(raw)
    problem = plate_problem(plate)
    if problem is not None:
        raise PlateError(problem)
    return plate
