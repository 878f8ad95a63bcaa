"""The benchmarks' hot-list seeding writes what an import would: one entry and one listing per plate."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, text

from bench.common import seed_hotlist
from server.db import create_engine
from server.hotlist.models import HotlistEntry


async def test_seeded_hot_list_has_an_entry_and_a_listing_per_plate(database_url: str) -> None:
    """Seeding in chunks leaves each plate once, with its listing, and the id sequence past the last entry."""
    plates = [f"SEED{n:03d}" for n in range(25)]
    await seed_hotlist(database_url, plates, chunk=10)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT e.id, e.plate, l.source, l.case_number FROM hotlist_entry e "
                "JOIN hotlist_listing l ON l.entry_id = e.id ORDER BY e.id"))).all()
        assert [(r.id, r.plate) for r in rows] == list(enumerate(plates, 1))
        assert {r.source for r in rows} == {"NCIC"} and len({r.case_number for r in rows}) == len(plates)
        async with engine.begin() as conn:  # the next entry gets the next id, on either database
            await conn.execute(insert(HotlistEntry.__table__).values(
                plate="NEXT001", category="stolen_vehicle", source="MANUAL", case_number="C1", justification="test",
                priority=4, created_at=datetime.now(UTC)))
            assert await conn.scalar(text("SELECT max(id) FROM hotlist_entry")) == len(plates) + 1
    finally:
        await engine.dispose()
