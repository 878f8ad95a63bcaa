"""Planning a hot-list import, without I/O: from a file's parsed records and what the database holds, the rows to
write.

An *entry* is one vehicle of interest, keyed by (plate, state, category); each source's record behind it is a
*listing*. A plate listed by NCIC and by APSIN is one entry with two listings, so matching raises one hit and every
source is kept. A listing is identified within its source by (entry, case number).

A *full refresh* replaces everything the source listed before: listings of that source not in the new file are
dropped (only imported ones; a listing an operator added by hand is never dropped by a feed), and the loader removes
an entry once no listing is left. Without it, an import only adds and updates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from server.hotlist.formats import ImportRecord, LineProblem
from server.hotlist.models import DEFAULT_PRIORITY

EntryKey = tuple[str, str | None, str]  # plate, state, category
MAX_ERRORS_SHOWN = 1000  # every bad line is counted; the first thousand are listed with their line numbers


class ExistingListing(NamedTuple):
    """A listing of the importing source, on an entry the database still lists. (A tuple: a refresh loads one per
    entry of the list, a million, and a tuple is made several times faster than a frozen dataclass.)"""

    id: int
    entry_id: int
    case_number: str
    justification: str
    priority: int
    expires_at: datetime | None
    imported: bool  # False: added by hand, which a feed's refresh leaves alone


class NewEntry:
    """An entry the database does not have yet, with its listings (the first record describes the vehicle)."""

    __slots__ = ("first", "more")

    def __init__(self, first: ImportRecord) -> None:
        self.first = first
        self.more: dict[str, ImportRecord] | None = None  # other cases of the same vehicle; most entries have none

    @property
    def listings(self) -> dict[str, ImportRecord]:
        """The listings by case number, the first one first."""
        return {self.first.case_number: self.first, **(self.more or {})}

    def add(self, record: ImportRecord) -> None:
        if record.case_number != self.first.case_number:
            if self.more is None:
                self.more = {}
            self.more.setdefault(record.case_number, record)  # a repeated line changes nothing

    @property
    def priority(self) -> int:
        return min(listing_priority(r) for r in self.listings.values())

    @property
    def expires_at(self) -> datetime | None:
        """The entry matches while any listing does: no expiry if one has none, else the latest."""
        ends = [r.expires_at for r in self.listings.values()]
        return None if None in ends else max(ends)  # type: ignore[type-var]


@dataclass(slots=True)
class ImportCounts:
    """What an import did, line by line; shown to the clerk and kept with the import run."""

    lines: int = 0
    imported: int = 0   # records that made a new entry
    merged: int = 0     # records folded into an entry that was already there (another source, another case, a repeat)
    updated: int = 0    # records that changed this source's listing (expiry, priority, justification)
    unchanged: int = 0  # records already loaded exactly so
    delisted: int = 0   # listings of this source that a full refresh dropped
    removed: int = 0    # entries left with no listing, removed (the loader fills it in)
    skipped: int = 0
    expired: int = 0
    bad: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    errors: list[LineProblem] = field(default_factory=list)


@dataclass(slots=True)
class ImportPlan:
    new_entries: list[NewEntry]
    new_listings: list[tuple[int, ImportRecord]]           # on entries already in the database
    changed_listings: list[tuple[ExistingListing, ImportRecord]]
    dropped_listings: list[ExistingListing]
    touched_entries: set[int]                              # existing entries whose listings changed
    counts: ImportCounts


def listing_priority(record: ImportRecord) -> int:
    return record.priority if record.priority is not None else DEFAULT_PRIORITY[record.category]


class ImportPlanner:
    """Feed it every parse result in file order, then :meth:`finish` it."""

    def __init__(self, *, now: datetime, active: Mapping[EntryKey, int],
                 listings: Mapping[tuple[int, str], ExistingListing], full_refresh: bool) -> None:
        self._now, self._active, self._listings, self._full = now, active, listings, full_refresh
        self._new: dict[EntryKey, NewEntry] = {}
        self.new_entries: list[NewEntry] = []  # in the order they appeared, which the loader writes them in
        self._seen: set[tuple[int, str]] = set()
        self._new_listings: list[tuple[int, ImportRecord]] = []
        self._changed: list[tuple[ExistingListing, ImportRecord]] = []
        self._touched: set[int] = set()
        self.counts = ImportCounts()

    def add(self, result: ImportRecord | LineProblem) -> None:
        counts = self.counts
        counts.lines += 1
        if type(result) is not ImportRecord:
            self._problem(result)  # type: ignore[arg-type]
            return
        record: ImportRecord = result  # type: ignore[assignment]
        if record.expires_at is not None and record.expires_at <= self._now:
            counts.expired += 1  # would never match; in a refresh its listing goes like any other not sent
            return
        key = (record.plate, record.state, record.category)
        entry_id = self._active.get(key)
        if entry_id is None:
            new = self._new.get(key)
            if new is None:
                new = self._new[key] = NewEntry(record)
                self.new_entries.append(new)
                counts.imported += 1
            else:
                new.add(record)
                counts.merged += 1
            return
        listing_key = (entry_id, record.case_number)
        if listing_key in self._seen:
            counts.merged += 1  # the same record twice in one file
            return
        self._seen.add(listing_key)
        old = self._listings.get(listing_key)
        if old is None:
            self._new_listings.append((entry_id, record))
            self._touched.add(entry_id)
            counts.merged += 1
        elif (old.justification, old.priority, old.expires_at) != (record.justification, listing_priority(record),
                                                                    record.expires_at):
            self._changed.append((old, record))
            self._touched.add(entry_id)
            counts.updated += 1
        else:
            counts.unchanged += 1

    def _problem(self, problem: LineProblem) -> None:
        counts = self.counts
        if problem.kind == "refused":
            counts.refused[problem.code or ""] += 1
        elif problem.kind == "skipped":
            counts.skipped += 1
        else:
            counts.bad += 1
            if len(counts.errors) < MAX_ERRORS_SHOWN:
                counts.errors.append(problem)

    def finish(self) -> ImportPlan:
        dropped: list[ExistingListing] = []
        if self._full:
            dropped = [old for key, old in self._listings.items() if old.imported and key not in self._seen]
            self._touched.update(old.entry_id for old in dropped)
            self.counts.delisted = len(dropped)
        return ImportPlan(self.new_entries, self._new_listings, self._changed, dropped, self._touched,
                          self.counts)
