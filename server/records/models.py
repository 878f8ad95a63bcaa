"""Table for export requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow


class ExportRequest(SQLModel, table=True):
    """A request to copy detections out of the system; nothing leaves before the Chief approves it."""

    __tablename__ = "export_request"

    id: int | None = Field(default=None, primary_key=True)
    case_number: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=48)
    purpose_detail: str | None = Field(default=None, max_length=2000)
    detection_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending | approved | produced
    requested_by: int
    requested_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    approved_by: int | None = None
    approved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    approval_note: str | None = Field(default=None, max_length=500)
    produced_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    bundle_sha256: str | None = Field(default=None, max_length=64)
