"""Hot-list imports: a source's file parsed, planned, written to the database in one transaction, then to the match
index; open hits on entries that disappeared are withdrawn at once.

Matching never sees a half-loaded list. The database commits every change of an import at once; the index then
gains the new entries and loses the removed ones, while entries present before and after are never touched, so a
plate listed in the old and the new list matches throughout, and a removed plate raises no hit in the moment
between the commit and its removal from the index (``raise_hits`` checks candidates against the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING

from sqlalchemy import func, select, update

from server.audit.service import Actor
from server.db import as_utc, utcnow
from server.errors import ApiError, bad_request, not_found
from server.hits.withdrawal import withdraw_expired
from server.hotlist.formats import DEFAULT_SKIP_LIST, FORMATS, normalize_skip_list, parse
from server.hotlist.import_db import IMPORT, Applied, NewEntryStage, apply_plan, load_state, reserve_first_id
from server.hotlist.import_plan import ImportCounts, ImportPlan, ImportPlanner, NewEntry, listing_priority
from server.hotlist.index import BulkCommand, IndexedEntry, encode_fields, pack_documents
from server.hotlist.models import SOURCES, HotlistEntry, HotlistImport, HotlistListing
from server.hotlist.schemas import ImportProblem, ImportPublic, SourceStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from server.resources import Resources

log = logging.getLogger(__name__)

#: progress(stage, done, total): stages "reading" (bytes), "writing" and "indexing" (entries)
Progress = Callable[[str, int, int | None], None]
LOCK_SECONDS = 3600
PROGRESS_EVERY = 1 << 16  # lines
LINES_PER_SLICE = 100_000  # lines read at a time; their new entries are written while the next slice is read
PACK_SLICE = 50_000  # new entries packed at a time for the index, the previous slice going to Redis meanwhile


class ImportRefused(ValueError):
    """The import cannot start: unknown source or format, or another import of that source is running."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class _GcPause:
    """Nested pauses of the garbage collector from any thread; it comes back on, if it was on, with the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


#: No cyclic garbage collection while an import runs: with a million live records the collector walked them over
#: and over, and planning took four times as long. Nothing an import builds is cyclic; the pause lasts seconds.
gc_paused = _GcPause()


def _quiet(_stage: str, _done: int, _total: int | None) -> None:
    return None


class ImportService:
    def __init__(self, res: Resources) -> None:
        self.res = res

    def skip_list(self) -> frozenset[str]:
        extra = [p for p in self.res.settings.hotlist_skip_extra.split(",") if p.strip()]
        return DEFAULT_SKIP_LIST | normalize_skip_list(extra)

    async def run(self, data: IO[bytes], *, source: str, fmt: str, replace: bool, actor: Actor,
                  size: int | None = None, filename: str | None = None, progress: Progress = _quiet) -> ImportPublic:
        """Import one file. ``replace``: the file is the source's whole list, and what it no longer lists goes."""
        if source not in SOURCES:
            raise ImportRefused("unknown_source", f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        if fmt not in FORMATS:
            raise ImportRefused("unknown_format", f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        lock = self.res.redis.lock(f"alpr:hl:import:{source}", timeout=LOCK_SECONDS, blocking_timeout=0)
        if not await lock.acquire():
            raise ImportRefused("import_running", f"an import of {source} is running; try again when it ends")
        try:
            with gc_paused():
                try:
                    summary = await self._run_locked(data, source, fmt, replace, size, filename, actor.id, progress)
                except Exception as exc:
                    await self.res.audit.record(actor, "hotlist_import_failed", details={
                        "source": source, "format": fmt, "replace": replace, "filename": filename,
                        "error": f"{type(exc).__name__}: {exc}"[:500]})
                    raise
        finally:
            await lock.release()
        # A hot-list change is an access the audit trail accounts for (policy F.5), whoever or whatever made it.
        await self.res.audit.record(actor, "hotlist_import", subject=f"hotlist_import:{summary.id}", details={
            "source": source, "format": fmt, "replace": replace, "filename": filename,
            **{k: getattr(summary, k) for k in ("lines", "imported", "merged", "updated", "unchanged", "delisted",
                                                "removed", "skipped", "expired", "bad", "refused")}})
        return summary

    async def _run_locked(self, data: IO[bytes], source: str, fmt: str, replace: bool, size: int | None,
                          filename: str | None, actor_id: int | None, progress: Progress) -> ImportPublic:
        async with self.res.sessions() as session:
            run = HotlistImport(source=source, format=fmt, filename=filename, full_refresh=replace,
                                started_by=actor_id)
            session.add(run)
            await session.commit()
            import_id = run.id
        assert import_id is not None
        counts = ImportCounts()
        try:
            async with self.res.engine.connect() as conn:
                active, listings = await load_state(conn, source)
            planner = ImportPlanner(now=utcnow(), active=active, listings=listings, full_refresh=replace)
            counts = planner.counts
            del active, listings
            results = parse(fmt, _counted(data, size, progress), source, skip_list=self.skip_list())
            applied = await self._write(planner, results, import_id, source, progress)
            await self._index_changes(applied, progress)
        except Exception as exc:
            await self._failed(import_id, counts, exc)
            raise
        if applied.removed:
            await withdraw_expired(self.res)  # tells officers on those cars now, not at the next sweep
        log.info("hot-list import %d of %s done", import_id, source, extra=_count_columns(counts))
        return await self.get(import_id)

    async def _write(self, planner: ImportPlanner, results: Iterable, import_id: int, source: str,
                     progress: Progress) -> Applied:
        """Read the file, then commit its plan in one transaction (:meth:`_commit`).

        The file is read a slice of lines at a time in a thread, each slice's new entries staged while the next is
        read, so the transaction holds the database's write lock only while it writes.
        """
        async with self.res.engine.connect() as conn:
            stage = NewEntryStage(conn, source, utcnow())
            try:
                await stage.open()
                await _read_into(stage, _Feed(planner, results, stage))
                await conn.commit()  # the stage's own writes: nothing the import changes is visible yet
                plan = planner.finish()
                applied, new_ids, sent = await self._commit(conn, stage, plan, import_id, progress)
            finally:
                await stage.close()
        # A rebuild that began while the transaction was open read the database without these entries.
        index = self.res.index
        missing = await index.versions() - sent
        if missing:
            await self._send_new(plan.new_entries, new_ids, source, missing)
        await index.drop_if_dead(sent)
        return applied

    async def _commit(self, conn: AsyncConnection, stage: NewEntryStage, plan: ImportPlan, import_id: int,
                      progress: Progress) -> tuple[Applied, range, set[int]]:
        """The import's transaction: the staged entries and the rest of the plan written, the new entries indexed
        meanwhile (while the database copies rows and builds indexes, work that leaves the interpreter free). Until
        the commit no read can raise a hit on them, because raise_hits keeps only candidates the database lists.
        Returns what was applied, the new entries' ids and the index versions they were sent to."""
        index, source = self.res.index, stage.source
        progress("writing", 0, stage.count)
        sent: set[int] = set()
        new_ids = range(0)
        try:
            async with conn.begin():
                first_id = await reserve_first_id(conn, import_id)
                sent = await index.versions()
                new_ids = range(first_id, first_id + stage.count)
                indexing = asyncio.ensure_future(self._send_new(plan.new_entries, new_ids, source, sent))
                try:
                    await stage.write(first_id)
                    progress("writing", stage.count, stage.count)
                    applied = await apply_plan(conn, plan, stage, first_id, import_id=import_id, now=utcnow(),
                                               removed_reason=f"no longer listed by {source} (import {import_id})")
                finally:
                    await asyncio.gather(indexing, return_exceptions=True)
                indexing.result()
                plan.counts.removed = len(applied.removed)
                await conn.execute(update(IMPORT).where(IMPORT.c.id == import_id).values(
                    status="succeeded", finished_at=utcnow(), **_count_columns(plan.counts)))
        except BaseException:
            if sent and new_ids:  # rolled back: the new entries leave the index
                with contextlib.suppress(Exception):
                    await index.remove_many((entry_id, new.first.plate)
                                            for entry_id, new in zip(new_ids, plan.new_entries, strict=True))
            raise
        return applied, new_ids, sent

    async def _send_new(self, entries: list[NewEntry], ids: Sequence[int], source: str, versions: set[int]) -> None:
        """Index new entries: a slice is packed (in a thread) while the one before it is sent."""
        if not (entries and versions):
            return
        sending: asyncio.Future[None] | None = None
        try:
            for start in range(0, len(entries), PACK_SLICE):
                stop = start + PACK_SLICE
                commands = await asyncio.to_thread(_pack_new, entries[start:stop], ids[start:stop], source,
                                                   versions)
                if sending is not None:
                    await sending
                sending = asyncio.ensure_future(self.res.index.send_bulk(commands))
            if sending is not None:
                await sending
        finally:
            if sending is not None and not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)

    async def _index_changes(self, applied: Applied, progress: Progress) -> None:
        """Bring the index to the committed changes of existing entries; on failure rebuild it from the
        database."""
        index = self.res.index
        try:
            total = len(applied.refreshed) + len(applied.removed)
            progress("indexing", 0, total)
            if applied.refreshed:
                async with self.res.sessions() as session:
                    for start in range(0, len(applied.refreshed), 5000):
                        chunk = applied.refreshed[start:start + 5000]
                        rows = await session.scalars(select(HotlistEntry).where(HotlistEntry.id.in_(chunk)))
                        await index.put_many(IndexedEntry.from_model(e) for e in rows)
            if applied.removed:
                await index.remove_many(applied.removed)
            progress("indexing", total, total)
        except Exception:
            log.exception("updating the match index after an import failed; rebuilding it from the database")
            async with self.res.sessions() as session:
                await index.rebuild(session)

    async def _failed(self, import_id: int, counts: ImportCounts, exc: BaseException) -> None:
        try:
            async with self.res.engine.begin() as conn:
                await conn.execute(update(IMPORT).where(IMPORT.c.id == import_id).values(
                    status="failed", finished_at=utcnow(), error=f"{type(exc).__name__}: {exc}"[:2000],
                    **_count_columns(counts)))
        except Exception:
            log.exception("could not record the failure of hot-list import %d", import_id)

    async def upload(self, chunks: AsyncIterator[bytes], *, source: str, fmt: str, replace: bool,
                     actor: Actor) -> ImportPublic:
        """Import a request body: spooled to a temporary file (to disk past 16 MB) up to the configured limit."""
        limit = self.res.settings.hotlist_import_max_mb << 20
        with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too_large", f"the file is over the {limit >> 20} MB limit "
                                                     "(ALPR_HOTLIST_IMPORT_MAX_MB); split it or use the watched folder")
                spool.write(chunk)
            if size == 0:
                raise bad_request("body: send the file as the request body")
            spool.seek(0)
            try:
                return await self.run(spool, source=source, fmt=fmt, replace=replace, size=size, actor=actor)
            except ImportRefused as exc:
                raise ApiError(409 if exc.code == "import_running" else 422, exc.code, str(exc)) from exc

    async def get(self, import_id: int) -> ImportPublic:
        async with self.res.sessions() as session:
            run = await session.get(HotlistImport, import_id)
        if run is None:
            raise not_found(f"hot-list import {import_id}")
        return import_public(run)

    async def history(self, source: str | None, limit: int) -> list[ImportPublic]:
        query = select(HotlistImport).order_by(HotlistImport.id.desc()).limit(limit)
        if source:
            query = query.where(HotlistImport.source == source)
        async with self.res.sessions() as session:
            return [import_public(r) for r in await session.scalars(query)]

    async def sources(self) -> list[SourceStatus]:
        """Each source: entries it lists now, and its last good full refresh (stale past the configured age)."""
        stale_hours = self.res.settings.hotlist_stale_hours
        async with self.res.sessions() as session:
            listed = dict((await session.execute(
                select(HotlistListing.source, func.count(func.distinct(HotlistListing.entry_id)))
                .join(HotlistEntry, HotlistEntry.id == HotlistListing.entry_id)
                .where(HotlistEntry.removed_at.is_(None)).group_by(HotlistListing.source))).all())
            out = []
            for source in SOURCES:
                last = await session.scalar(select(HotlistImport).where(HotlistImport.source == source)
                                            .order_by(HotlistImport.id.desc()).limit(1))
                good = await session.scalar(select(func.max(HotlistImport.finished_at)).where(
                    HotlistImport.source == source, HotlistImport.status == "succeeded",
                    HotlistImport.full_refresh.is_(True)))
                good = as_utc(good)
                fed = last is not None or good is not None
                stale = fed and (good is None or (utcnow() - good).total_seconds() > stale_hours * 3600)
                out.append(SourceStatus(source=source, entries=listed.get(source, 0), last_refresh_at=good,
                                        last_import=import_public(last) if last else None, stale=stale,
                                        stale_after_hours=stale_hours))
        return out


def import_public(run: HotlistImport) -> ImportPublic:
    return ImportPublic(
        id=run.id, source=run.source, format=run.format, replace=run.full_refresh, status=run.status,
        started_at=as_utc(run.started_at), finished_at=as_utc(run.finished_at), lines=run.lines,
        imported=run.imported, merged=run.merged, updated=run.updated, unchanged=run.unchanged,
        delisted=run.delisted, removed=run.removed, skipped=run.skipped, expired=run.expired, bad=run.bad,
        refused=dict(run.refused or {}), errors=[ImportProblem(**p) for p in run.problems or []],
        filename=run.filename, error=run.error)


class _Feed:
    """The file's records planned a slice of lines at a time (:meth:`next` runs in a thread)."""

    def __init__(self, planner: ImportPlanner, results: Iterable, stage: NewEntryStage) -> None:
        self._planner, self._results, self._stage = planner, iter(results), stage
        self._done = False

    def next(self) -> list[object] | None:
        """The rows (:meth:`NewEntryStage.values`) of the new entries the next slice of lines brought, maybe none,
        or None once the file is read."""
        if self._done:
            return None
        new_entries = self._planner.new_entries
        start = len(new_entries)
        add = self._planner.add
        n = 0
        for n, result in enumerate(itertools.islice(self._results, LINES_PER_SLICE), 1):  # noqa: B007
            add(result)
        self._done = n < LINES_PER_SLICE
        return self._stage.values(new_entries[start:])


async def _read_into(stage: NewEntryStage, feed: _Feed) -> None:
    """Read the whole file, staging each slice's new entries while the next slice is read (the database takes many
    rows per statement, so the two threads seldom wait for each other)."""
    reading = asyncio.ensure_future(asyncio.to_thread(feed.next))
    try:
        while (values := await reading) is not None:
            reading = asyncio.ensure_future(asyncio.to_thread(feed.next))
            await stage.add(values)
    finally:
        await asyncio.gather(reading, return_exceptions=True)


def _counted(data: IO[bytes], size: int | None, progress: Progress) -> Iterator[bytes]:
    """The file's lines, reporting bytes read as it goes."""
    done = 0
    progress("reading", 0, size)
    for n, line in enumerate(data, 1):
        done += len(line)
        if n % PROGRESS_EVERY == 0:
            progress("reading", done, size)
        yield line
    progress("reading", done, size)


def _new_documents(entries: list[NewEntry], ids: Sequence[int], source: str) -> Iterator[tuple[str, bytes]]:
    """(plate, index document) of each new entry, encoded straight from its fields."""
    timestamps: dict[datetime, float] = {}  # a list's expiry dates repeat: a few hundred distinct in a million
    for entry_id, new in zip(ids, entries, strict=True):
        r = new.first
        if new.more is None:
            priority, expires = listing_priority(r), r.expires_at
        else:
            priority, expires = new.priority, new.expires_at
        stamp = None
        if expires is not None:
            stamp = timestamps.get(expires)
            if stamp is None:
                stamp = timestamps[expires] = expires.timestamp()
        yield r.plate, encode_fields((entry_id, r.plate, r.state, r.category, source, r.case_number, priority, stamp,
                                      r.vehicle_year, r.vehicle_make, r.vehicle_model, r.vehicle_color,
                                      r.vehicle_type, r.subject))


def _pack_new(entries: list[NewEntry], ids: Sequence[int], source: str, versions: set[int]) -> list[BulkCommand]:
    return pack_documents(_new_documents(entries, ids, source), versions)


def _count_columns(counts: ImportCounts) -> dict[str, object]:
    return {"lines": counts.lines, "imported": counts.imported, "merged": counts.merged, "updated": counts.updated,
            "unchanged": counts.unchanged, "delisted": counts.delisted, "removed": counts.removed,
            "skipped": counts.skipped, "expired": counts.expired, "bad": counts.bad,
            "refused": dict(sorted(counts.refused.items())),
            "problems": [{"line": p.line, "detail": p.detail} for p in counts.errors]}
