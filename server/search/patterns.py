"""Plate search patterns, pure: exact, partial and wildcard plates turned into OCR-aware SQL LIKE patterns."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from server.hotlist.matching import OCR_CONFUSION_CLASSES, ocr_key

MAX_PATTERN = 16
_ALLOWED = re.compile(r"\A[A-Z0-9*?]+\Z")
METERS_PER_DEGREE_LAT: Final = 111_320.0


class PatternError(ValueError):
    """A plate pattern that can match nothing sensible."""


@dataclass(frozen=True, slots=True)
class PlatePattern:
    """A normalised pattern: `*` any run of characters, `?` exactly one; literals compared by OCR class."""

    text: str  # normalised, e.g. "AB*12?"
    literal_like: str  # SQL LIKE on the plate itself
    key_like: str  # SQL LIKE on the plate's OCR key
    wildcard: bool

    def literal_match(self, plate: str) -> bool:
        """Whether a plate matches with its characters as read (else it matched only OCR-equivalently)."""
        return re.fullmatch(self.text.replace("*", ".*").replace("?", "."), plate) is not None


def parse_pattern(raw: str) -> PlatePattern:
    """Upper-case, drop spaces and dashes; refuse what a plate cannot contain or a pattern that is all wildcards."""
    text = re.sub(r"[\s-]+", "", raw.upper())
    text = re.sub(r"\*+", "*", text)  # ** is *
    if not text:
        raise PatternError("plate: give plate characters, with * for any run and ? for one character")
    if len(text) > MAX_PATTERN:
        raise PatternError(f"plate: at most {MAX_PATTERN} characters")
    if not _ALLOWED.match(text):
        raise PatternError("plate: letters, digits, * (any run) and ? (one character) only")
    literals = sum(c not in "*?" for c in text)
    if literals < 2:
        # "*" or "A*" is every plate: a dragnet, not a search for a vehicle (policy A.2).
        raise PatternError("plate: a pattern needs at least two known characters")
    wildcard = "*" in text or "?" in text
    return PlatePattern(text, _like(text), _like(ocr_key(text)), wildcard)


def _like(text: str) -> str:
    # Plates hold no % or _ (the alphabet above), so no escaping is needed.
    return text.replace("*", "%").replace("?", "_")


# Every character that is not its class's representative, and the representative it stands for: the SQL
# translation of ocr_key as nested REPLACE calls (both SQLite and PostgreSQL have REPLACE).
OCR_REPLACEMENTS: Final[tuple[tuple[str, str], ...]] = tuple(
    (ch, cls[0]) for cls in OCR_CONFUSION_CLASSES for ch in cls[1:])


@dataclass(frozen=True, slots=True)
class Box:
    """A radius as a bounding box (index-friendly) plus the equirectangular distance test inside it."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float
    lon_scale: float  # metres per degree of longitude at the centre


def radius_box(lat: float, lon: float, radius_m: float) -> Box:
    """Accurate to well under 1 % for the few-kilometre radii investigators use; not across the poles."""
    dlat = radius_m / METERS_PER_DEGREE_LAT
    lon_scale = METERS_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(radius_m / lon_scale, 180.0)
    return Box(max(lat - dlat, -90.0), min(lat + dlat, 90.0), lon - dlon, lon + dlon, lon_scale)


def distance_m(lat0: float, lon0: float, lat: float, lon: float) -> float:
    """Equirectangular distance, the same formula the SQL filter uses."""
    return math.hypot((lat - lat0) * METERS_PER_DEGREE_LAT,
                      (lon - lon0) * METERS_PER_DEGREE_LAT * math.cos(math.radians(lat0)))
