"""An import plan read from and written to the database: one transaction, bulk statements, fast enough for a list
the size of NCIC's on SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain

from sqlalchemy import and_, bindparam, case, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db import as_utc
from server.hotlist.formats import ImportRecord
from server.hotlist.import_plan import EntryKey, ExistingListing, ImportPlan, NewEntry, listing_priority
from server.hotlist.models import HotlistEntry, HotlistImport, HotlistListing

ENTRY = HotlistEntry.__table__
LISTING = HotlistListing.__table__
IMPORT = HotlistImport.__table__
PLATE_INDEX = next(index for index in ENTRY.indexes if index.name == "ix_hotlist_entry_plate")
ENTRY_COLUMNS = ("id", "plate", "state", "category", "source", "case_number", "justification", "priority",
                 "expires_at", "vehicle_year", "vehicle_make", "vehicle_model", "vehicle_color", "vehicle_type",
                 "subject", "created_at")
ROW_WIDTH = len(ENTRY_COLUMNS) - 1  # a new entry's row: every column but the id, which the database assigns
LISTING_COLUMNS = ("entry_id", "source", "case_number", "justification", "priority", "expires_at", "import_id")
IMPORT_CACHE_KIB = 512 * 1024
SQLITE_ROWS_PER_INSERT = 2000
STAGE = "hotlist_import_stage"  # a temporary table, on the import's own connection
ID_CHUNK = 500  # ids per IN (...): well under SQLite's and asyncpg's parameter limits


@dataclass(slots=True)
class Applied:
    """What the transaction changed in existing entries, for the match index."""

    removed: list[tuple[int, str]]   # (entry id, plate): entries left with no listing, now removed
    refreshed: list[int]             # existing entries still listed whose listings changed


async def load_state(conn: AsyncConnection, source: str,
                     ) -> tuple[dict[EntryKey, int], dict[tuple[int, str], ExistingListing]]:
    """Every entry the database lists, by key (the oldest when a key is listed twice), and the importing source's
    listings on them, by (entry, case number).

    A refresh of an NCIC-sized list loads a million of each: plain SQL (no per-row type processing), expiry times
    parsed once per distinct value, listings made as bare tuples. 2.7-2.9 s here against 4.3-5.0 s through the ORM's
    Core queries and a frozen dataclass (bench/README.md)."""
    rows = (await conn.execute(text(
        "SELECT id, plate, state, category FROM hotlist_entry WHERE removed_at IS NULL ORDER BY id DESC"))).all()
    # Newest first, so the oldest of a repeated key is written last and wins.
    active: dict[EntryKey, int] = {(plate, state, category): entry_id for entry_id, plate, state, category in rows}
    del rows
    rows = (await conn.execute(text(
        "SELECT l.id, l.entry_id, l.case_number, l.justification, l.priority, l.expires_at, l.import_id "
        "FROM hotlist_listing l JOIN hotlist_entry e ON e.id = l.entry_id "
        "WHERE l.source = :source AND e.removed_at IS NULL"), {"source": source})).all()
    parse = _sqlite_stored_time if conn.dialect.name == "sqlite" else as_utc
    times: dict[object, datetime | None] = {None: None}  # a list's expiry dates repeat: a few hundred distinct
    listings: dict[tuple[int, str], ExistingListing] = {}
    make = tuple.__new__  # ExistingListing(...) without its Python-level __new__
    for listing_id, entry_id, case_number, justification, priority, expires, import_id in rows:
        when = times.get(expires, _UNSEEN)
        if when is _UNSEEN:
            when = times[expires] = parse(expires)
        listings[entry_id, case_number] = make(ExistingListing, (listing_id, entry_id, case_number, justification,
                                                                 priority, when, import_id is not None))
    return active, listings


_UNSEEN = object()


def _sqlite_stored_time(value: str) -> datetime:
    """A time as SQLAlchemy's SQLite DateTime stores it ('2026-12-05 17:51:19.421925', UTC), read back."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


async def reserve_first_id(conn: AsyncConnection, import_id: int) -> int:
    """The id the import's first new entry gets, taken inside the caller's transaction; the ids from it on are safe
    from other writers until the transaction ends."""
    # The first statement writes, so SQLite's write lock is held from here on and the highest id cannot move.
    await conn.execute(update(IMPORT).where(IMPORT.c.id == import_id).values(status="writing"))
    if conn.dialect.name == "sqlite":
        # Indexes take rows in random order: with SQLite's default 2 MB page cache each insert would re-read
        # pages. The pages are only allocated as used, and freed when the import closes the connection.
        await conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    else:
        # Manual additions wait the few seconds until commit; the id range stays ours.
        await conn.exec_driver_sql("LOCK TABLE hotlist_entry IN SHARE ROW EXCLUSIVE MODE")
    return (await conn.scalar(select(func.max(ENTRY.c.id))) or 0) + 1


class NewEntryStage:
    """An import's new entries, staged while the file is read, then written in the import's transaction.

    On SQLite they go into a temporary table a slice of the file at a time, while the next slice is read. Writing
    it takes no lock on the database, which has one writer at a time and detections to write; the transaction then
    copies them over in one statement, so it holds the write lock seconds less than inserting them would. On
    PostgreSQL they wait in memory and are copied in (COPY) by the transaction.

    Entry n gets id ``first_id + n``. Each row is as the entry's first record describes it; :func:`apply_plan` gives
    an entry that later records of the file merged into the priority and expiry of all its listings.
    """

    def __init__(self, conn: AsyncConnection, source: str, now: datetime) -> None:
        self.conn, self.source = conn, source
        self.sqlite = conn.dialect.name == "sqlite"
        self.stamp: Callable[[datetime | None], object] = _sqlite_time if self.sqlite else _same
        self.count = 0
        self._created = self.stamp(now)
        self._stamps: dict[datetime, object] = {}  # a list's expiry dates repeat: a few hundred in a million
        self._held: list[list[object]] = []  # PostgreSQL: the slices' rows until the transaction

    async def open(self) -> None:
        if self.sqlite:
            # In memory: a file would be written and read back. (Setting it drops the connection's temporary
            # tables, of which there are none.)
            await self.conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            await self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGE}")
            await self.conn.exec_driver_sql(f"CREATE TEMP TABLE {STAGE} ({', '.join(ENTRY_COLUMNS[1:])})")

    def values(self, entries: Sequence[NewEntry]) -> list[object]:
        """The entries' rows (ENTRY_COLUMNS without the id), one after another in one flat list. No I/O: built in
        the thread that reads the file."""
        values: list[object] = []
        add = values.extend
        stamps, stamp, created, source = self._stamps, self.stamp, self._created, self.source
        for new in entries:
            r = new.first
            expires = r.expires_at
            if expires is not None:
                when = stamps.get(expires)
                if when is None:
                    when = stamps[expires] = stamp(expires)
                expires = when
            add((r.plate, r.state, r.category, source, r.case_number, r.justification, listing_priority(r), expires,
                 r.vehicle_year, r.vehicle_make, r.vehicle_model, r.vehicle_color, r.vehicle_type, r.subject,
                 created))
        return values

    async def add(self, values: list[object]) -> None:
        """Stage the next new entries, given by their :meth:`values`."""
        if not values:
            return
        self.count += len(values) // ROW_WIDTH
        if self.sqlite:
            await insert_rows(self.conn, f"temp.{STAGE}", ENTRY_COLUMNS[1:], values)
        else:
            self._held.append(values)

    async def write(self, first_id: int) -> None:
        """Write every staged entry, inside the transaction, after :func:`reserve_first_id` gave ``first_id``."""
        if not self.count:
            return
        if not self.sqlite:
            rows: list[object] = []
            entry_id = first_id
            for values in self._held:
                for start in range(0, len(values), ROW_WIDTH):
                    rows.append(entry_id)
                    rows.extend(values[start:start + ROW_WIDTH])
                    entry_id += 1
            await insert_rows(self.conn, "hotlist_entry", ENTRY_COLUMNS, rows)
            return
        # Rows put into the plate index one by one, in random order, cost twice what building it afresh does: when
        # they outnumber those already there (a first import, a list far larger than the one there) it is dropped
        # and made again. Inside the transaction: readers keep the old one until the commit (WAL), and a rollback
        # brings it back. Not on PostgreSQL, whose DROP INDEX would lock out readers until the commit.
        rebuild = self.count >= first_id - 1
        if rebuild:
            await self.conn.run_sync(PLATE_INDEX.drop)
        # The write lock is ours, so SQLite numbers the rows on from the highest id: first_id on, in file order.
        columns = ", ".join(ENTRY_COLUMNS[1:])
        await self.conn.exec_driver_sql(f"INSERT INTO hotlist_entry ({columns}) SELECT {columns} FROM "
                                        f"temp.{STAGE} ORDER BY rowid")
        if rebuild:
            await self.conn.run_sync(PLATE_INDEX.create)
        if await self.conn.scalar(select(func.max(ENTRY.c.id))) != first_id + self.count - 1:
            raise RuntimeError("hot-list entry ids moved during the import")

    async def close(self) -> None:
        """Let the staged rows go. On SQLite the connection goes too, with its temporary table and the large page
        cache of the write (closing it is faster than dropping the table)."""
        self._held.clear()
        if self.sqlite:
            await self.conn.invalidate()


async def apply_plan(conn: AsyncConnection, plan: ImportPlan, stage: NewEntryStage, first_id: int, *,
                     import_id: int, now: datetime, removed_reason: str) -> Applied:
    """Write the rest of the plan inside the caller's transaction, once ``stage`` has written every new entry from
    ``first_id`` on; nothing is visible until it commits."""
    stamp, source = stage.stamp, stage.source
    new_ids = range(first_id, first_id + len(plan.new_entries))
    if new_ids:
        # Most new entries have one listing, the same as the entry: the database copies it, which is several
        # times faster than binding a second million rows from Python.
        await conn.execute(text(
            "INSERT INTO hotlist_listing (entry_id, source, case_number, justification, priority, expires_at, "
            "import_id) SELECT id, source, case_number, justification, priority, expires_at, :import_id "
            "FROM hotlist_entry WHERE id BETWEEN :first AND :last"),
            {"import_id": import_id, "first": new_ids[0], "last": new_ids[-1]})
    merged = [(entry_id, new.more) for entry_id, new in zip(new_ids, plan.new_entries, strict=True) if new.more]
    listing_rows = [_listing_row(entry_id, source, rec, import_id, stamp)
                    for entry_id, more in merged for rec in more.values()]  # type: ignore[union-attr]
    listing_rows.extend(_listing_row(entry_id, source, rec, import_id, stamp) for entry_id, rec in plan.new_listings)
    await insert_rows(conn, "hotlist_listing", LISTING_COLUMNS, list(chain.from_iterable(listing_rows)))
    for chunk in _chunks([entry_id for entry_id, _ in merged]):  # as urgent as their most urgent listing
        await _recompute(conn, chunk)
    if new_ids and not stage.sqlite:
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
    return Applied(removed, refreshed)


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


async def insert_rows(conn: AsyncConnection, table: str, columns: Sequence[str], values: list[object]) -> None:
    """Insert rows given one after another in one flat list, at the driver's full speed: COPY on PostgreSQL, many
    rows per statement on SQLite. The values bypass SQLAlchemy's types, so datetimes must already be in the
    database's own form (see :func:`_sqlite_time`)."""
    if not values:
        return
    width = len(columns)
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        records = [tuple(values[start:start + width]) for start in range(0, len(values), width)]
        await raw.driver_connection.copy_records_to_table(table, records=records, columns=list(columns))
        return
    # Many rows per statement: binding a row's values costs less than running a statement for it, and the
    # connection's thread lets go of the interpreter once per statement, not once per row (so the threads packing
    # the index meanwhile seldom make it wait).
    per = max(1, min(SQLITE_ROWS_PER_INSERT, _sqlite_max_variables() // width))
    step = per * width
    whole = len(values) - len(values) % step
    if whole:
        await conn.exec_driver_sql(_insert_sql(table, columns, per),
                                   [tuple(values[start:start + step]) for start in range(0, whole, step)])
    if whole < len(values):
        await conn.exec_driver_sql(_insert_sql(table, columns, (len(values) - whole) // width),
                                   tuple(values[whole:]))


def _insert_sql(table: str, columns: Sequence[str], rows: int) -> str:
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"


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


@functools.cache
def _sqlite_max_variables() -> int:
    """How many ? one SQLite statement may hold (32,766 since SQLite 3.32, 999 before)."""
    return sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
