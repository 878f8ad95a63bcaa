"""Raising hits from matched reads (folding repeats), and reading them back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.alerts.service import ROLE_DISPATCH, ROLE_RTCC, unit_key
from server.auth.principals import UserPrincipal
from server.db import as_utc
from server.detections.models import Detection
from server.errors import ApiError, not_found
from server.hits.descriptors import descriptor_mismatches
from server.hits.models import Hit, HitEvent, HitRead
from server.hits.schemas import (
    DescriptorMismatch,
    DetectionSummary,
    EntrySummary,
    HitDetail,
    HitEventPublic,
    HitList,
    HitPublic,
    LocationOut,
    VehicleDescription,
)
from server.hits.workflow import HitState
from server.hotlist.index import IndexedEntry
from server.hotlist.models import PERSON_LINKED, HotlistEntry


def entry_summary(e: IndexedEntry | HotlistEntry) -> EntrySummary:
    expires = e.expires_at
    if isinstance(expires, float):
        expires = datetime.fromtimestamp(expires, UTC)
    return EntrySummary(
        id=e.id, plate=e.plate, state=e.state, category=e.category, source=e.source, case_number=e.case_number,
        priority=e.priority, expires_at=as_utc(expires), subject=e.subject, person_linked=e.category in PERSON_LINKED,
        vehicle=VehicleDescription(year=e.vehicle_year, make=e.vehicle_make, model=e.vehicle_model,
                                   color=e.vehicle_color, type=e.vehicle_type))


def utc(value: datetime) -> datetime:
    """The same instant in UTC, so a fresh hit's answer and alert show what reading it back later shows."""
    return as_utc(value).astimezone(UTC)


def detection_summary(row: Mapping[str, Any]) -> DetectionSummary:
    """From a detection's column values (a fresh insert row or a loaded model's)."""
    return DetectionSummary(
        id=row["id"], plate=row["plate"], state=row["state"], confidence=row["confidence"],
        captured_at=utc(row["captured_at"]), camera_id=row["camera_id"], unit_id=row["unit_id"],
        location=LocationOut(row["lat"], row["lon"], row["heading"]),
        vehicle=VehicleDescription(make=row["vehicle_make"], model=row["vehicle_model"], color=row["vehicle_color"],
                                   type=row["vehicle_type"], features=row["vehicle_features"] or []),
        images=[k for k in (row["image_kinds"] or "").split(",") if k])


def hit_public(hit: Hit, det: DetectionSummary, entry: EntrySummary) -> HitPublic:
    mismatches = descriptor_mismatches(
        {"make": entry.vehicle.make, "model": entry.vehicle.model, "color": entry.vehicle.color,
         "type": entry.vehicle.type},
        {"make": det.vehicle.make, "model": det.vehicle.model, "color": det.vehicle.color, "type": det.vehicle.type})
    return HitPublic(
        id=hit.id, status=hit.status, awaiting=list(hit_state(hit, entry.person_linked).awaiting()),
        apsin_confirmed=hit.apsin_confirmed, visual_confirmed=hit.visual_confirmed, driver_result=hit.driver_result,
        action=hit.action, exigent=hit.exigent, outcome=hit.outcome, closed_at=as_utc(hit.closed_at),
        no_longer_of_interest=hit.no_longer_of_interest, match_kind=hit.match_kind, state_mismatch=hit.state_mismatch,
        descriptor_mismatches=[DescriptorMismatch(**m) for m in mismatches],
        requires_driver_check=entry.person_linked, priority=hit.priority, category=hit.category,
        unit_id=hit.unit_id, read_count=hit.read_count, created_at=as_utc(hit.created_at),
        last_read_at=as_utc(hit.last_read_at), detection=det, entry=entry)


def hit_state(hit: Hit, person_linked: bool) -> HitState:
    return HitState(person_linked=person_linked, apsin_confirmed=hit.apsin_confirmed,
                    visual_confirmed=hit.visual_confirmed, driver_result=hit.driver_result, action=hit.action,
                    exigent=hit.exigent, outcome=hit.outcome)


def recipients(unit_id: int) -> tuple[str, ...]:
    """Api-v1: the unit's officers, every RTCC watcher, and dispatch (to confirm through APSIN)."""
    return (unit_key(unit_id), ROLE_RTCC, ROLE_DISPATCH)


# Who sees every unit's hits; an officer sees their own unit's.
ALL_UNITS_ROLES = frozenset({"dispatcher", "rtcc", "supervisor", "chief"})


def visible_unit(viewer: UserPrincipal, unit_id: int | None) -> int | None:
    """The unit filter a viewer may use: theirs for an officer, any (or none) for dispatch, RTCC and supervisors."""
    if viewer.roles & ALL_UNITS_ROLES:
        return unit_id
    if viewer.unit_id is None:
        # Never "no filter": an officer account without a unit would otherwise list every unit's hits.
        raise ApiError(403, "forbidden", "officers see the hits of their own unit, and this account has no unit")
    if unit_id is not None and unit_id != viewer.unit_id:
        raise ApiError(403, "forbidden", "officers see the hits of their own unit only")
    return viewer.unit_id


class HitService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def publics(self, hits: Sequence[Hit]) -> list[HitPublic]:
        if not hits:
            return []
        dets = {d.id: d for d in await self.session.scalars(
            select(Detection).where(Detection.id.in_({h.detection_id for h in hits})))}
        entries = {e.id: e for e in await self.session.scalars(
            select(HotlistEntry).where(HotlistEntry.id.in_({h.entry_id for h in hits})))}
        return [hit_public(h, detection_summary(dets[h.detection_id].model_dump()), entry_summary(entries[h.entry_id]))
                for h in hits]

    async def hits_for_detections(self, detection_ids: Sequence[str]) -> dict[str, list[HitPublic]]:
        """What each detection raised or folded into, for answering a resend exactly as the first time."""
        rows = (await self.session.execute(
            select(HitRead.detection_id, Hit).join(Hit, Hit.id == HitRead.hit_id)
            .where(HitRead.detection_id.in_(list(detection_ids))).order_by(Hit.id))).all()
        publics = {p.id: p for p in await self.publics(list({h.id: h for _, h in rows}.values()))}
        out: dict[str, list[HitPublic]] = {}
        for det_id, hit in rows:
            out.setdefault(det_id, []).append(publics[hit.id])
        return out

    async def list_hits(self, viewer: UserPrincipal, *, status: str | None, unit_id: int | None, limit: int,
                        offset: int) -> HitList:
        """A status queue (dispatch's `pending`) most urgent first, then oldest first; newest first otherwise."""
        unit_id = visible_unit(viewer, unit_id)
        query = select(Hit)
        if status:
            query = query.where(Hit.status == status)
        if unit_id is not None:
            query = query.where(Hit.unit_id == unit_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        order = (Hit.priority, Hit.created_at, Hit.id) if status else (Hit.created_at.desc(), Hit.id.desc())
        hits = list(await self.session.scalars(query.order_by(*order).limit(limit).offset(offset)))
        return HitList(hits=await self.publics(hits), count=total or 0)

    async def get_hit(self, viewer: UserPrincipal, hit_id: int) -> HitDetail:
        hit = await self.session.get(Hit, hit_id)
        if hit is None:
            raise not_found(f"hit {hit_id}")
        visible_unit(viewer, hit.unit_id)
        (public,) = await self.publics([hit])
        events = await self.session.scalars(select(HitEvent).where(HitEvent.hit_id == hit_id).order_by(HitEvent.id))
        reads = await self.session.scalars(select(HitRead.detection_id).where(HitRead.hit_id == hit_id))
        return HitDetail(hit=public, reads=list(reads), events=[
            HitEventPublic(id=e.id, kind=e.kind, at=as_utc(e.at), actor_id=e.actor_id, actor_role=e.actor_role,
                           data=e.data) for e in events])
