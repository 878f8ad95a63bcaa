"""State-of-issue codes (US states, territories, Canadian provinces) and their parsing."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = [
    "CA_PROVINCES",
    "REGIONS",
    "REGION_NAMES",
    "RegionError",
    "UNKNOWN_REGION_TOKENS",
    "US_STATES",
    "US_TERRITORIES",
    "parse_region",
]

_US_STATE_NAMES: Final[dict[str, str]] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    # DC issues its own plates, so it is a state of issue like any state.
    "DC": "District of Columbia",
}

_US_TERRITORY_NAMES: Final[dict[str, str]] = {
    "PR": "Puerto Rico",
    "GU": "Guam",
    "VI": "U.S. Virgin Islands",
    "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}

_CA_PROVINCE_NAMES: Final[dict[str, str]] = {
    "AB": "Alberta",
    "BC": "British Columbia",
    "MB": "Manitoba",
    "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador",
    "NS": "Nova Scotia",
    "NT": "Northwest Territories",
    "NU": "Nunavut",
    "ON": "Ontario",
    "PE": "Prince Edward Island",
    "QC": "Quebec",
    "SK": "Saskatchewan",
    "YT": "Yukon",
}

US_STATES: Final = frozenset(_US_STATE_NAMES)
US_TERRITORIES: Final = frozenset(_US_TERRITORY_NAMES)
CA_PROVINCES: Final = frozenset(_CA_PROVINCE_NAMES)

REGION_NAMES: Final[dict[str, str]] = {
    **_US_STATE_NAMES,
    **_US_TERRITORY_NAMES,
    **_CA_PROVINCE_NAMES,
}
REGIONS: Final = frozenset(REGION_NAMES)

# What cameras, OCR engines and hot-list feeds send when they could not tell
# the state; these mean "unknown", which is not an error.
UNKNOWN_REGION_TOKENS: Final = frozenset({"", "UNK", "UNKNOWN", "XX", "??"})

# Other names people commonly type for a region, beyond the official ones.
_NAME_ALIASES: Final[dict[str, str]] = {
    "Washington DC": "DC",
    "Virgin Islands": "VI",
    "US Virgin Islands": "VI",
    "Newfoundland": "NL",
    "Yukon Territory": "YT",
}


def _name_key(name: str) -> str:
    """Fold a region name so spelling variants compare equal.

    Accents are dropped ("Québec" == "Quebec"), case is folded, dots and
    commas go ("U.S." == "US", "Washington, D.C." == "Washington DC") and
    runs of whitespace collapse to one space.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace(".", "").replace(",", "")
    return " ".join(bare.casefold().split())


# Built once at import: parse_region is called for every read and entry.
_BY_NAME: Final[dict[str, str]] = {
    **{_name_key(name): code for code, name in REGION_NAMES.items()},
    **{_name_key(alias): code for alias, code in _NAME_ALIASES.items()},
}


class RegionError(ValueError):
    """A state-of-issue value that is neither a known region nor "unknown"."""


def parse_region(raw: str | None) -> str | None:
    """Return the upper-case region code for ``raw``, or None if it means unknown.

    Accepts codes and full names, case-insensitively; raises
    :class:`RegionError` for anything else.
    """
    if raw is None:
        return None
    text = raw.strip()
    token = text.upper()
    if token in UNKNOWN_REGION_TOKENS:
        return None
    if token in REGIONS:
        return token
    by_name = _BY_NAME.get(_name_key(text))
    if by_name is not None:
        return by_name
    # Dotted codes such as "D.C." fold to a bare code.
    folded = _name_key(text).upper()
    if folded in REGIONS:
        return folded
    raise RegionError(
        f"{text!r} is not a US state, territory or Canadian province code"
    )
