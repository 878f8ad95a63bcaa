"""When a hot-list entry is removed or expires, its open hits become "no longer of interest" at once."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.alerts.delivery import AlertEvent
from server.alerts.service import unit_key
from server.db import utcnow
from server.hits import workflow
from server.hits.models import Hit, HitEvent
from server.hits.schemas import encode
from server.hits.service import HitService, hit_state, recipients
from server.hotlist.models import PERSON_LINKED, HotlistEntry

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)

WITHDRAW_TRIES = 5  # a hit changed by a step at the same moment is read again; steps are human-paced


async def withdraw_hits(session: AsyncSession, res: Resources, entry: HotlistEntry, outcome: str,
                        actor_id: int | None = None, actor_role: str | None = None) -> int:
    """Close the entry's open hits (or flag those already acted on) and tell their units, dispatch and the
    RTCC; the unit's ack is awaited like a new hit's. How many hits changed."""
    hits = list(await session.scalars(select(Hit).where(Hit.entry_id == entry.id, Hit.outcome.is_(None),
                                                        Hit.no_longer_of_interest.is_(False))))
    now = utcnow()
    changed: list[Hit] = []
    for hit in hits:
        for _ in range(WITHDRAW_TRIES):
            moved = workflow.withdraw(hit_state(hit, entry.category in PERSON_LINKED), outcome)
            if moved is None:
                break
            new = moved.state
            result = await session.execute(
                update(Hit).where(Hit.id == hit.id, Hit.version == hit.version)
                .values(status=new.status, outcome=new.outcome, closed_at=now if moved.closed else None,
                        no_longer_of_interest=True, version=hit.version + 1)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                session.add(HitEvent(hit_id=hit.id, kind=moved.event, actor_id=actor_id, actor_role=actor_role,
                                     at=now, data={"reason": outcome, "entry_id": entry.id}))
                changed.append(hit)
                break
            # A step was recorded on this hit at this very moment: read it again and withdraw what it is now,
            # so the officer hears at once rather than at the next sweep.
            hit = await session.scalar(select(Hit).where(Hit.id == hit.id)
                                       .execution_options(populate_existing=True))
    if not changed:
        return 0
    ids = [h.id for h in changed]
    await session.commit()
    fresh = list(await session.scalars(select(Hit).where(Hit.id.in_(ids)).order_by(Hit.id)
                                       .execution_options(populate_existing=True)))
    publics = await HitService(session).publics(fresh)
    await res.delivery.publish(
        AlertEvent("hit_update", recipients(p.unit_id), encode(p), priority=p.priority,
                   extra=b',"step":"no_longer_of_interest"', track=unit_key(p.unit_id)) for p in publics)
    return len(changed)


async def withdraw_expired(res: Resources) -> int:
    """The periodic sweep: hits of entries whose expiry has passed, and of removed entries whose hits the
    removal could not see (a read raised at the moment of removal)."""
    async with res.sessions() as session:
        entries = await _withdrawn_with_open_hits(session)
        total = 0
        for entry in entries:
            outcome = "no_longer_wanted" if entry.removed_at is not None else "entry_expired"
            total += await withdraw_hits(session, res, entry, outcome)
    if total:
        log.info("%d open hit(s) of %d expired or removed entr(ies) marked no longer of interest", total,
                 len(entries))
    return total


async def _withdrawn_with_open_hits(session: AsyncSession) -> Iterable[HotlistEntry]:
    open_entries = select(Hit.entry_id).where(Hit.outcome.is_(None), Hit.no_longer_of_interest.is_(False))
    return list(await session.scalars(select(HotlistEntry).where(
        or_(HotlistEntry.expires_at <= utcnow(), HotlistEntry.removed_at.is_not(None)),
        HotlistEntry.id.in_(open_entries))))
