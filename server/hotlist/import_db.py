"""An import plan read from and written to the database: one transaction, bulk statements, fast enough for a list
the size of NCIC's on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, case, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db import as_utc
from server.hotlist.formats import ImportRecord
from server.hotlist.import_plan import EntryKey, ExistingListing, ImportPlan, listing_priority
from server.hotlist.models import HotlistEntry, HotlistImport, HotlistListing

ENTRY = HotlistEntry.__table__
LISTING = HotlistListing.__table__
IMPORT = HotlistImport.__table__
ENTRY_COLUMNS = ("id", "plate", "state", "category", "source", "case_number", "justification", "priority",
                 "expires_at", "vehicle_year", "vehicle_make", "vehicle_model", "vehicle_color", "vehicle_type",
                 "subject", "created_at")
LISTING_COLUMNS = ("entry_id", "source", "case_number", "justification", "priority", "expires_at", "import_id")
IMPORT_CACHE_KIB = 512 * 1024
ID_CHUNK = 500  # ids per IN (...): well under SQLite's and asyncpg's parameter limits


@dataclass(slots=True)
class Applied:
    """What the transaction changed, for the match index."""

    new_ids: list[int]               # aligned with plan.new_entries
    removed: list[tuple[int, str]]   # (entry id, plate): entries left with no listing, now removed
    refreshed: list[int]             # existing entries still listed whose listings changed


async def load_state(conn: AsyncConnection, source: str,
                     ) -> tuple[dict[EntryKey, int], dict[tuple[int, str], ExistingListing]]:
    """Every entry the database lists, by key (the oldest when a key is listed twice), and the importing source's
    listings on them, by (entry, case number)."""
    active: dict[EntryKey, int] = {}
    rows = await conn.execute(select(ENTRY.c.id, ENTRY.c.plate, ENTRY.c.state, ENTRY.c.category)
                              .where(ENTRY.c.removed_at.is_(None)).order_by(ENTRY.c.id.desc()))
    # Newest first, so the oldest of a repeated key is written last and wins.
    active.update(((plate, state, category), entry_id) for entry_id, plate, state, category in rows)
    rows = await conn.execute(
        select(LISTING.c.id, LISTING.c.entry_id, LISTING.c.case_number, LISTING.c.justification, LISTING.c.priority,
               LISTING.c.expires_at, LISTING.c.import_id)
        .join(ENTRY, ENTRY.c.id == LISTING.c.entry_id)
        .where(LISTING.c.source == source, ENTRY.c.removed_at.is_(None)))
    listings = {(r[1], r[2]): ExistingListing(r[0], r[1], r[2], r[3], r[4], as_utc(r[5]), r[6] is not None)
                for r in rows}
    return active, listings


async def next_entry_id(engine: AsyncEngine) -> int:
    """The id the next entry will most likely get (checked again by :func:`reserve_ids`)."""
    async with engine.connect() as conn:
        return (await conn.scalar(select(func.max(ENTRY.c.id))) or 0) + 1


async def reserve_ids(conn: AsyncConnection, import_id: int, count: int) -> list[int]:
    """Ids for the new entries, taken inside the caller's transaction and safe from other writers until it ends."""
    # The first statement writes, so SQLite's write lock is held from here on and the highest id cannot move.
    await conn.execute(update(IMPORT).where(IMPORT.c.id == import_id).values(status="writing"))
    if conn.dialect.name == "sqlite":
        # The plate index takes its rows in random order: with SQLite's default 2 MB page cache each insert
        # would re-read pages. The pages are only allocated as used, and released when the connection resets.
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    else:
        # Manual additions wait the few seconds until commit; the id range stays ours.
        await conn.exec_driver_sql("LOCK TABLE hotlist_entry IN SHARE ROW EXCLUSIVE MODE")
    first_id = (await conn.scalar(select(func.max(ENTRY.c.id))) or 0) + 1
    return list(range(first_id, first_id + count))


@dataclass(slots=True)
class NewRows:
    """The new entries' rows, built before the transaction (in a thread) so it holds the write lock briefly."""

    entries: list[tuple]                           # ENTRY_COLUMNS without the id, in plan.new_entries order
    more_listings: list[tuple[int, ImportRecord]]  # (position, record): listings after an entry's first
    first_listings: list[tuple[int, str, int, object]]  # (position, case, priority, expiry) where they differ
    stamp: Callable[[datetime | None], object]


def new_rows(plan: ImportPlan, source: str, now: datetime, dialect: str) -> NewRows:
    stamp = _sqlite_time if dialect == "sqlite" else _same
    created = stamp(now)
    entries: list[tuple] = []
    more: list[tuple[int, ImportRecord]] = []
    firsts: list[tuple[int, str, int, object]] = []
    for position, new in enumerate(plan.new_entries):
        r = new.first
        if new.more is None:
            priority, expires_at = listing_priority(r), r.expires_at
        else:
            priority, expires_at = new.priority, new.expires_at
            firsts.append((position, r.case_number, listing_priority(r), r.expires_at))
            more.extend((position, rec) for rec in new.listings.values() if rec is not r)
        entries.append((r.plate, r.state, r.category, source, r.case_number, r.justification, priority,
                        stamp(expires_at), r.vehicle_year, r.vehicle_make, r.vehicle_model, r.vehicle_color,
                        r.vehicle_type, r.subject, created))
    return NewRows(entries, more, firsts, stamp)


async def apply_plan(conn: AsyncConnection, plan: ImportPlan, rows: NewRows, new_ids: list[int], *, source: str,
                     import_id: int, now: datetime, removed_reason: str) -> Applied:
    """Write the plan inside the caller's transaction (after :func:`reserve_ids`); nothing is visible until it
    commits."""
    sqlite = conn.dialect.name == "sqlite"
    stamp = rows.stamp
    if sqlite:
        # The write lock is ours, so SQLite numbers the rows on from the highest id: exactly new_ids. Checked.
        await _insert(conn, "hotlist_entry", ENTRY_COLUMNS[1:], rows.entries)
        if new_ids and await conn.scalar(select(func.max(ENTRY.c.id))) != new_ids[-1]:
            raise RuntimeError("hot-list entry ids moved during the import")
    else:
        await _insert(conn, "hotlist_entry", ENTRY_COLUMNS,
                      [(entry_id, *row) for entry_id, row in zip(new_ids, rows.entries, strict=True)])
    if new_ids:
        # Most new entries have one listing, the same as the entry: the database copies it, which is several
        # times faster than binding a second million rows from Python.
        await conn.execute(text(
            "INSERT INTO hotlist_listing (entry_id, source, case_number, justification, priority, expires_at, "
            "import_id) SELECT id, source, case_number, justification, priority, expires_at, :import_id "
            "FROM hotlist_entry WHERE id BETWEEN :first AND :last"),
            {"import_id": import_id, "first": new_ids[0], "last": new_ids[-1]})
    first_listings = [{"e": new_ids[pos], "c": case, "p": p, "x": x} for pos, case, p, x in rows.first_listings]
    listing_rows = [_listing_row(new_ids[pos], source, rec, import_id, stamp) for pos, rec in rows.more_listings]
    if first_listings:  # entries with several listings: the first listing's own priority and expiry
        await conn.execute(
            update(LISTING).where(LISTING.c.entry_id == bindparam("e"), LISTING.c.case_number == bindparam("c"))
            .values(priority=bindparam("p"), expires_at=bindparam("x")), first_listings)
    listing_rows.extend(_listing_row(entry_id, source, rec, import_id, stamp) for entry_id, rec in plan.new_listings)
    await _insert(conn, "hotlist_listing", LISTING_COLUMNS, listing_rows)
    if new_ids and not sqlite:
        await conn.execute(text("SELECT setval(pg_get_serial_sequence('hotlist_entry', 'id'), "
                                "greatest(:top, (SELECT max(id) FROM hotlist_entry)))"), {"top": new_ids[-1]})
    if plan.changed_listings:
        await conn.execute(
            update(LISTING).where(LISTING.c.id == bindparam("listing_id"))
            .values(justification=bindparam("j"), priority=bindparam("p"), expires_at=bindparam("x"),
                    import_id=bindparam("i")),
            [{"listing_id": old.id, "j": rec.justification, "p": listing_priority(rec), "x": rec.expires_at,
              "i": import_id} for old, rec in plan.changed_listings])
    for chunk in _chunks([old.id for old in plan.dropped_listings]):
        await conn.execute(LISTING.delete().where(LISTING.c.id.in_(chunk)))
    removed: list[tuple[int, str]] = []
    refreshed: list[int] = []
    for chunk in _chunks(sorted(plan.touched_entries)):
        orphans = list(await conn.execute(
            select(ENTRY.c.id, ENTRY.c.plate).where(
                ENTRY.c.id.in_(chunk), ENTRY.c.removed_at.is_(None),
                ~exists().where(LISTING.c.entry_id == ENTRY.c.id))))
        gone = {entry_id for entry_id, _ in orphans}
        if gone:
            await conn.execute(update(ENTRY).where(ENTRY.c.id.in_(gone))
                               .values(removed_at=now, removed_reason=removed_reason))
        removed.extend((entry_id, plate) for entry_id, plate in orphans)
        kept = [entry_id for entry_id in chunk if entry_id not in gone]
        if kept:
            await _recompute(conn, kept)
            refreshed.extend(kept)
    return Applied(new_ids, removed, refreshed)


async def _recompute(conn: AsyncConnection, entry_ids: Sequence[int]) -> None:
    """An entry is as urgent as its most urgent listing and matches while any listing does."""
    mine = LISTING.c.entry_id == ENTRY.c.id
    await conn.execute(update(ENTRY).where(ENTRY.c.id.in_(entry_ids), ENTRY.c.removed_at.is_(None)).values(
        priority=select(func.min(LISTING.c.priority)).where(mine).scalar_subquery(),
        expires_at=case((exists().where(and_(mine, LISTING.c.expires_at.is_(None))), None),
                        else_=select(func.max(LISTING.c.expires_at)).where(mine).scalar_subquery())))


def _listing_row(entry_id: int, source: str, rec: ImportRecord, import_id: int, stamp) -> tuple:  # noqa: ANN001
    return (entry_id, source, rec.case_number, rec.justification, listing_priority(rec), stamp(rec.expires_at),
            import_id)


async def _insert(conn: AsyncConnection, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows at the driver's full speed: COPY on PostgreSQL, one executemany on SQLite. The rows bypass
    SQLAlchemy's types, so datetimes must already be in the database's own form (see :func:`_sqlite_time`)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(table, records=rows, columns=list(columns))
    else:
        marks = ", ".join("?" * len(columns))
        await conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _sqlite_time(value: datetime | None) -> str | None:
    """A UTC time as SQLAlchemy's SQLite DateTime stores it (what :class:`server.db.UtcDateTime` would bind)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _same(value: datetime | None) -> datetime | None:
    return value


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start:start + ID_CHUNK]
