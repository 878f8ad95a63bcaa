"""Unit tests for server.common.regions."""

from __future__ import annotations

import pytest

from server.common.regions import (
    CA_PROVINCES,
    REGION_NAMES,
    REGIONS,
    UNKNOWN_REGION_TOKENS,
    US_STATES,
    US_TERRITORIES,
    RegionError,
    parse_region,
)


@pytest.mark.parametrize(
    ("group", "size"),
    [
        (US_STATES, 51),  # 50 states + DC
        (US_TERRITORIES, 5),
        (CA_PROVINCES, 13),
        (REGIONS, 69),
    ],
)
def test_region_group_sizes(group: frozenset[str], size: int) -> None:
    """Each region group holds the expected number of codes."""
    assert len(group) == size


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (US_STATES, US_TERRITORIES),
        (US_STATES, CA_PROVINCES),
        (US_TERRITORIES, CA_PROVINCES),
    ],
)
def test_region_groups_are_disjoint(left: frozenset[str], right: frozenset[str]) -> None:
    """No code belongs to two region groups."""
    assert not left & right


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("AK", US_STATES),
        ("DC", US_STATES),
        ("WY", US_STATES),
        ("PR", US_TERRITORIES),
        ("GU", US_TERRITORIES),
        ("VI", US_TERRITORIES),
        ("AS", US_TERRITORIES),
        ("MP", US_TERRITORIES),
        ("AB", CA_PROVINCES),
        ("NU", CA_PROVINCES),
        ("QC", CA_PROVINCES),
        ("YT", CA_PROVINCES),
    ],
)
def test_code_in_group(code: str, group: frozenset[str]) -> None:
    """Representative codes sit in the right group."""
    assert code in group


def test_regions_match_names_and_groups() -> None:
    """REGIONS, REGION_NAMES and the union of the groups agree."""
    assert REGIONS == frozenset(REGION_NAMES) == US_STATES | US_TERRITORIES | CA_PROVINCES


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("AK", "Alaska"),
        ("CO", "Colorado"),
        ("MT", "Montana"),
        ("DC", "District of Columbia"),
        ("PR", "Puerto Rico"),
        ("MP", "Northern Mariana Islands"),
        ("BC", "British Columbia"),
        ("NL", "Newfoundland and Labrador"),
        ("QC", "Quebec"),
        ("YT", "Yukon"),
    ],
)
def test_region_names(code: str, name: str) -> None:
    """REGION_NAMES maps codes to full names."""
    assert REGION_NAMES[code] == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AK", "AK"),
        ("ak", "AK"),
        ("Ak", "AK"),
        (" co ", "CO"),
        ("DC", "DC"),
        ("pr", "PR"),
        ("MP", "MP"),
        ("qc", "QC"),
        ("On", "ON"),
        ("D.C.", "DC"),
    ],
)
def test_parse_region_codes(raw: str, expected: str) -> None:
    """parse_region accepts codes case-insensitively and returns the upper-case code."""
    assert parse_region(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alaska", "AK"),
        ("Alaska", "AK"),
        ("ALASKA", "AK"),
        ("British Columbia", "BC"),
        ("british   columbia", "BC"),
        ("  New York  ", "NY"),
        ("district of columbia", "DC"),
        ("Washington", "WA"),
        ("Washington, D.C.", "DC"),
        ("Puerto Rico", "PR"),
        ("U.S. Virgin Islands", "VI"),
        ("US Virgin Islands", "VI"),
        ("Virgin Islands", "VI"),
        ("Quebec", "QC"),
        ("Québec", "QC"),
        ("Newfoundland", "NL"),
        ("Yukon Territory", "YT"),
    ],
)
def test_parse_region_names(raw: str, expected: str) -> None:
    """parse_region accepts full names and common variants case-insensitively."""
    assert parse_region(raw) == expected


@pytest.mark.parametrize("code", sorted(REGIONS))
def test_parse_region_round_trips_every_name(code: str) -> None:
    """Every code and its full name parse back to the same code."""
    assert parse_region(code) == code
    assert parse_region(REGION_NAMES[code]) == code


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "UNK", "unk", "Unknown", "UNKNOWN", "xx", "XX", "??", " ?? "],
)
def test_parse_region_unknown(raw: str | None) -> None:
    """None, blank and unknown tokens parse to None rather than an error."""
    assert parse_region(raw) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ZZ", "'ZZ' is not a US state, territory or Canadian province code"),
        ("zz", "'zz' is not a US state, territory or Canadian province code"),
        (" ZZ ", "'ZZ' is not a US state, territory or Canadian province code"),
        ("A", "'A' is not a US state, territory or Canadian province code"),
        ("AKX", "'AKX' is not a US state, territory or Canadian province code"),
        ("?", "'?' is not a US state, territory or Canadian province code"),
        ("Atlantis", "'Atlantis' is not a US state, territory or Canadian province code"),
        ("UK", "'UK' is not a US state, territory or Canadian province code"),
        ("MX", "'MX' is not a US state, territory or Canadian province code"),
    ],
)
def test_parse_region_rejects_bad(raw: str, message: str) -> None:
    """parse_region raises RegionError naming the bad value."""
    with pytest.raises(RegionError) as excinfo:
        parse_region(raw)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("token", sorted(UNKNOWN_REGION_TOKENS))
def test_unknown_tokens_are_not_regions(token: str) -> None:
    """No unknown token collides with a real region code."""
    assert token not in REGIONS


@pytest.mark.parametrize("exc_type", [RegionError, ValueError])
def test_region_error_is_value_error(exc_type: type[Exception]) -> None:
    """RegionError can be caught as a ValueError."""
    with pytest.raises(exc_type):
        parse_region("ZZ")
