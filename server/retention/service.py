"""The purge of expired, unheld detections in small batches, each counted into the daily ledger; and the ledger."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import Actor
from server.cases.models import CaseHold
from server.db import as_utc, utcnow
from server.detections.models import DataKey, Detection, DetectionImage
from server.errors import ApiError
from server.hits.models import Hit, HitEvent, HitRead, Suppression
from server.prepared import Prepared
from server.retention.models import LedgerCount
from server.retention.schemas import Ledger, LedgerDay, PurgeResult

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)
LOCK_KEY = "alpr:retention:lock"
LOCK_SECONDS = 300
SYSTEM = Actor(None, "system", "system", None)
_ACTIVE_HOLD = exists().where(CaseHold.detection_id == Detection.id, CaseHold.released_at.is_(None))


def _day(value: datetime) -> date:
    return as_utc(value).date()


def ledger_counts(detections: list[tuple[str, datetime]], hits: list[Any], in_investigation: set[int],
                  ) -> Counter[tuple[date, str, str]]:
    """(day, metric, key) -> count for a batch about to be purged; counts only, nothing that names anyone."""
    counts: Counter[tuple[date, str, str]] = Counter()
    for _, captured_at in detections:
        counts[(_day(captured_at), "reads", "")] += 1
    for h in hits:
        day = _day(h.created_at)
        counts[(day, "hits", f"{h.category}/{h.outcome or h.status}")] += 1
        if h.action == "arrest":
            counts[(day, "arrests", "")] += 1
        if h.id in in_investigation:
            counts[(day, "hits_in_investigations", "")] += 1
    return counts


_IDS = bindparam("ids", expanding=True)
_HITS = bindparam("hit_ids", expanding=True)
# The purge shares the ingest writer's thread, so each batch delays the reads queued behind it: its statements are
# prepared (server/prepared.py), like the writer's own, to keep each batch short.
EXPIRED = Prepared(select(Detection.id, Detection.captured_at).where(
    Detection.captured_at < bindparam("cutoff"), ~_ACTIVE_HOLD).order_by(Detection.captured_at).limit(
    bindparam("limit")))
HITS_OF = Prepared(select(Hit.id, Hit.category, Hit.outcome, Hit.status, Hit.action, Hit.created_at).where(
    Hit.detection_id.in_(_IDS)), expanding=["ids"])
IN_CASE = Prepared(select(HitRead.hit_id).join(CaseHold, CaseHold.detection_id == HitRead.detection_id).where(
    HitRead.hit_id.in_(_HITS)), expanding=["hit_ids"])
LEDGER_ADD = Prepared(update(LedgerCount).where(
    LedgerCount.day == bindparam("d"), LedgerCount.metric == bindparam("m"), LedgerCount.key == bindparam("k"))
    .values(count=LedgerCount.count + bindparam("n")))
LEDGER_NEW = Prepared(insert(LedgerCount), columns=["day", "metric", "key", "count"])
BY_HIT = [Prepared(delete(t).where(t.hit_id.in_(_HITS)), expanding=["hit_ids"])
          for t in (Suppression, HitEvent, HitRead)] + [Prepared(delete(Hit).where(Hit.id.in_(_HITS)),
                                                                 expanding=["hit_ids"])]
READS_OF = Prepared(delete(HitRead).where(HitRead.detection_id.in_(_IDS)), expanding=["ids"])
IMAGES_OF = Prepared(delete(DetectionImage).where(DetectionImage.detection_id.in_(_IDS))
                     .returning(DetectionImage.key_id), expanding=["ids"])
SHRED = Prepared(delete(DataKey).where(DataKey.id.in_(bindparam("key_ids", expanding=True))),
                 expanding=["key_ids"])
HOLDS_OF = Prepared(delete(CaseHold).where(CaseHold.detection_id.in_(_IDS)), expanding=["ids"])
DETECTIONS = Prepared(delete(Detection).where(Detection.id.in_(_IDS)), expanding=["ids"])


class PurgedHit(NamedTuple):
    id: int
    category: str
    outcome: str | None
    status: str
    action: str | None
    created_at: datetime


def purge_batch(conn: Connection, cutoff: datetime, limit: int) -> tuple[int, int, int]:
    """One transaction: up to `limit` expired, unheld detections and everything hanging off them; counted first.
    Returns (detections, images, hits) removed."""
    rows = EXPIRED.rows(conn, {"cutoff": cutoff, "limit": limit})
    if not rows:
        return 0, 0, 0
    ids = [r[0] for r in rows]
    hits = [PurgedHit(*h) for h in HITS_OF.rows(conn, {"ids": ids})]
    hit_ids = [h.id for h in hits]
    in_case = {r[0] for r in IN_CASE.rows(conn, {"hit_ids": hit_ids})} if hit_ids else set()
    for (day, metric, key), n in ledger_counts(rows, hits, in_case).items():
        if LEDGER_ADD.count(conn, {"d": day, "m": metric, "k": key, "n": n}) == 0:
            LEDGER_NEW.many(conn, [{"day": day, "metric": metric, "key": key, "count": n}])
    if hit_ids:
        for statement in BY_HIT:
            statement.count(conn, {"hit_ids": hit_ids})
    READS_OF.count(conn, {"ids": ids})
    removed = IMAGES_OF.rows(conn, {"ids": ids})
    images, key_ids = len(removed), [k for (k,) in removed if k]
    if key_ids:
        # Crypto-shredding: without its data key a copy of the blob (a backup, a disk image) is noise.
        SHRED.count(conn, {"key_ids": key_ids})
    HOLDS_OF.count(conn, {"ids": ids})  # released holds of closed cases
    DETECTIONS.count(conn, {"ids": ids})
    return len(ids), images, len(hit_ids)


async def run_purge(res: Resources, actor: Actor = SYSTEM) -> PurgeResult:
    """Purge everything expired now, batch after batch; one run at a time across every server process."""
    token = secrets.token_hex(8)
    if not await res.redis.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        raise ApiError(409, "purge_running", "a purge is running already; its result will be in the audit trail")
    s = res.settings
    started = time.perf_counter()
    cutoff = utcnow() - timedelta(days=s.retention_days)
    purged = images = hits = batches = 0
    try:
        while True:
            t = time.perf_counter()
            n, im, h = await res.ingest_writer.run_in_write_transaction(purge_batch, cutoff, s.retention_batch_size)
            busy = time.perf_counter() - t
            purged, images, hits, batches = purged + n, images + im, hits + h, batches + (n > 0)
            if n < s.retention_batch_size:
                break
            await res.redis.expire(LOCK_KEY, LOCK_SECONDS)
            # Ingest groups waiting for the writer go first, and the purge takes at most its duty share of the
            # time: a backlog never starves ingest, and never holds the writer for longer than one small batch.
            await asyncio.sleep(max(s.retention_batch_pause_seconds, busy * (1 - s.retention_max_duty)
                                    / s.retention_max_duty))
        async with res.sessions() as session:
            held = await session.scalar(select(func.count()).select_from(Detection).where(
                Detection.captured_at < cutoff, _ACTIVE_HOLD)) or 0
    finally:
        if await res.redis.get(LOCK_KEY) == token.encode():
            await res.redis.delete(LOCK_KEY)
    result = PurgeResult(purged=purged, held=held, images=images, hits=hits, batches=batches,
                         seconds=round(time.perf_counter() - started, 3), cutoff=cutoff.isoformat())
    await res.audit.record(actor, "retention_purge", details={
        "purged": purged, "held": held, "images": images, "hits": hits, "batches": batches,
        "cutoff": result.cutoff, "retention_days": s.retention_days})
    if purged:
        log.info("retention purge: %d detections, %d images, %d hits; %d held", purged, images, hits, held)
    return result


async def scheduled_purge(res: Resources) -> None:
    """The in-process schedule; a run already going elsewhere is fine."""
    try:
        await run_purge(res)
    except ApiError as exc:
        if exc.error != "purge_running":
            raise


class LedgerService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _day_sql(self, column: Any) -> Any:  # noqa: ANN401
        if self.session.bind.dialect.name == "postgresql":
            return func.date(func.timezone("UTC", column))
        return func.date(column)  # SQLite keeps UTC text: its date part is the UTC day

    async def ledger(self, start: date, end: date) -> Ledger:
        """Per capture day from start to end inclusive: the ledger (purged data) plus the data still stored."""
        days: dict[date, dict[str, Any]] = {}

        def slot(d: date | str) -> dict[str, Any]:
            d = date.fromisoformat(d) if isinstance(d, str) else d
            return days.setdefault(d, {"reads": 0, "hits": Counter(), "arrests": 0, "hits_in_investigations": 0})

        for row in await self.session.scalars(select(LedgerCount).where(LedgerCount.day >= start,
                                                                       LedgerCount.day <= end)):
            day = slot(row.day)
            if row.metric == "hits":
                day["hits"][row.key] += row.count
            else:
                day[row.metric] += row.count
        lo = datetime.combine(start, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
        hi = datetime.combine(end, datetime.max.time()).replace(tzinfo=utcnow().tzinfo)
        det_day = self._day_sql(Detection.captured_at)
        for d, n in await self.session.execute(select(det_day, func.count()).where(
                Detection.captured_at >= lo, Detection.captured_at <= hi).group_by(det_day)):
            slot(d)["reads"] += n
        hit_day = self._day_sql(Hit.created_at)
        used = exists().where(HitRead.hit_id == Hit.id, CaseHold.detection_id == HitRead.detection_id)
        for d, category, outcome, action, in_case, n in await self.session.execute(
                select(hit_day, Hit.category, func.coalesce(Hit.outcome, Hit.status), Hit.action, used, func.count())
                .where(Hit.created_at >= lo, Hit.created_at <= hi)
                .group_by(hit_day, Hit.category, func.coalesce(Hit.outcome, Hit.status), Hit.action, used)):
            day = slot(d)
            day["hits"][f"{category}/{outcome}"] += n
            day["arrests"] += n if action == "arrest" else 0
            day["hits_in_investigations"] += n if in_case else 0
        return Ledger(days=[LedgerDay(day=d, reads=v["reads"], hits=dict(sorted(v["hits"].items())),
                                      arrests=v["arrests"], hits_in_investigations=v["hits_in_investigations"])
                            for d, v in sorted(days.items())])
