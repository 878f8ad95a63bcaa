"""The hot-list contract of api-v1.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from server.common.text import MULTI_LINE, SINGLE_LINE

Category = Literal["stolen_vehicle", "stolen_plate", "wanted_person", "missing_person", "amber_alert",
                   "silver_alert", "violent_crime", "drug_distribution"]
Source = Literal["NCIC", "APSIN", "RMS", "AMBER", "SILVER", "MANUAL"]
Short = Annotated[str, Meta(max_length=32, pattern=SINGLE_LINE)]
MIN_JUSTIFICATION = 10


class EntryVehicle(Struct, forbid_unknown_fields=True):
    year: Annotated[int, Meta(ge=1900, le=2100)] | None = None
    make: Short | None = None
    model: Short | None = None
    color: Short | None = None
    type: Short | None = None


class EntryCreate(Struct, forbid_unknown_fields=True):
    plate: Annotated[str, Meta(min_length=1, max_length=16)]
    category: Category
    source: Source
    case_number: Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]
    justification: Annotated[str, Meta(min_length=MIN_JUSTIFICATION, max_length=2000, pattern=MULTI_LINE,
                                       description="Why this vehicle is of interest, in a sentence")]
    state: Annotated[str, Meta(max_length=32)] | None = None
    expires_at: Annotated[datetime, Meta(tz=True)] | None = None
    priority: Annotated[int, Meta(ge=1, le=9)] | None = None
    vehicle: EntryVehicle | None = None
    subject: Annotated[str, Meta(max_length=2000, pattern=MULTI_LINE,
                                 description="Description of the person linked")] | None = None


class EntryRemove(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=3, max_length=500, pattern=MULTI_LINE)]


class ListingPublic(Struct):
    """One source's record behind an entry: a plate listed by NCIC and by APSIN is one entry with two listings."""

    source: str
    case_number: str
    justification: str
    priority: int
    expires_at: datetime | None


class EntryPublic(Struct):
    id: int
    plate: str
    state: str | None
    category: str
    source: str
    case_number: str
    justification: str
    priority: int
    expires_at: datetime | None
    vehicle: EntryVehicle
    subject: str | None
    created_at: datetime
    removed_at: datetime | None
    removed_reason: str | None
    listings: list[ListingPublic] = []


class EntryList(Struct):
    entries: list[EntryPublic]
    count: int


class ImportProblem(Struct):
    line: int
    detail: str


class ImportPublic(Struct):
    """What an import did. ``errors`` lists the first bad lines (``bad`` counts them all); ``refused`` counts, by the
    source's code, the records whose list type has no place in policy II."""

    id: int
    source: str
    format: str
    replace: bool
    status: Literal["running", "writing", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None
    lines: int
    imported: int
    merged: int
    updated: int
    unchanged: int
    delisted: int
    removed: int
    skipped: int
    expired: int
    bad: int
    refused: dict[str, int]
    errors: list[ImportProblem]
    filename: str | None = None
    error: str | None = None


class ImportList(Struct):
    imports: list[ImportPublic]


class SourceStatus(Struct):
    """A source's list as matching sees it: how many entries it lists, and how fresh its last full list is."""

    source: str
    entries: int
    last_refresh_at: datetime | None
    last_import: ImportPublic | None
    stale: bool
    stale_after_hours: float


class SourceList(Struct):
    sources: list[SourceStatus]
