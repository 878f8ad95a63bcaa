"""The hot-list entry table; the database is the source of truth, Redis only indexes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow

# Requirements §2; nothing else exists, so no list can target a protected class (policy D.3, D.5).
CATEGORIES = (
    "stolen_vehicle", "stolen_plate", "wanted_person", "missing_person",
    "amber_alert", "silver_alert", "violent_crime", "drug_distribution",
)
SOURCES = ("NCIC", "APSIN", "RMS", "AMBER", "SILVER", "MANUAL")
# Policy C.3: entries tied to a person need the driver step before a stop.
PERSON_LINKED = frozenset({"wanted_person", "missing_person", "amber_alert", "silver_alert", "violent_crime",
                           "drug_distribution"})
# Lower is more urgent: a missing child goes before a stolen plate.
DEFAULT_PRIORITY = {
    "amber_alert": 1, "missing_person": 2, "silver_alert": 2, "violent_crime": 3, "wanted_person": 3,
    "stolen_vehicle": 4, "drug_distribution": 4, "stolen_plate": 5,
}


class HotlistEntry(SQLModel, table=True):
    """A vehicle of interest from NCIC, APSIN, RMS, an Amber/Silver alert or a manual BOLO."""

    __tablename__ = "hotlist_entry"

    id: int | None = Field(default=None, primary_key=True)
    plate: str = Field(max_length=8, index=True)
    state: str | None = Field(default=None, max_length=2)
    category: str = Field(max_length=32)
    source: str = Field(max_length=16)
    case_number: str = Field(max_length=64)
    justification: str = Field(sa_column=Column(Text, nullable=False))
    priority: int = 5
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    vehicle_year: int | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    vehicle_color: str | None = None
    vehicle_type: str | None = None
    subject: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    removed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    removed_by: int | None = None
    removed_reason: str | None = None


class HotlistListing(SQLModel, table=True):
    """One source's record behind an entry: a plate listed by NCIC and by APSIN is one entry with two listings, so
    every source is kept and a refresh of one source never drops what another still lists."""

    __tablename__ = "hotlist_listing"
    __table_args__ = (UniqueConstraint("source", "entry_id", "case_number", name="uq_hotlist_listing_record"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="hotlist_entry.id", index=True)
    source: str = Field(max_length=16)  # the unique constraint's index, led by source, serves a refresh's lookups
    case_number: str = Field(max_length=64)
    justification: str = Field(sa_column=Column(Text, nullable=False))
    priority: int = 5
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    import_id: int | None = Field(default=None, foreign_key="hotlist_import.id")


class HotlistImport(SQLModel, table=True):
    """One import or refresh of a source's list, with what it did; the newest good full refresh of each source is
    shown to users, since a stale list is a known cause of bad stops."""

    __tablename__ = "hotlist_import"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16, index=True)
    format: str = Field(max_length=16)
    filename: str | None = Field(default=None, max_length=255)
    full_refresh: bool = False
    status: str = Field(default="running", max_length=16)  # running, succeeded, failed
    started_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    lines: int = 0
    imported: int = 0
    merged: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    delisted: int = 0
    skipped: int = 0
    expired: int = 0
    bad: int = 0
    refused: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    problems: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # first bad lines
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_by: int | None = None
