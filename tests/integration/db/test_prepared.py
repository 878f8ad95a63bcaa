"""Prepared statements store and read back what SQLAlchemy's own execution would, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, delete, insert, select, update

from server.db import UtcDateTime, create_engine
from server.prepared import Prepared

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(20)),
               Column("at", UtcDateTime(), nullable=False), Column("data", JSON, nullable=True))
INSERT = Prepared(insert(things).returning(things.c.id), columns=["name", "at", "data"])
INSERT_MANY = Prepared(insert(things), columns=["name", "at", "data"])
BY_IDS = Prepared(select(things).where(things.c.id.in_(bindparam("ids", expanding=True)), things.c.name != "skip",
                                       things.c.at >= bindparam("since")).order_by(things.c.id), expanding=["ids"])
RENAME = Prepared(update(things).where(things.c.id == bindparam("tid")).values(name=bindparam("new")))
DELETE_IDS = Prepared(delete(things).where(things.c.id.in_(bindparam("ids", expanding=True))), expanding=["ids"])
INDIA = timezone(timedelta(hours=5, minutes=30))


async def _with_table(database_url: str, fn):  # noqa: ANN001, ANN202
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def test_rows_round_trip_times_json_and_in_lists(database_url: str) -> None:
    """Ids come back from RETURNING, times as UTC instants, JSON as objects, and IN lists of any length match."""
    at = datetime(2026, 11, 28, 9, 30, tzinfo=INDIA)

    def work(conn):  # noqa: ANN001, ANN202
        [(first,)] = INSERT.rows(conn, {"name": "a", "at": at, "data": {"k": [1, 2]}})
        INSERT_MANY.many(conn, [{"name": n, "at": at + timedelta(minutes=i), "data": None}
                                for i, n in enumerate(["b", "skip", "c"], start=1)])
        one = BY_IDS.dicts(conn, {"ids": [first], "since": at})
        three = BY_IDS.dicts(conn, {"ids": [first, first + 1, first + 2, first + 3], "since": at})
        later = BY_IDS.rows(conn, {"ids": [first, first + 1, first + 3], "since": at + timedelta(seconds=1)})
        core = conn.execute(select(things.c.at).where(things.c.id == first)).scalar_one()
        return first, one, three, later, core

    first, one, three, later, core = await _with_table(database_url, work)
    assert one == [{"id": first, "name": "a", "at": at, "data": {"k": [1, 2]}}]
    assert one[0]["at"].utcoffset() == timedelta(0)
    assert [r["name"] for r in three] == ["a", "b", "c"]  # the fixed "skip" literal is bound too
    assert [r[1] for r in later] == ["b", "c"]  # times compare as instants in the database
    assert core == at.astimezone(UTC)  # what a Prepared insert stored reads back the same through Core


async def test_a_missing_parameter_is_an_error_not_a_null(database_url: str) -> None:
    """A row without one of the named columns is refused instead of being stored with a NULL."""
    def work(conn):  # noqa: ANN001, ANN202
        with pytest.raises(KeyError):
            INSERT_MANY.many(conn, [{"name": "a", "data": None}])
        return conn.execute(select(things)).all()

    assert await _with_table(database_url, work) == []


async def test_updates_and_deletes_count_the_rows_they_changed(database_url: str) -> None:
    """An UPDATE and a DELETE with an IN list report how many rows they changed, and change only those."""
    at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)

    def work(conn):  # noqa: ANN001, ANN202
        INSERT_MANY.many(conn, [{"name": n, "at": at, "data": None} for n in ("a", "b", "c")])
        ids = [r[0] for r in conn.execute(select(things.c.id).order_by(things.c.id))]
        renamed = RENAME.count(conn, {"tid": ids[0], "new": "z"})
        missed = RENAME.count(conn, {"tid": ids[-1] + 100, "new": "y"})
        deleted = DELETE_IDS.count(conn, {"ids": [ids[1], ids[2], ids[-1] + 100]})
        return renamed, missed, deleted, conn.execute(select(things.c.name)).scalars().all()

    assert await _with_table(database_url, work) == (1, 0, 2, ["z"])
