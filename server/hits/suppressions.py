"""Misread suppressions: visible to the people they affect, and liftable by a supervisor with a reason."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principals import UserPrincipal
from server.db import as_utc, utcnow
from server.errors import ApiError, not_found
from server.hits.models import HitEvent, Suppression
from server.hits.schemas import SuppressionList, SuppressionPublic
from server.hits.service import visible_unit


def suppression_public(s: Suppression) -> SuppressionPublic:
    expires = as_utc(s.expires_at)
    return SuppressionPublic(
        id=s.id, unit_id=s.unit_id, entry_id=s.entry_id, plate=s.plate, hit_id=s.hit_id, created_by=s.created_by,
        created_at=as_utc(s.created_at), expires_at=expires, active=s.lifted_at is None and expires > utcnow(),
        suppressed_reads=s.suppressed_reads, last_suppressed_at=as_utc(s.last_suppressed_at),
        lifted_at=as_utc(s.lifted_at), lifted_by=s.lifted_by, lifted_reason=s.lifted_reason)


class SuppressionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, viewer: UserPrincipal, *, unit_id: int | None, active_only: bool, limit: int,
                   offset: int) -> SuppressionList:
        """Newest first; an officer sees their own unit's."""
        unit_id = visible_unit(viewer, unit_id)
        query = select(Suppression)
        if unit_id is not None:
            query = query.where(Suppression.unit_id == unit_id)
        if active_only:
            query = query.where(Suppression.lifted_at.is_(None), Suppression.expires_at > utcnow())
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await self.session.scalars(query.order_by(Suppression.id.desc()).limit(limit).offset(offset))
        return SuppressionList([suppression_public(s) for s in rows], total or 0)

    async def lift(self, viewer: UserPrincipal, suppression_id: int, reason: str) -> SuppressionPublic:
        """The entry and plate alert the unit again from now on; who lifted it and why is kept."""
        s = await self.session.get(Suppression, suppression_id)
        if s is None:
            raise not_found(f"suppression {suppression_id}")
        if s.lifted_at is not None:
            raise ApiError(409, "already_lifted", f"suppression {suppression_id} was lifted already")
        s.lifted_at, s.lifted_by, s.lifted_reason = utcnow(), viewer.id, reason.strip()
        self.session.add(HitEvent(hit_id=s.hit_id, kind="suppression_lifted", actor_id=viewer.id,
                                  actor_role=viewer.primary_role, at=s.lifted_at,
                                  data={"suppression_id": s.id, "reason": s.lifted_reason}))
        await self.session.commit()
        return suppression_public(s)
