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
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from sqlalchemy import func, select, update

from server.audit.service import Actor
from server.db import as_utc, utcnow
from server.errors import ApiError, bad_request, not_found
from server.hits.withdrawal import withdraw_expired
from server.hotlist.formats import DEFAULT_SKIP_LIST, FORMATS, normalize_skip_list, parse
from server.hotlist.import_db import (
    IMPORT,
    Applied,
    NewRows,
    apply_plan,
    load_state,
    new_rows,
    next_entry_id,
    reserve_ids,
)
from server.hotlist.import_plan import ImportCounts, ImportPlan, ImportPlanner, listing_priority
from server.hotlist.index import BulkCommand, IndexedEntry, pack_puts
from server.hotlist.models import SOURCES, HotlistEntry, HotlistImport, HotlistListing
from server.hotlist.schemas import ImportProblem, ImportPublic, SourceStatus

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)

#: progress(stage, done, total): stages "reading" (bytes), "writing" and "indexing" (entries)
Progress = Callable[[str, int, int | None], None]
LOCK_SECONDS = 3600
PROGRESS_EVERY = 1 << 16  # lines


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
            del active, listings
            # Parsing a million lines takes seconds of CPU: a thread keeps the server's alerts flowing meanwhile.
            results = parse(fmt, _counted(data, size, progress), source, skip_list=self.skip_list())
            dialect = self.res.engine.dialect.name
            # The index commands are packed here too, with the ids the entries will most likely get: packing
            # while the database writes would slow both (they would take turns at the interpreter).
            first_id = await next_entry_id(self.res.engine)
            versions = await self.res.index.versions()

            def prepare() -> tuple[ImportPlan, NewRows, Packed]:
                plan = _plan(planner, results)
                ids = list(range(first_id, first_id + len(plan.new_entries)))
                return plan, new_rows(plan, source, utcnow(), dialect), _pack_new(plan, ids, source, versions)

            plan, rows, packed = await asyncio.to_thread(prepare)
            counts = plan.counts
            progress("writing", 0, len(plan.new_entries))
            applied = await self._write(plan, rows, packed, import_id, source)
            counts.removed = len(applied.removed)
            progress("writing", len(plan.new_entries), len(plan.new_entries))
            await self._index_changes(applied, progress)
        except Exception as exc:
            await self._failed(import_id, counts, exc)
            raise
        if applied.removed:
            await withdraw_expired(self.res)  # tells officers on those cars now, not at the next sweep
        log.info("hot-list import %d of %s done", import_id, source, extra=_count_columns(counts))
        return await self.get(import_id)

    async def _write(self, plan: ImportPlan, rows: NewRows, packed: Packed, import_id: int, source: str) -> Applied:
        """Commit the plan; the new entries go into the match index while the database writes them."""
        index = self.res.index
        counts = plan.counts
        sent: set[int] = set()
        new_ids: list[int] = []
        try:
            async with self.res.engine.begin() as conn:
                new_ids = await reserve_ids(conn, import_id, len(plan.new_entries))
                sent = await index.versions()
                if (new_ids[:1], sent) != (packed.ids[:1], packed.versions):  # an entry added meanwhile, a rebuild
                    packed = await asyncio.to_thread(_pack_new, plan, new_ids, source, sent)
                # Indexed before the commit, in parallel with the database's work: until the commit no read can
                # raise a hit on them, because raise_hits keeps only candidates the database lists.
                indexing = asyncio.create_task(index.send_bulk(packed.commands))
                try:
                    applied = await apply_plan(conn, plan, rows, new_ids, source=source, import_id=import_id,
                                               now=utcnow(),
                                               removed_reason=f"no longer listed by {source} (import {import_id})")
                finally:
                    await asyncio.gather(indexing, return_exceptions=True)
                indexing.result()
                counts.removed = len(applied.removed)
                await conn.execute(update(IMPORT).where(IMPORT.c.id == import_id).values(
                    status="succeeded", finished_at=utcnow(), **_count_columns(counts)))
        except BaseException:
            if sent and new_ids:  # rolled back: take the new entries out of the index again
                with contextlib.suppress(Exception):
                    await index.remove_many((i, n.first.plate) for i, n in zip(new_ids, plan.new_entries,
                                                                                 strict=True))
            raise
        # A rebuild that began while the transaction was open read the database without these entries.
        missing = await index.versions() - sent
        if missing and new_ids:
            await self._send_new(plan, new_ids, source, missing)
        await index.drop_if_dead(sent)
        return applied

    async def _send_new(self, plan: ImportPlan, new_ids: list[int], source: str, versions: set[int]) -> None:
        if new_ids and versions:
            packed = await asyncio.to_thread(_pack_new, plan, new_ids, source, versions)
            await self.res.index.send_bulk(packed.commands)

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


def _plan(planner: ImportPlanner, results: Iterable) -> ImportPlan:
    add = planner.add
    for result in results:
        add(result)
    return planner.finish()


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


def _new_docs(plan: ImportPlan, ids: list[int], source: str) -> list[IndexedEntry]:
    docs = []
    for entry_id, new in zip(ids, plan.new_entries, strict=True):
        r = new.first
        priority, expires = (listing_priority(r), r.expires_at) if new.more is None else (new.priority,
                                                                                          new.expires_at)
        docs.append(IndexedEntry(entry_id, r.plate, r.state, r.category, source, r.case_number, priority,
                                 expires.timestamp() if expires else None, r.vehicle_year, r.vehicle_make,
                                 r.vehicle_model, r.vehicle_color, r.vehicle_type, r.subject))
    return docs


@dataclass(frozen=True, slots=True)
class Packed:
    """Index commands for the new entries, and the ids and index versions they were packed for."""

    ids: list[int]
    versions: set[int]
    commands: list[BulkCommand]


def _pack_new(plan: ImportPlan, ids: list[int], source: str, versions: set[int]) -> Packed:
    return Packed(ids, versions, pack_puts(_new_docs(plan, ids, source), versions) if versions else [])


def _count_columns(counts: ImportCounts) -> dict[str, object]:
    return {"lines": counts.lines, "imported": counts.imported, "merged": counts.merged, "updated": counts.updated,
            "unchanged": counts.unchanged, "delisted": counts.delisted, "removed": counts.removed,
            "skipped": counts.skipped, "expired": counts.expired, "bad": counts.bad,
            "refused": dict(sorted(counts.refused.items())),
            "problems": [{"line": p.line, "detail": p.detail} for p in counts.errors]}
