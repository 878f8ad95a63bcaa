"""Tables for cases and the detections they hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow


class Case(SQLModel, table=True):
    """A criminal case; while open, the detections attached to it are not purged."""

    __tablename__ = "alpr_case"

    id: int | None = Field(default=None, primary_key=True)
    case_number: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    title: str = Field(max_length=200)
    status: str = Field(default="open", max_length=16)  # open | closed
    opened_by: int
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    closed_by: int | None = None
    closed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    close_reason: str | None = Field(default=None, max_length=500)


class CaseHold(SQLModel, table=True):
    """A detection attached to a case (an explicit, audited act); released when the case closes."""

    __tablename__ = "case_hold"
    # The purge asks "is this detection held by an open case?" for every candidate.
    __table_args__ = (Index("ix_case_hold_detection_released", "detection_id", "released_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="alpr_case.id", index=True)
    detection_id: str = Field(foreign_key="detection.id", max_length=36)
    reason: str = Field(max_length=500)
    held_by: int
    held_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
