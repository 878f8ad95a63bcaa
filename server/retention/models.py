"""The daily ledger: counts only, no plate, place or person, kept for the annual report."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class LedgerCount(SQLModel, table=True):
    """How many of something one day had: reads, hits by category and outcome, arrests, hits used in cases."""

    __tablename__ = "retention_ledger"

    day: date = Field(primary_key=True)  # the capture day (UTC) of what was counted
    metric: str = Field(primary_key=True, max_length=32)  # reads | hits | arrests | hits_in_investigations
    key: str = Field(primary_key=True, max_length=64, default="")  # hits: "category/outcome"
    count: int = 0
