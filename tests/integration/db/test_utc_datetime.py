"""Stored times are the same instant on SQLite and PostgreSQL, whatever offset the client sent."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from server.db import UtcDateTime, create_engine

ALASKA = timezone(timedelta(hours=-9))
INDIA = timezone(timedelta(hours=5, minutes=30))
metadata = MetaData()
moments = Table("moments", metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))


@pytest.mark.parametrize("sent", [
    datetime(2026, 11, 27, 8, 0, tzinfo=ALASKA),
    datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=INDIA),
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
])
async def test_instant_survives_a_round_trip(database_url: str, sent: datetime) -> None:
    """A time sent with any offset reads back as the same instant, in UTC."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(moments).values(id=1, at=sent))
            got = (await conn.execute(select(moments.c.at))).scalar_one()
        assert got == sent
        assert got.utcoffset() == timedelta(0)
    finally:
        await engine.dispose()


async def test_naive_time_is_refused(database_url: str) -> None:
    """A time without an offset is refused rather than guessed at."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            with pytest.raises(StatementError, match="without a UTC offset"):
                await conn.execute(insert(moments).values(id=1, at=datetime(2026, 11, 27, 8, 0)))
    finally:
        await engine.dispose()
