"""State of issue from the words printed on a plate: state names and slogans (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from server.common.regions import REGION_NAMES, US_STATES

# Slogans and other words that name the state on its plates (current and common older issues).
# A state's own name is always included from REGION_NAMES.
SLOGANS: Mapping[str, tuple[str, ...]] = {
    "AL": ("Stars Fell On", "Heart of Dixie", "Sweet Home"),
    "AK": ("The Last Frontier", "North to the Future", "Celebrating Statehood"),
    "AZ": ("Grand Canyon State",),
    "AR": ("The Natural State", "Land of Opportunity", "Develops Arkansas Youth"),
    "CA": ("dmv ca gov",),
    "CO": ("Colorful",),
    "CT": ("Constitution State", "Preservation of Freedom"),
    "DE": ("The First State",),
    "DC": ("Taxation Without Representation", "Washington DC", "Celebrate Discover"),
    "FL": ("Sunshine State", "myflorida com"),
    "GA": ("Peach State",),
    "HI": ("Aloha State",),
    "ID": ("Famous Potatoes", "Scenic Idaho"),
    "IL": ("Land of Lincoln",),
    "IN": ("Crossroads of America",),
    "KY": ("Unbridled Spirit",),
    "LA": ("Sportsman's Paradise", "Bayou State"),
    "ME": ("Vacationland",),
    "MA": ("The Spirit of America",),
    "MI": ("Pure Michigan", "Great Lakes", "Great Lake State"),
    "MN": ("10,000 Lakes", "Explore Minnesota"),
    "MS": ("Magnolia State",),
    "MO": ("Show Me State",),
    "MT": ("Big Sky", "Treasure State"),
    "NE": ("The Good Life", "Cornhusker State"),
    "NV": ("The Silver State", "Home Means Nevada"),
    "NH": ("Live Free or Die",),
    "NJ": ("Garden State",),
    "NM": ("Land of Enchantment",),
    "NY": ("Empire State", "Excelsior"),
    "NC": ("First in Flight", "First in Freedom"),
    "ND": ("Peace Garden State", "Discover the Spirit", "Legendary"),
    "OH": ("Birthplace of Aviation", "Beautiful Ohio", "Round on the ends"),
    "OK": ("Native America", "Explore Oklahoma"),
    "PA": ("visitPA com", "Keystone State"),
    "RI": ("Ocean State",),
    "SC": ("Smiling Faces", "Beautiful Places", "While I Breathe I Hope"),
    "SD": ("Great Faces", "Great Places", "Mount Rushmore"),
    "TN": ("Volunteer State",),
    "TX": ("The Lone Star State", "Lone Star"),
    "UT": ("Life Elevated", "Greatest Snow on Earth"),
    "VT": ("Green Mountain State",),
    "VA": ("Virginia is for Lovers",),
    "WA": ("Evergreen State",),
    "WV": ("Wild Wonderful", "Mountain State"),
    "WI": ("America's Dairyland",),
}


def _letters(text: str) -> str:
    """Upper-case letters and digits only: OCR splits and joins words at random, so spaces carry nothing."""
    return "".join(ch for ch in text.upper() if ch.isalnum() and ch.isascii())


# (normalised phrase, state) for every name and slogan; DC's name contains "COLUMBIA", not "WASHINGTON".
PHRASES: tuple[tuple[str, str], ...] = tuple(
    (_letters(phrase), code)
    for code in sorted(US_STATES)
    for phrase in (REGION_NAMES[code], *SLOGANS.get(code, ()))
)


def substring_distance(needle: str, haystack: str) -> int:
    """Fewest edits that turn `needle` into some substring of `haystack` (Sellers' algorithm)."""
    prev = [0] * (len(haystack) + 1)  # matching may start anywhere in the haystack: row 0 costs nothing
    for i, a in enumerate(needle, 1):
        cur = [i] + [0] * len(haystack)
        for j, b in enumerate(haystack, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
        prev = cur
    return min(prev)


@dataclass(frozen=True)
class StateGuess:
    """A state inferred from plate text, the phrase that showed it and a 0..1 confidence."""

    state: str
    phrase: str
    confidence: float


def infer_state(texts: Iterable[str]) -> StateGuess | None:
    """The state whose name or slogan best matches the text read off a plate, if any matches well enough.

    Longer phrases win ties ("WESTVIRGINIA" over "VIRGINIA", "ARKANSAS" over "KANSAS"); a phrase may be
    misread by one edit in five characters.
    """
    text = "".join(_letters(t) for t in texts)
    if len(text) < 4:
        return None
    best: tuple[float, str, str] | None = None
    for phrase, code in PHRASES:
        if len(phrase) < 4 or len(phrase) > len(text) + 2:
            continue
        dist = substring_distance(phrase, text)
        if dist > len(phrase) // 5:
            continue
        score = len(phrase) - 2.5 * dist
        if best is None or score > best[0]:
            best = (score, phrase, code)
    if best is None:
        return None
    score, phrase, code = best
    # Confidence grows with the evidence: a clean 8-letter name is near-certain, a 4-letter one with noise less so.
    confidence = max(0.3, min(0.99, score / 10))
    return StateGuess(code, phrase, round(confidence, 3))


MONTHS = frozenset(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "SEPT", "OCT", "NOV", "DEC"])


def looks_like_sticker(token: str) -> bool:
    """Registration stickers and dates: a month, a year, or a short month+year, never a plate number alone."""
    t = _letters(token)
    if t in MONTHS:
        return True
    if len(t) == 4 and t.isdigit() and t[:2] in {"19", "20"}:
        return True
    if len(t) == 2 and t.isdigit():
        return True
    return any(t.startswith(m) and t[len(m):].isdigit() for m in MONTHS)
