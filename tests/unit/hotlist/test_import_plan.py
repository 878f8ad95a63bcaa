"""Planning an import: new entries, merges, updates and a full refresh's drops, from records and the stored state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.hotlist.formats import ImportRecord, LineProblem
from server.hotlist.import_plan import ExistingListing, ImportPlanner
from server.hotlist.watch import source_and_format

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


def rec(plate: str = "ABC1234", state: str | None = "AK", category: str = "stolen_vehicle", case: str = "V1",
        expires: datetime | None = None, priority: int | None = None, line: int = 1) -> ImportRecord:
    return ImportRecord(line, plate, state, category, "NCIC", case, f"NCIC {category}, NIC {case}", None, expires,
                        priority, None, None, None, None, None, None)


def existing(entry_id: int, case: str = "V1", expires: datetime | None = None, priority: int = 4,
             imported: bool = True, listing_id: int = 100) -> ExistingListing:
    return ExistingListing(listing_id, entry_id, case, f"NCIC stolen_vehicle, NIC {case}", priority, expires,
                           imported)


def plan(records, active=None, listings=None, full=False):  # noqa: ANN001, ANN201
    planner = ImportPlanner(now=NOW, active=active or {}, listings=listings or {}, full_refresh=full)
    for r in records:
        planner.add(r)
    return planner.finish()


KEY = ("ABC1234", "AK", "stolen_vehicle")

# (case, records, active, listings, full refresh, expected counts subset, new entries, new listings, changed, dropped)
CASES = [
    ("a new plate makes a new entry", [rec()], {}, {}, False, {"imported": 1}, 1, 0, 0, 0),
    ("two cases of one vehicle in a file: one entry, two listings", [rec(case="V1"), rec(case="V2")], {}, {}, False,
     {"imported": 1, "merged": 1}, 1, 0, 0, 0),
    ("the same line twice: one listing", [rec(), rec()], {}, {}, False, {"imported": 1, "merged": 1}, 1, 0, 0, 0),
    ("same plate, other state: two entries", [rec(state="AK"), rec(state="WA")], {}, {}, False, {"imported": 2}, 2,
     0, 0, 0),
    ("same plate, other category: two entries", [rec(), rec(category="wanted_person")], {}, {}, False,
     {"imported": 2}, 2, 0, 0, 0),
    ("listed by another source: merged as a new listing", [rec()], {KEY: 7}, {}, False, {"merged": 1}, 0, 1, 0, 0),
    ("already loaded the same: unchanged", [rec()], {KEY: 7}, {(7, "V1"): existing(7)}, False, {"unchanged": 1}, 0,
     0, 0, 0),
    ("expiry moved: updated", [rec(expires=LATER)], {KEY: 7}, {(7, "V1"): existing(7)}, False, {"updated": 1}, 0, 0,
     1, 0),
    ("priority given: updated", [rec(priority=1)], {KEY: 7}, {(7, "V1"): existing(7)}, False, {"updated": 1}, 0, 0,
     1, 0),
    ("expired already: counted, not loaded", [rec(expires=NOW - timedelta(seconds=1))], {}, {}, False,
     {"expired": 1}, 0, 0, 0, 0),
    ("refresh without a listed record drops it", [rec(plate="NEW1")], {KEY: 7}, {(7, "V1"): existing(7)}, True,
     {"imported": 1, "delisted": 1}, 1, 0, 0, 1),
    ("add-only import keeps what the file lacks", [rec(plate="NEW1")], {KEY: 7}, {(7, "V1"): existing(7)}, False,
     {"imported": 1, "delisted": 0}, 1, 0, 0, 0),
    ("refresh never drops a listing added by hand", [], {KEY: 7}, {(7, "V1"): existing(7, imported=False)}, True,
     {"delisted": 0}, 0, 0, 0, 0),
    ("refresh drops an expired record's listing", [rec(expires=NOW)], {KEY: 7}, {(7, "V1"): existing(7)}, True,
     {"expired": 1, "delisted": 1}, 0, 0, 0, 1),
]


@pytest.mark.parametrize(("case", "records", "active", "listings", "full", "counts", "new", "new_listings",
                          "changed", "dropped"), CASES, ids=[c[0] for c in CASES])
def test_plan(case: str, records, active, listings, full: bool, counts: dict[str, int], new: int,  # noqa: ANN001
              new_listings: int, changed: int, dropped: int) -> None:
    """Each record lands where the table says: a new entry, a merge, an update, unchanged, or dropped."""
    p = plan(records, active, listings, full)
    for name, value in counts.items():
        assert getattr(p.counts, name) == value, name
    assert (len(p.new_entries), len(p.new_listings), len(p.changed_listings), len(p.dropped_listings)) == (
        new, new_listings, changed, dropped)


def test_touched_entries_are_those_whose_listings_changed() -> None:
    """The loader re-checks exactly the existing entries that gained, changed or lost a listing."""
    other = ("XYZ9876", "AK", "stolen_vehicle")
    same = ("SAME111", "AK", "stolen_vehicle")
    p = plan([rec(), rec(plate="SAME111", case="V3"), rec(plate="XYZ9876", case="V9", expires=LATER)],
             {KEY: 7, other: 8, same: 9, ("GONE111", "AK", "stolen_vehicle"): 10},
             {(8, "V9"): existing(8, "V9"), (9, "V3"): existing(9, "V3", listing_id=101),
              (10, "V4"): existing(10, "V4", listing_id=102)}, full=True)
    assert p.touched_entries == {7, 8, 10}


def test_new_entry_takes_the_most_urgent_priority_and_the_latest_expiry() -> None:
    """An entry listed twice in one file is as urgent as its most urgent record and matches while any does."""
    p = plan([rec(case="V1", priority=5, expires=LATER), rec(case="V2", priority=2, expires=LATER + timedelta(1))])
    (entry,) = p.new_entries
    assert (entry.priority, entry.expires_at) == (2, LATER + timedelta(1))
    p = plan([rec(case="V1", expires=LATER), rec(case="V2", expires=None)])
    assert p.new_entries[0].expires_at is None  # one record without an expiry: the entry never expires


def test_default_priority_by_category() -> None:
    """Without a priority in the file, the category's default applies (an Amber Alert before a stolen plate)."""
    amber, plate = plan([rec(category="amber_alert"), rec(category="stolen_plate", plate="P2")]).new_entries
    assert (amber.priority, plate.priority) == (1, 5)


PROBLEMS = [
    (LineProblem(3, "refused", "immigration violator file", "IV"), {"refused": {"IV": 1}}),
    (LineProblem(4, "skipped", "junk plate", "UNKNOWN"), {"skipped": 1}),
    (LineProblem(5, "bad", "plate too long"), {"bad": 1}),
]


@pytest.mark.parametrize(("problem", "counts"), PROBLEMS, ids=[p[0].kind for p in PROBLEMS])
def test_problems_are_counted(problem: LineProblem, counts: dict) -> None:
    """Refused lines are counted by code, skipped and bad lines counted, bad ones listed with their line."""
    p = plan([problem])
    for name, value in counts.items():
        assert getattr(p.counts, name) == value
    assert p.counts.errors == ([problem] if problem.kind == "bad" else [])


def test_bad_lines_listed_up_to_a_limit() -> None:
    """Every bad line is counted, the first thousand are listed."""
    p = plan([LineProblem(n, "bad", "x") for n in range(1, 1502)])
    assert p.counts.bad == 1501 and len(p.counts.errors) == 1000 and p.counts.errors[-1].line == 1000


NAMES = [
    ("NCIC.ncic", ("NCIC", "ncic")),
    ("ncic_2026-11-28.ncic", ("NCIC", "ncic")),
    ("APSIN.apsin", ("APSIN", "apsin")),
    ("RMS_bolo.CSV", ("RMS", "csv")),
    ("NCIC.txt", None),
    ("FACEBOOK.csv", None),
    ("ncic", None),
]


@pytest.mark.parametrize(("name", "expected"), NAMES, ids=[n[0] for n in NAMES])
def test_watched_file_names(name: str, expected: tuple[str, str] | None) -> None:
    """A watched file's name says its source and format, or it is not imported."""
    assert source_and_format(name) == expected
