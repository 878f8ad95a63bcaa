"""The retention contract: what a purge run did, and the daily ledger."""

from __future__ import annotations

from datetime import date

from msgspec import Struct


class PurgeResult(Struct):
    """`purged` detections (with their images and hits), `held` expired ones an active case keeps."""

    purged: int
    held: int
    images: int
    hits: int
    batches: int
    seconds: float
    cutoff: str


class LedgerDay(Struct):
    day: date
    reads: int
    hits: dict[str, int]
    arrests: int
    hits_in_investigations: int


class Ledger(Struct):
    """Counts per capture day: purged data from the ledger plus what is still stored."""

    days: list[LedgerDay]
