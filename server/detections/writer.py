"""Group commit for detection ingest: every request waiting at a moment is stored in one transaction.

A database transaction through SQLAlchemy's async layer costs about a millisecond whatever it holds, so
one per request would cap single-read ingest near a few hundred per second on two cores. One writer task
per process takes all pending requests at once, matches them in one Redis round trip, stores them in one
transaction, publishes their alerts in one pipeline, then answers each. An idle server handles a lone
read at once; under load the groups grow by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from server.auth.principals import CameraPrincipal
from server.db import create_sqlite_writer_engine, utcnow
from server.detections.evidence import seal_images
from server.detections.models import DataKey, Detection, DetectionImage
from server.detections.schemas import IngestResult
from server.detections.validation import CleanDetection
from server.errors import ApiError
from server.hits.raising import Raised, announce, raise_hits
from server.hits.service import HitService
from server.prepared import Prepared

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_GROUP_ITEMS = 2000
DETECTION_INSERT = Prepared(Detection.__table__.insert(), columns=[
    "id", "camera_id", "unit_id", "plate", "state", "confidence", "captured_at", "received_at", "lat", "lon",
    "heading", "vehicle_make", "vehicle_model", "vehicle_color", "vehicle_type", "vehicle_features", "image_kinds"])
IMAGE_INSERT = Prepared(DetectionImage.__table__.insert(),
                        columns=["detection_id", "kind", "content_type", "data", "key_id"])
KEY_INSERT = Prepared(DataKey.__table__.insert(), columns=["id", "kek_id", "wrapped", "created_at"])


def _shutting_down() -> ApiError:
    return ApiError(503, "shutting_down", "the server is shutting down; resend this read to it or another server")


@dataclass
class _Job:
    camera: CameraPrincipal
    items: list[CleanDetection]
    done: asyncio.Future[tuple[list[IngestResult], int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


def _row(c: CleanDetection, camera: CameraPrincipal, received: datetime) -> dict[str, Any]:
    d, v = c.source, c.source.vehicle
    return {
        "id": c.id, "camera_id": camera.camera_id, "unit_id": camera.unit_id, "plate": c.plate, "state": c.state,
        "confidence": d.confidence, "captured_at": d.captured_at, "received_at": received,
        "lat": d.location.lat, "lon": d.location.lon, "heading": d.location.heading,
        "vehicle_make": v.make if v else None, "vehicle_model": v.model if v else None,
        "vehicle_color": v.color if v else None, "vehicle_type": v.type if v else None,
        "vehicle_features": (v.features or None) if v else None, "image_kinds": ",".join(c.images),
    }


def _write_group(conn: Connection, rows: list[dict[str, Any]], images: list[dict[str, Any]],
                 keys: list[dict[str, Any]], matched: list, fold_window: timedelta,
                 ) -> tuple[list[Raised], dict[str, dict[str, Any]]]:
    """The group's whole transaction: its reads, their sealed images and keys, and the hits they raise or fold into."""
    DETECTION_INSERT.many(conn, rows)
    if images:
        KEY_INSERT.many(conn, keys)
        IMAGE_INSERT.many(conn, images)
    return raise_hits(conn, matched, fold_window) if matched else ([], {})


class IngestWriter:
    """This process's single writer of detections, hits and their alerts."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._busy = False
        self._closing = False
        self._sqlite: Engine | None = None
        if res.settings.is_sqlite:
            self._sqlite = create_sqlite_writer_engine(res.settings.effective_database_url)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Finish what was accepted (within drain_seconds), then stop; later submissions get 503."""
        self._closing = True
        deadline = time.monotonic() + drain_seconds
        while (self._busy or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sqlite is not None:
            self._thread.shutdown(wait=True)
            self._sqlite.dispose()
        while not self._queue.empty():  # nobody is left waiting forever
            job = self._queue.get_nowait()
            if not job.done.done():
                job.done.set_exception(_shutting_down())

    async def submit(self, camera: CameraPrincipal, items: list[CleanDetection]) -> tuple[list[IngestResult], int]:
        """Store the reads (or recognise resends); the answer per read, in order, and how many were new."""
        if self._closing:
            raise _shutting_down()
        job = _Job(camera, items)
        await self._queue.put(job)
        return await job.done

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            self._busy = True
            count = len(jobs[0].items)
            while count < MAX_GROUP_ITEMS and not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                count += len(job.items)
            try:
                await self._settle(jobs)
            finally:
                self._busy = False

    async def _settle(self, jobs: list[_Job]) -> None:
        """Answer every job of the group; if the group fails, try its jobs one by one so one bad job fails alone."""
        try:
            outcomes = await self._process(jobs)
        except asyncio.CancelledError:
            for job in jobs:
                if not job.done.done():
                    job.done.set_exception(_shutting_down())
            raise
        except Exception as exc:  # noqa: BLE001 - each waiting request gets the failure, the writer lives on
            if len(jobs) > 1:
                for job in jobs:
                    await self._settle([job])
                return
            log.exception("storing %d detections failed", len(jobs[0].items))
            jobs[0].done.set_exception(exc)
            return
        for job, outcome in zip(jobs, outcomes, strict=True):
            if not job.done.done():
                job.done.set_result(outcome)

    async def _process(self, jobs: list[_Job]) -> list[tuple[list[IngestResult], int]]:
        for attempt in (1, 2):
            try:
                return await self._store(jobs, assume_new=attempt == 1)
            except IntegrityError:
                # Another process stored one of these ids meanwhile; the second pass finds it and answers
                # it as a resend.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def run_in_write_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Other bulk writers (the retention purge) queue here beside ingest groups instead of contending for
        SQLite's write lock, whose busy wait sleeps in whole milliseconds and would show in alert latency."""
        return await self._in_transaction(fn, *args)

    async def _in_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(connection, *args) in one transaction: one thread hand-off on SQLite, run_sync elsewhere."""
        if self._sqlite is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite_transaction, fn, args)
        async with self.res.engine.begin() as conn:
            return await conn.run_sync(fn, *args)

    def _sqlite_transaction(self, fn: Callable[..., T], args: tuple) -> T:
        with self._sqlite.begin() as conn:
            return fn(conn, *args)

    async def _store(self, jobs: list[_Job], assume_new: bool) -> list[tuple[list[IngestResult], int]]:
        res = self.res
        pairs = [(job.camera, c) for job in jobs for c in job.items]
        known: set[str] = set()
        async with res.sessions() as session:
            if not assume_new:
                known = set(await session.scalars(select(Detection.id).where(
                    Detection.id.in_({c.id for _, c in pairs}))))
            fresh: dict[str, tuple[CameraPrincipal, CleanDetection]] = {}
            for camera, c in pairs:
                if c.id not in known and c.id not in fresh:
                    fresh[c.id] = (camera, c)
            new_hits: dict[str, list] = {}
            if fresh:
                received = utcnow()
                rows = [_row(c, camera, received) for camera, c in fresh.values()]
                # Encrypted before they reach the database: no plaintext image is ever stored (policy H.1b).
                images, keys = seal_images(res.keyring, [(c.id, k, ct, data) for _, c in fresh.values()
                                                         for k, (ct, data) in c.images.items()])
                t0 = time.perf_counter()
                matches = await res.index.match_many([(r["plate"], r["state"]) for r in rows], session)
                res.metrics.match_latency.observe(time.perf_counter() - t0)
                matched = [(row, cands) for row, cands in zip(rows, matches, strict=True) if cands]
                raised, first_rows = await self._in_transaction(
                    _write_group, rows, images, keys, matched, timedelta(seconds=res.settings.fold_window_seconds))
                events, new_hits = announce(raised, first_rows)
                res.metrics.detections.inc(len(fresh))
                for r in raised:
                    if r.is_new:
                        res.metrics.hits.labels(r.hit.match_kind).inc()
                # Stored first, then alerted: no one is sent after a car the database does not know about.
                await res.delivery.publish(events)
            old_hits = await HitService(session).hits_for_detections(sorted(known)) if known else {}
        if known:
            res.metrics.duplicates.inc(len(known))
        return [self._answer(job, fresh, new_hits, old_hits) for job in jobs]

    @staticmethod
    def _answer(job: _Job, fresh: dict[str, Any], new_hits: dict[str, list], old_hits: dict[str, list],
                ) -> tuple[list[IngestResult], int]:
        """One answer per read sent, in order, so a camera can line them up with what it sent."""
        results: list[IngestResult] = []
        created = 0
        answered: set[str] = set()
        for c in job.items:
            # New only for the first carrier of an id in the group; a repeat or concurrent resend is a duplicate.
            is_new = c.id in fresh and fresh[c.id][1] is c and c.id not in answered
            answered.add(c.id)
            hits = (new_hits if c.id in fresh else old_hits).get(c.id, [])
            created += is_new
            results.append(IngestResult(id=c.id, hits=[msgspec.to_builtins(h) for h in hits], duplicate=not is_new))
        return results, created
