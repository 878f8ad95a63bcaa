"""Investigative search and record views: refuse a vague purpose, query within retention, audit, raise flags."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import reduce
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEvent
from server.audit.purpose import purpose_problem
from server.audit.service import Actor, raise_flag
from server.cases.models import Case, CaseHold
from server.common.crypto import CryptoError
from server.db import utcnow
from server.detections.evidence import load_image
from server.detections.models import Detection
from server.errors import ApiError, bad_request, in_utc, not_found
from server.hits.service import detection_summary
from server.search.patterns import OCR_REPLACEMENTS, PatternError, parse_pattern, radius_box
from server.search.schemas import FoundDetection, SearchRequest, SearchResults

if TYPE_CHECKING:
    from server.resources import Resources


def _ocr_key_sql(column: Any) -> Any:  # noqa: ANN401 - a SQL expression
    return reduce(lambda expr, pair: func.replace(expr, pair[0], pair[1]), OCR_REPLACEMENTS, column)


def check_purpose(case_number: str, purpose: str, detail: str) -> None:
    problem = purpose_problem(case_number, purpose, detail)
    if problem:
        raise bad_request(problem, errors=[{"field": problem.split(":", 1)[0], "detail": problem.split(": ", 1)[1]}])


class InvestigationService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res

    def _cutoff(self) -> Any:  # noqa: ANN401
        return utcnow() - timedelta(days=self.res.settings.retention_days)

    def _visible(self, case_number: str) -> Any:  # noqa: ANN401
        """Within retention, or held by this open case (what the case attached, it may keep looking at)."""
        held = (select(CaseHold.detection_id).join(Case, Case.id == CaseHold.case_id)
                .where(Case.case_number == case_number.strip(), CaseHold.released_at.is_(None)))
        return or_(Detection.captured_at >= self._cutoff(), Detection.id.in_(held))

    async def search(self, actor: Actor, q: SearchRequest) -> SearchResults:
        check_purpose(q.case_number, q.purpose, q.purpose_detail)
        start = q.from_ and in_utc(q.from_, "from")
        end = q.to and in_utc(q.to, "to")
        if start and end and end <= start:
            raise bad_request("to must be after from")
        query = select(Detection).where(self._visible(q.case_number))
        pattern = None
        if q.plate is not None:
            try:
                pattern = parse_pattern(q.plate)
            except PatternError as exc:
                raise bad_request(str(exc)) from exc
            if q.ocr_equivalent:
                query = query.where(_ocr_key_sql(Detection.plate).like(pattern.key_like))
            elif pattern.wildcard:
                query = query.where(Detection.plate.like(pattern.literal_like))
            else:
                query = query.where(Detection.plate == pattern.text)
        if start:
            query = query.where(Detection.captured_at >= start)
        if end:
            query = query.where(Detection.captured_at < end)
        if q.near:
            box = radius_box(q.near.lat, q.near.lon, q.near.radius_m)
            dy = (Detection.lat - q.near.lat) * 111_320.0
            dx = (Detection.lon - q.near.lon) * box.lon_scale
            query = query.where(Detection.lat.between(box.min_lat, box.max_lat),
                                Detection.lon.between(box.min_lon, box.max_lon),
                                dy * dy + dx * dx <= q.near.radius_m ** 2)
        if q.vehicle:
            v = q.vehicle
            for column, value in ((Detection.vehicle_make, v.make), (Detection.vehicle_model, v.model),
                                  (Detection.vehicle_color, v.color), (Detection.vehicle_type, v.type)):
                if value:
                    query = query.where(func.upper(column) == value.strip().upper())
            for feature in v.features:
                # The JSON list as text contains the quoted feature: works the same on SQLite and PostgreSQL.
                needle = json.dumps(feature.strip().lower())  # as SQLAlchemy's JSON type wrote it
                query = query.where(func.lower(cast(Detection.vehicle_features, String)).contains(needle,
                                                                                                   autoescape=True))
        if q.camera_id:
            query = query.where(Detection.camera_id == q.camera_id)
        if q.unit_id:
            query = query.where(Detection.unit_id == q.unit_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(await self.session.scalars(query.order_by(Detection.captured_at.desc(), Detection.id.desc())
                                               .limit(q.limit).offset(q.offset)))
        held = await self._held_by([d.id for d in rows])
        results = [FoundDetection(**msgspec.structs.asdict(detection_summary(d.model_dump())),
                                  match_kind=None if pattern is None else
                                  ("exact" if pattern.literal_match(d.plate) else "ocr_equivalent"),
                                  held_by=held.get(d.id, [])) for d in rows]
        query_record = {k: v for k, v in msgspec.to_builtins(q).items()
                        if k not in ("case_number", "purpose", "purpose_detail") and v not in (None, [], {})}
        ev = await self.res.audit.record(
            actor, "search", subject=f"plate:{pattern.text}" if pattern else None, purpose=q.purpose,
            purpose_detail=q.purpose_detail.strip(), case_number=q.case_number.strip(),
            details={"query": query_record, "result_count": total, "returned": [d.id for d in rows]})
        await self._flag_patterns(actor, ev, pattern.text if pattern else None, q.case_number.strip())
        return SearchResults(results=results, count=total)

    async def _held_by(self, ids: list[str]) -> dict[str, list[str]]:
        if not ids:
            return {}
        out: dict[str, list[str]] = {}
        for det_id, number in await self.session.execute(
                select(CaseHold.detection_id, Case.case_number).join(Case, Case.id == CaseHold.case_id)
                .where(CaseHold.detection_id.in_(ids), CaseHold.released_at.is_(None))):
            out.setdefault(det_id, []).append(number)
        return out

    async def _flag_patterns(self, actor: Actor, ev: AuditEvent, plate: str | None, case_number: str) -> None:
        """Requirements §6: one plate searched again and again with no open case behind it; unusual volume."""
        s = self.res.settings
        now = utcnow()
        day = now - timedelta(days=1)
        mine = select(func.count()).select_from(AuditEvent).where(
            AuditEvent.actor_name == actor.name, AuditEvent.action == "search")
        if plate:
            open_case = await self.session.scalar(select(Case.id).where(Case.case_number == case_number,
                                                                        Case.status == "open"))
            if open_case is None:
                repeats = await self.session.scalar(mine.where(AuditEvent.subject == f"plate:{plate}",
                                                               AuditEvent.at >= day)) or 0
                if repeats >= s.search_flag_repeats:
                    await raise_flag(self.res, self.session, "repeated_plate_without_case", actor.name, ev.id,
                                     f"{actor.name} searched {plate} {repeats} times in 24 h under case "
                                     f"{case_number}, which is not an open registered case")
        today = await self.session.scalar(mine.where(AuditEvent.at >= day)) or 0
        if today > s.search_flag_floor:
            before = await self.session.scalar(mine.where(AuditEvent.at >= now - timedelta(days=31),
                                                          AuditEvent.at < day)) or 0
            if today > s.search_flag_volume_factor * max(before / 30, 1):
                await raise_flag(self.res, self.session, "search_volume", actor.name, ev.id,
                                 f"{actor.name} ran {today} searches in 24 h against a daily average of "
                                 f"{before / 30:.1f} over the month before")

    async def _detection(self, detection_id: str, case_number: str) -> Detection:
        det = (await self.session.scalars(select(Detection).where(Detection.id == detection_id,
                                                                  self._visible(case_number)))).first()
        if det is None:
            raise not_found(f"detection {detection_id} (or it is past retention)")
        return det

    async def view(self, actor: Actor, detection_id: str, case_number: str, purpose: str, detail: str,
                   ) -> FoundDetection:
        check_purpose(case_number, purpose, detail)
        det = await self._detection(detection_id, case_number)
        held = await self._held_by([det.id])
        await self.res.audit.record(actor, "detection_view", subject=f"detection:{det.id}", purpose=purpose,
                                    purpose_detail=detail.strip(), case_number=case_number.strip())
        return FoundDetection(**msgspec.structs.asdict(detection_summary(det.model_dump())),
                              held_by=held.get(det.id, []))

    async def image(self, actor: Actor, detection_id: str, kind: str, case_number: str, purpose: str,
                    detail: str) -> tuple[str, bytes]:
        check_purpose(case_number, purpose, detail)
        det = await self._detection(detection_id, case_number)
        try:
            found = await load_image(self.session, self.res.keyring, det.id, kind)
        except CryptoError as exc:
            raise ApiError(409, "image_unreadable", f"the {kind} image of {det.id} cannot be decrypted: {exc}") from exc
        if found is None:
            raise not_found(f"{kind} image of detection {det.id}")
        await self.res.audit.record(actor, "image_view", subject=f"detection:{det.id}/{kind}", purpose=purpose,
                                    purpose_detail=detail.strip(), case_number=case_number.strip())
        return found
