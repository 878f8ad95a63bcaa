"""Tables for hits and every event in a hit's life."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow

STATUSES = ("pending", "apsin_confirmed", "visually_confirmed", "verified", "action_taken", "closed")


class Hit(SQLModel, table=True):
    """A read matched to a hot-list entry; repeated reads by the same unit fold into it."""

    __table_args__ = (Index("ix_hit_fold", "unit_id", "entry_id", "plate", "last_read_at"),)

    id: int | None = Field(default=None, primary_key=True)
    detection_id: str = Field(foreign_key="detection.id", index=True, max_length=36)
    entry_id: int = Field(foreign_key="hotlist_entry.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    plate: str = Field(max_length=8)  # the read plate: folding keys on what the camera saw
    match_kind: str = Field(max_length=16)
    state_mismatch: bool = False
    category: str = Field(max_length=32)
    priority: int
    status: str = Field(default="pending", max_length=24, index=True)
    read_count: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    last_read_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    # Verification (policy C.1-C.4); who did each step, when and what they saw is in hit_event.
    apsin_confirmed: bool = False
    visual_confirmed: bool = False
    driver_result: str | None = Field(default=None, max_length=24)
    action: str | None = Field(default=None, max_length=24)
    exigent: bool = False
    outcome: str | None = Field(default=None, max_length=24)
    closed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    no_longer_of_interest: bool = False  # the entry was removed or expired after the hit
    version: int = 1  # each step updates only the version it read: two people cannot both win a race


class HitRead(SQLModel, table=True):
    """Each read that raised a hit or was folded into it; a resend finds its hits through here."""

    __tablename__ = "hit_read"

    hit_id: int = Field(foreign_key="hit.id", primary_key=True)
    detection_id: str = Field(foreign_key="detection.id", primary_key=True, max_length=36, index=True)


class HitEvent(SQLModel, table=True):
    """One step in a hit's life: created, folded read, and (later) each verification step."""

    __tablename__ = "hit_event"

    id: int | None = Field(default=None, primary_key=True)
    hit_id: int = Field(foreign_key="hit.id", index=True)
    kind: str = Field(max_length=32)
    actor_id: int | None = None
    actor_role: str | None = None
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    data: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Suppression(SQLModel, table=True):
    """An officer closed a hit as a misread: that entry and read plate raise no new hit for the unit this shift."""

    __table_args__ = (Index("ix_suppression_match", "unit_id", "entry_id", "plate"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    entry_id: int = Field(foreign_key="hotlist_entry.id")
    plate: str = Field(max_length=8)
    hit_id: int = Field(foreign_key="hit.id")
    created_by: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    suppressed_reads: int = 0
    last_suppressed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    lifted_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    lifted_by: int | None = None
    lifted_reason: str | None = None
