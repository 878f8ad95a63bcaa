"""Opening and closing cases, and attaching detections to them (holds that survive the purge)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.service import Actor
from server.cases.models import Case, CaseHold
from server.cases.schemas import CaseCreate, CasePublic, HoldRequest, HoldResult
from server.db import as_utc, utcnow
from server.detections.models import Detection
from server.errors import ApiError, conflict, not_found

if TYPE_CHECKING:
    from server.resources import Resources


class CaseService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res

    async def _public(self, case: Case) -> CasePublic:
        held = await self.session.scalar(select(func.count()).select_from(CaseHold).where(
            CaseHold.case_id == case.id, CaseHold.released_at.is_(None)))
        return CasePublic(id=case.id, case_number=case.case_number, title=case.title, status=case.status,
                          opened_at=as_utc(case.opened_at), closed_at=as_utc(case.closed_at), held_detections=held or 0)

    async def _case(self, case_number: str) -> Case:
        case = (await self.session.scalars(select(Case).where(Case.case_number == case_number.strip()))).first()
        if case is None:
            raise not_found(f"case {case_number[:64]!r}")
        return case

    async def create(self, data: CaseCreate, actor: Actor) -> CasePublic:
        number = data.case_number.strip()
        if not number:
            raise ApiError(422, "validation_error", "case_number: a case or incident number is required")
        case = Case(case_number=number, title=data.title.strip(), opened_by=actor.id)
        self.session.add(case)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise conflict("case_exists", f"case {number} exists already") from exc
        await self.res.audit.record(actor, "case_open", subject=f"case:{case.id}", case_number=number,
                                    details={"title": case.title})
        return await self._public(case)

    async def get(self, case_number: str) -> CasePublic:
        return await self._public(await self._case(case_number))

    async def hold(self, case_number: str, data: HoldRequest, actor: Actor) -> HoldResult:
        """Attach every named detection or none: an unknown (or already purged) id is a 404 naming it."""
        case = await self._case(case_number)
        if case.status != "open":
            raise conflict("case_closed", f"case {case.case_number} is closed; holds attach to active cases only")
        wanted = list(dict.fromkeys(str(i) for i in data.detection_ids))
        found = set(await self.session.scalars(select(Detection.id).where(Detection.id.in_(wanted))))
        missing = [i for i in wanted if i not in found]
        if missing:
            raise ApiError(404, "not_found", f"detection {missing[0]} does not exist (or was purged)"
                           + (f", nor {len(missing) - 1} more" if len(missing) > 1 else ""), missing=missing)
        already = set(await self.session.scalars(select(CaseHold.detection_id).where(
            CaseHold.case_id == case.id, CaseHold.released_at.is_(None), CaseHold.detection_id.in_(wanted))))
        new = [i for i in wanted if i not in already]
        now = utcnow()
        reason = " ".join(data.reason.split())
        self.session.add_all([CaseHold(case_id=case.id, detection_id=i, reason=reason, held_by=actor.id, held_at=now)
                              for i in new])
        await self.session.commit()
        await self.res.audit.record(actor, "case_hold", subject=f"case:{case.id}", case_number=case.case_number,
                                    details={"detection_ids": new, "already_held": sorted(already), "reason": reason})
        return HoldResult(case_number=case.case_number, held=new, already_held=sorted(already))

    async def close(self, case_number: str, reason: str | None, actor: Actor) -> CasePublic:
        """Closing releases the holds: the next purge disposes of what is past retention."""
        case = await self._case(case_number)
        if case.status != "open":
            raise conflict("case_closed", f"case {case.case_number} is closed already")
        now = utcnow()
        case.status, case.closed_at, case.closed_by = "closed", now, actor.id
        case.close_reason = " ".join(reason.split()) if reason else None
        released = await self.session.execute(update(CaseHold).where(
            CaseHold.case_id == case.id, CaseHold.released_at.is_(None)).values(released_at=now))
        await self.session.commit()
        await self.res.audit.record(actor, "case_close", subject=f"case:{case.id}", case_number=case.case_number,
                                    details={"released": released.rowcount, "reason": case.close_reason})
        return await self._public(case)
