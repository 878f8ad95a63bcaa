"""Unit tests for server.retention.service.ledger_counts: what the ledger keeps of a purged batch."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from server.retention.service import ledger_counts


def test_counts_by_day_category_outcome_arrest_and_case() -> None:
    """Reads by capture day; hits by category/outcome (status while open), arrests, hits used in cases."""
    d1, d2 = datetime(2026, 3, 1, 23, 59, tzinfo=UTC), datetime(2026, 3, 2, 0, 1, tzinfo=UTC)
    dets = [("a", d1), ("b", d1), ("c", d2)]
    hits = [SimpleNamespace(id=1, category="stolen_vehicle", outcome="arrest_made", status="closed", action="arrest",
                            created_at=d1),
            SimpleNamespace(id=2, category="stolen_vehicle", outcome=None, status="pending", action=None,
                            created_at=d2)]
    counts = ledger_counts(dets, hits, {1})
    assert counts == {
        (date(2026, 3, 1), "reads", ""): 2, (date(2026, 3, 2), "reads", ""): 1,
        (date(2026, 3, 1), "hits", "stolen_vehicle/arrest_made"): 1, (date(2026, 3, 1), "arrests", ""): 1,
        (date(2026, 3, 1), "hits_in_investigations", ""): 1, (date(2026, 3, 2), "hits", "stolen_vehicle/pending"): 1}


def test_ledger_keys_hold_no_plate_place_or_person() -> None:
    """Nothing but days, metric names and category/outcome words reaches the ledger."""
    hits = [SimpleNamespace(id=1, category="wanted_person", outcome="misread", status="closed", action=None,
                            created_at=datetime(2026, 3, 1, tzinfo=UTC))]
    counts = ledger_counts([("ABC1234-det", datetime(2026, 3, 1, tzinfo=UTC))], hits, set())
    assert all("ABC" not in key for _, _, key in counts)
