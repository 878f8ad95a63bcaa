"""Hot-list entries: add, remove and look up; the database first, then the match index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import Actor
from server.auth.principals import UserPrincipal
from server.common.plates import PlateError, normalize_plate, parse_plate, plate_problem
from server.common.regions import RegionError, parse_region
from server.db import as_utc, utcnow
from server.errors import ApiError, bad_request, in_utc, not_found
from server.hits.withdrawal import withdraw_hits
from server.hotlist.models import DEFAULT_PRIORITY, HotlistEntry, HotlistListing
from server.hotlist.schemas import (
    MIN_JUSTIFICATION,
    EntryCreate,
    EntryList,
    EntryPublic,
    EntryVehicle,
    ListingPublic,
)

if TYPE_CHECKING:
    from server.resources import Resources


def entry_public(e: HotlistEntry, listings: Iterable[HotlistListing] = ()) -> EntryPublic:
    return EntryPublic(
        id=e.id, plate=e.plate, state=e.state, category=e.category, source=e.source, case_number=e.case_number,
        justification=e.justification, priority=e.priority, expires_at=as_utc(e.expires_at),
        vehicle=EntryVehicle(year=e.vehicle_year, make=e.vehicle_make, model=e.vehicle_model, color=e.vehicle_color,
                             type=e.vehicle_type),
        subject=e.subject, created_at=as_utc(e.created_at), removed_at=as_utc(e.removed_at),
        removed_reason=e.removed_reason,
        listings=[ListingPublic(source=li.source, case_number=li.case_number, justification=li.justification,
                                priority=li.priority, expires_at=as_utc(li.expires_at)) for li in listings])


async def listings_of(session: AsyncSession, entry_ids: Iterable[int]) -> dict[int, list[HotlistListing]]:
    """Each entry's listings, oldest first."""
    found: dict[int, list[HotlistListing]] = defaultdict(list)
    for listing in await session.scalars(select(HotlistListing).where(HotlistListing.entry_id.in_(set(entry_ids)))
                                         .order_by(HotlistListing.id)):
        found[listing.entry_id].append(listing)
    return found


class HotlistService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res, self.index = session, res, res.index

    async def create(self, data: EntryCreate, actor: UserPrincipal) -> EntryPublic:
        try:
            plate = parse_plate(data.plate)
        except PlateError as exc:
            raise bad_request(f"plate: {exc}") from exc
        try:
            state = parse_region(data.state)
        except RegionError as exc:
            raise bad_request(f"state: {exc}") from exc
        # Policy D.3/D.5: a case number and a real justification, not whitespace that passes a length check.
        if not data.case_number.strip():
            raise bad_request("case_number: a case or incident number is required")
        if len(data.justification.strip()) < MIN_JUSTIFICATION:
            raise bad_request(f"justification: say in a sentence (at least {MIN_JUSTIFICATION} characters) "
                              "why this vehicle is of interest")
        expires_at = None if data.expires_at is None else in_utc(data.expires_at, "expires_at")
        if expires_at is not None and expires_at <= utcnow():
            raise bad_request("expires_at is in the past; an expired entry would never match")
        v = data.vehicle or EntryVehicle()
        entry = HotlistEntry(
            plate=plate, state=state, category=data.category, source=data.source,
            case_number=data.case_number.strip(), justification=data.justification.strip(),
            priority=data.priority or DEFAULT_PRIORITY[data.category], expires_at=expires_at,
            vehicle_year=v.year, vehicle_make=v.make, vehicle_model=v.model, vehicle_color=v.color,
            vehicle_type=v.type, subject=data.subject, created_by=actor.id)
        self.session.add(entry)
        await self.session.flush()
        # Added by hand: a feed's refresh never drops this listing (server/hotlist/import_plan.py).
        listing = HotlistListing(entry_id=entry.id, source=entry.source, case_number=entry.case_number,
                                 justification=entry.justification, priority=entry.priority,
                                 expires_at=entry.expires_at)
        self.session.add(listing)
        await self.session.commit()
        await self.index.add([entry])  # after commit: the database stays the source of truth
        await self.res.audit.record(Actor(actor.id, actor.username, actor.primary_role), "hotlist_add",
                                    subject=f"hotlist_entry:{entry.id}", case_number=entry.case_number,
                                    details={"plate": entry.plate, "state": entry.state, "category": entry.category,
                                             "source": entry.source})
        return entry_public(entry, [listing])

    async def remove(self, entry_id: int, reason: str, actor: UserPrincipal) -> EntryPublic:
        entry = await self.session.get(HotlistEntry, entry_id)
        if entry is None:
            raise not_found(f"hot-list entry {entry_id}")
        if entry.removed_at is not None:
            raise ApiError(409, "already_removed", f"hot-list entry {entry_id} was removed already")
        if len(reason.strip()) < 3:
            raise bad_request("reason: say why the entry is removed")
        entry.removed_at, entry.removed_by, entry.removed_reason = utcnow(), actor.id, reason.strip()
        await self.session.commit()
        await self.index.remove(entry)
        await self.res.audit.record(Actor(actor.id, actor.username, actor.primary_role), "hotlist_remove",
                                    subject=f"hotlist_entry:{entry.id}", case_number=entry.case_number,
                                    details={"plate": entry.plate, "reason": entry.removed_reason})
        public = entry_public(entry, (await listings_of(self.session, [entry_id]))[entry_id])
        # Officers may be closing on that car right now: tell them at once (requirements §4).
        await withdraw_hits(self.session, self.res, entry, "no_longer_wanted", actor.id, actor.primary_role)
        return public

    async def find(self, plate: str | None, include_removed: bool, limit: int, offset: int) -> EntryList:
        query = select(HotlistEntry)
        if plate:
            wanted = normalize_plate(plate)
            if plate_problem(wanted):
                return EntryList(entries=[], count=0)  # no entry can have a plate that is not a plate
            query = query.where(HotlistEntry.plate == wanted)
        if not include_removed:
            query = query.where(HotlistEntry.removed_at.is_(None))
        rows = list(await self.session.scalars(query.order_by(HotlistEntry.id).limit(limit).offset(offset)))
        listings = await listings_of(self.session, [e.id for e in rows]) if rows else {}
        return EntryList(entries=[entry_public(e, listings.get(e.id, ())) for e in rows], count=len(rows))
