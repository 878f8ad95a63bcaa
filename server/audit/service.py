"""Writing the audit trail (serialised appends to one hash chain), reading, verifying and exporting it, and flags."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.alerts.delivery import AlertEvent
from server.alerts.service import ROLE_AUDITOR, ROLE_SUPERVISOR
from server.audit import chain
from server.audit.models import AuditEvent, AuditFlag
from server.audit.schemas import AuditEventPublic, AuditList, BadEvent, ChainVerdict, FlagList, FlagPublic
from server.auth.principals import UserPrincipal
from server.db import as_utc, create_engine, session_factory, utcnow
from server.errors import ApiError

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

    from server.resources import Resources

log = logging.getLogger(__name__)
# pg_advisory_xact_lock key for appends ("ALPR" + 1): every process on the database takes turns at the head.
PG_AUDIT_LOCK = 0x414C5052_0001
HEAD_KEY = "alpr:audit:head"
FLAG_PRIORITY = 5  # replayed after hits (1-4 by category), before routine updates
# Keeps the newest head only: two processes finishing out of order must not move the anchor back.
_SET_HEAD = """local cur = redis.call('GET', KEYS[1])
if cur then local id = tonumber(string.match(cur, '^(%d+):')) if id and id >= tonumber(ARGV[1]) then return 0 end end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2]) return 1"""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, as the audit records it."""

    id: int | None
    name: str
    role: str
    address: str | None = None


def actor_of(connection: ASGIConnection, user: UserPrincipal | None = None) -> Actor:
    """The signed-in person and the client address the request came from."""
    user = user or connection.user
    address = connection.client.host if connection.client else None
    return Actor(user.id, user.username, user.primary_role, address)


def event_fields(ev: AuditEvent) -> dict[str, Any]:
    return {f: getattr(ev, f) for f in (*chain.HASHED_FIELDS, "prev_hash", "hash")}


def event_public(ev: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic(
        id=ev.id, at=as_utc(ev.at), actor_id=ev.actor_id, actor_name=ev.actor_name, actor_role=ev.actor_role,
        action=ev.action, purpose=ev.purpose, purpose_detail=ev.purpose_detail, case_number=ev.case_number,
        client_address=ev.client_address, subject=ev.subject, details=ev.details, prev_hash=ev.prev_hash,
        hash=ev.hash)


class AuditLog:
    """This process's writer of the audit trail; one per process, held by the server's resources."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        # Appends in one process queue here rather than racing for the head and retrying.
        self._lock = asyncio.Lock()
        # One connection of its own: the appends are serial anyway, and a request that holds a pooled connection
        # while it waits to append must never wait for a second one (under load the pool would deadlock).
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    def _session(self) -> AsyncSession:
        if self._sessions is None:
            self._engine = create_engine(self.res.settings.effective_database_url, pool_size=1, max_overflow=0)
            self._sessions = session_factory(self._engine)
        return self._sessions()

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = self._sessions = None

    async def record(self, actor: Actor, action: str, *, subject: str | None = None, purpose: str | None = None,
                     purpose_detail: str | None = None, case_number: str | None = None,
                     details: dict[str, Any] | None = None) -> AuditEvent:
        """Append one event after the current head; raise rather than let an access go unrecorded."""
        async with self._lock:
            for _ in range(10):
                async with self._session() as session:
                    if session.bind.dialect.name == "postgresql":
                        # Other processes too: the lock is released with the transaction.
                        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_LOCK})
                    head = (await session.execute(select(AuditEvent.id, AuditEvent.hash)
                                                  .order_by(AuditEvent.id.desc()).limit(1))).first()
                    ev = AuditEvent(id=head.id + 1 if head else 1, at=utcnow(), actor_id=actor.id,
                                    actor_name=actor.name[:64], actor_role=actor.role[:32], action=action,
                                    purpose=purpose, purpose_detail=purpose_detail, case_number=case_number,
                                    client_address=(actor.address or None) and actor.address[:64],
                                    subject=subject and subject[:128], details=details,
                                    prev_hash=head.hash if head else chain.GENESIS, hash="")
                    ev.hash = chain.event_hash(event_fields(ev), ev.prev_hash)
                    session.add(ev)
                    try:
                        await session.commit()
                    except (IntegrityError, OperationalError):
                        # Another process (SQLite has no advisory lock) appended after the same head, or held the
                        # write lock too long: go again from the new head.
                        await session.rollback()
                        await asyncio.sleep(0.005)
                        continue
                await self._anchor(ev)
                return ev
        raise ApiError(503, "audit_unavailable", "the audit trail could not be written; nothing was shown")

    async def _anchor(self, ev: AuditEvent) -> None:
        """The head outside the database, so verify notices events cut off the end of the chain."""
        try:
            await self.res.redis.eval(_SET_HEAD, 1, HEAD_KEY, ev.id, ev.hash)
        except RedisError:
            log.warning("audit head %s not anchored in Redis", ev.id)

    async def head_anchor(self) -> tuple[int, str] | None:
        try:
            raw = await self.res.redis.get(HEAD_KEY)
        except RedisError:
            return None
        if not raw:
            return None
        head_id, _, head_hash = raw.decode().partition(":")
        return int(head_id), head_hash


class AuditService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res

    def _filtered(self, actor: str | None, action: str | None, start: datetime | None, end: datetime | None):  # noqa: ANN202
        query = select(AuditEvent)
        if actor:
            query = query.where(AuditEvent.actor_name == actor)
        if action:
            query = query.where(AuditEvent.action == action)
        if start:
            query = query.where(AuditEvent.at >= start)
        if end:
            query = query.where(AuditEvent.at < end)
        return query

    async def query(self, viewer: Actor, *, actor: str | None, action: str | None, start: datetime | None,
                    end: datetime | None, limit: int, offset: int) -> AuditList:
        """Newest first. Reading the trail is itself recorded (who audited whom)."""
        if start and end and end <= start:
            raise ApiError(422, "validation_error", "to must be after from")
        query = self._filtered(actor, action, start, end)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset))
        events = [event_public(e) for e in rows]
        await self.res.audit.record(viewer, "audit_query", details={
            "actor": actor, "action": action, "from": start and start.isoformat(), "to": end and end.isoformat(),
            "limit": limit, "offset": offset, "result_count": len(events)})
        return AuditList(events=events, count=total or 0)

    async def export(self, viewer: Actor, fmt: str, *, actor: str | None, action: str | None,
                     start: datetime | None, end: datetime | None) -> bytes:
        """The whole selection, oldest first, as CSV or JSON (with hashes, so a copy can be checked later)."""
        query = self._filtered(actor, action, start, end).order_by(AuditEvent.id)
        events = [msgspec_builtins(event_public(e)) for e in await self.session.scalars(query)]
        await self.res.audit.record(viewer, "audit_export", details={
            "format": fmt, "actor": actor, "action": action, "from": start and start.isoformat(),
            "to": end and end.isoformat(), "result_count": len(events)})
        if fmt == "json":
            return json.dumps(events, ensure_ascii=False).encode()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(AuditEventPublic.__struct_fields__))
        writer.writeheader()
        for e in events:
            writer.writerow({**e, "details": json.dumps(e["details"], sort_keys=True) if e["details"] else ""})
        return out.getvalue().encode()

    async def _events(self, batch: int = 5000) -> AsyncIterator[list[dict[str, Any]]]:
        last = 0
        while True:
            rows = list(await self.session.scalars(select(AuditEvent).where(AuditEvent.id > last)
                                                   .order_by(AuditEvent.id).limit(batch)))
            if not rows:
                return
            yield [event_fields(e) for e in rows]
            last = rows[-1].id
            self.session.expunge_all()

    async def verify(self, viewer: Actor) -> ChainVerdict:
        """Recompute every hash from the first event; name the first event that is altered, missing or unlinked."""
        total, prev_hash, prev_id = 0, chain.GENESIS, 0
        verdict: ChainVerdict | None = None
        async for events in self._events():
            n, prev_hash, prev_id, bad = chain.check(events, prev_hash, prev_id)
            total += n
            if bad:
                verdict = ChainVerdict(ok=False, events=total, first_bad_event=BadEvent(bad.id, bad.problem))
                break
        if verdict is None:
            anchor = await self.res.audit.head_anchor()
            if anchor and (anchor[0] > prev_id or (anchor[0] == prev_id and anchor[1] != prev_hash)):
                verdict = ChainVerdict(ok=False, events=total, first_bad_event=BadEvent(
                    prev_id + 1 if anchor[0] > prev_id else prev_id,
                    f"the trail ends at event {prev_id} but event {anchor[0]} was written (events were removed "
                    "from the end)" if anchor[0] > prev_id else "the last event differs from the one written"))
            else:
                verdict = ChainVerdict(ok=True, events=total)
        self.session.expunge_all()
        await self.res.audit.record(viewer, "audit_verify", details={
            "ok": verdict.ok, "events": verdict.events,
            "first_bad_event": verdict.first_bad_event.id if verdict.first_bad_event else None})
        return verdict

    async def flags(self, limit: int, offset: int) -> FlagList:
        total = await self.session.scalar(select(func.count()).select_from(AuditFlag))
        rows = await self.session.scalars(select(AuditFlag).order_by(AuditFlag.id.desc()).limit(limit).offset(offset))
        return FlagList(flags=[FlagPublic(id=f.id, at=as_utc(f.at), kind=f.kind, actor_name=f.actor_name,
                                          event_id=f.event_id, detail=f.detail) for f in rows], count=total or 0)


def msgspec_builtins(obj: Any) -> Any:  # noqa: ANN401
    return msgspec.to_builtins(obj)


async def raise_flag(res: Resources, session: AsyncSession, kind: str, actor_name: str, event_id: int | None,
                     detail: str, once_per: timedelta = timedelta(days=1)) -> AuditFlag | None:
    """Record a flag unless the same kind was raised for this account within once_per (no flood of repeats), and
    push it at once to every connected supervisor and auditor (`audit_flag` on /ws/alerts, replayed if missed)."""
    since = utcnow() - once_per
    if await session.scalar(select(AuditFlag.id).where(AuditFlag.kind == kind, AuditFlag.actor_name == actor_name,
                                                       AuditFlag.at >= since).limit(1)):
        return None
    flag = AuditFlag(kind=kind, actor_name=actor_name, event_id=event_id, detail=detail[:500])
    session.add(flag)
    await session.commit()
    log.warning("audit flag %s for %s: %s", kind, actor_name, detail)
    public = FlagPublic(id=flag.id, at=as_utc(flag.at), kind=flag.kind, actor_name=flag.actor_name,
                        event_id=flag.event_id, detail=flag.detail)
    try:
        await res.delivery.publish([AlertEvent("audit_flag", (ROLE_SUPERVISOR, ROLE_AUDITOR),
                                               msgspec.json.encode(public), priority=FLAG_PRIORITY)])
    except RedisError:
        # Recorded all the same: reviewers find it at GET /api/v1/audit/flags.
        log.exception("audit flag %s recorded but not pushed (Redis unavailable)", flag.id)
    return flag
