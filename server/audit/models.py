"""Tables for the audit trail and the flags raised to supervisors and auditors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """One access to ALPR data; `hash` covers every field and the previous event's hash (a chain)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_actor_at", "actor_name", "at"),
                      Index("ix_audit_event_action_at", "action", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False, index=True))
    actor_id: int | None = None
    actor_name: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    action: str = Field(max_length=48)
    purpose: str | None = Field(default=None, max_length=48)
    purpose_detail: str | None = Field(default=None, max_length=2000)
    case_number: str | None = Field(default=None, max_length=64)
    client_address: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, max_length=128)  # what was accessed: a detection, hit, entry, export
    details: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Unique: two writers that read the same head cannot both append after it, so the chain never forks.
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    hash: str = Field(max_length=64)


class AuditFlag(SQLModel, table=True):
    """A pattern an auditor or supervisor should look at (requirements §6), pointing at the event that raised it."""

    __tablename__ = "audit_flag"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False, index=True))
    kind: str = Field(max_length=32)  # repeated_plate_without_case | search_volume | outside_grant
    actor_name: str = Field(max_length=64, index=True)
    event_id: int | None = None
    detail: str = Field(max_length=500)
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
