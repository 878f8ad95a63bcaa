"""Confidence-weighted voting over several reads of one plate (variants of a crop, frames of a track)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Vote:
    """The winning value, its share of the total weight (0..1) and the total weight cast."""

    value: str | None
    share: float
    weight: float


def vote(reads: Iterable[tuple[str | None, float]]) -> Vote:
    """The value with the largest summed confidence; None values vote for "unknown" and can win."""
    totals: dict[str | None, float] = defaultdict(float)
    for value, confidence in reads:
        totals[value] += max(confidence, 0.0)
    total = sum(totals.values())
    if not totals or total <= 0:
        return Vote(None, 0.0, 0.0)
    # Ties go to the longer string (a dropped character is a likelier error than an added one), then order.
    winner = max(totals, key=lambda v: (totals[v], len(v or "")))
    return Vote(winner, totals[winner] / total, total)


def vote_known(reads: Iterable[tuple[str | None, float]]) -> Vote:
    """Like vote(), but only known values compete; the share is still of every vote cast."""
    reads = list(reads)
    known = vote((v, c) for v, c in reads if v is not None)
    total = sum(max(c, 0.0) for _, c in reads)
    if known.value is None or total <= 0:
        return Vote(None, 0.0, total)
    return Vote(known.value, known.share * known.weight / total, total)
