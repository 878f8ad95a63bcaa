"""Export requests: who asked and why, the Chief's approval, and the one-time production of the bundle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.purpose import purpose_problem
from server.audit.service import Actor
from server.common.crypto import CryptoError
from server.db import as_utc, utcnow
from server.detections.evidence import load_image
from server.detections.models import Detection
from server.errors import ApiError, bad_request, conflict, not_found
from server.hits.service import detection_summary
from server.records.bundle import build_bundle, image_name
from server.records.models import ExportRequest
from server.records.schemas import ExportApproval, ExportCreate, ExportPublic

if TYPE_CHECKING:
    from server.resources import Resources


def export_public(e: ExportRequest) -> ExportPublic:
    return ExportPublic(id=e.id, case_number=e.case_number, purpose=e.purpose, purpose_detail=e.purpose_detail,
                        detection_ids=list(e.detection_ids), status=e.status, requested_by=e.requested_by,
                        requested_at=as_utc(e.requested_at), approved_by=e.approved_by,
                        approved_at=as_utc(e.approved_at), produced_at=as_utc(e.produced_at),
                        bundle_sha256=e.bundle_sha256)


class ExportService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res

    async def _export(self, export_id: int) -> ExportRequest:
        e = await self.session.get(ExportRequest, export_id)
        if e is None:
            raise not_found(f"export {export_id}")
        return e

    async def request(self, data: ExportCreate, actor: Actor) -> ExportPublic:
        detail = data.purpose_detail or "an export for the case named, detail given to the Chief on approval"
        problem = purpose_problem(data.case_number, data.purpose, detail)
        if problem:
            raise bad_request(problem)
        ids = list(dict.fromkeys(str(i) for i in data.detection_ids))
        found = set(await self.session.scalars(select(Detection.id).where(Detection.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError(404, "not_found", f"detection {missing[0]} does not exist (or was purged)", missing=missing)
        e = ExportRequest(case_number=data.case_number.strip(), purpose=data.purpose,
                          purpose_detail=data.purpose_detail and data.purpose_detail.strip(), detection_ids=ids,
                          requested_by=actor.id)
        self.session.add(e)
        await self.session.commit()
        await self.res.audit.record(actor, "export_request", subject=f"export:{e.id}", purpose=e.purpose,
                                    purpose_detail=e.purpose_detail, case_number=e.case_number,
                                    details={"detection_ids": ids})
        return export_public(e)

    async def get(self, export_id: int, actor: Actor, roles: frozenset[str]) -> ExportPublic:
        e = await self._export(export_id)
        if e.requested_by != actor.id and not roles & {"chief", "auditor"}:
            raise ApiError(403, "forbidden", "an export is visible to whoever requested it, the Chief and auditors")
        return export_public(e)

    async def approve(self, export_id: int, data: ExportApproval | None, chief: Actor) -> ExportPublic:
        """Policy F.4: the Chief (or designee) authorises the copy before anything is produced."""
        e = await self._export(export_id)
        if e.status != "pending":
            raise conflict("not_pending", f"export {export_id} is {e.status} already")
        now = utcnow()
        done = await self.session.execute(update(ExportRequest).where(
            ExportRequest.id == export_id, ExportRequest.status == "pending").values(
            status="approved", approved_by=chief.id, approved_at=now, approval_note=data.note if data else None))
        if done.rowcount != 1:
            await self.session.rollback()
            raise conflict("not_pending", f"export {export_id} was approved meanwhile")
        await self.session.commit()
        await self.res.audit.record(chief, "export_approve", subject=f"export:{e.id}", purpose=e.purpose,
                                    case_number=e.case_number, details={"note": data.note if data else None})
        await self.session.refresh(e)
        return export_public(e)

    async def bundle(self, export_id: int, actor: Actor, roles: frozenset[str]) -> tuple[bytes, str]:
        """Produce the approved bundle, once: a second copy would be an unapproved duplicate (policy F.4)."""
        e = await self._export(export_id)
        if e.requested_by != actor.id and "chief" not in roles:
            raise ApiError(403, "forbidden", "the bundle goes to whoever requested the export (or the Chief)")
        if e.status == "pending":
            raise ApiError(403, "export_not_approved", f"export {export_id} has no approval from the Chief "
                           "(policy F.4); nothing is produced before it")
        if e.status == "produced":
            raise ApiError(409, "already_produced", f"export {export_id} was produced at "
                           f"{as_utc(e.produced_at).isoformat()} (SHA-256 {e.bundle_sha256}); request a new export "
                           "for another copy")
        dets = {d.id: d for d in await self.session.scalars(select(Detection).where(
            Detection.id.in_(list(e.detection_ids))))}
        gone = [i for i in e.detection_ids if i not in dets]
        if gone:
            raise ApiError(409, "detections_purged", f"{len(gone)} of the detections were purged since the request "
                           "(attach detections to the case to keep them)", missing=gone)
        images = []
        for det in dets.values():
            for kind in filter(None, det.image_kinds.split(",")):
                try:
                    found = await load_image(self.session, self.res.keyring, det.id, kind)
                except CryptoError as exc:
                    raise ApiError(409, "image_unreadable", f"{det.id}/{kind}: {exc}") from exc
                if found:
                    images.append((image_name(det.id, kind, found[0]), found[1]))
        header = {"export_id": e.id, "case_number": e.case_number, "purpose": e.purpose,
                  "purpose_detail": e.purpose_detail, "approved_by": e.approved_by,
                  "approved_at": as_utc(e.approved_at).isoformat(), "produced_at": utcnow().isoformat()}
        body, digest = build_bundle(header, [msgspec.to_builtins(detection_summary(dets[i].model_dump()))
                                             for i in e.detection_ids], images)
        done = await self.session.execute(update(ExportRequest).where(
            ExportRequest.id == export_id, ExportRequest.status == "approved").values(
            status="produced", produced_at=utcnow(), bundle_sha256=digest))
        if done.rowcount != 1:
            await self.session.rollback()
            raise ApiError(409, "already_produced", f"export {export_id} was produced meanwhile")
        await self.session.commit()
        await self.res.audit.record(actor, "export_produce", subject=f"export:{e.id}", purpose=e.purpose,
                                    case_number=e.case_number, details={
                                        "bundle_sha256": digest, "bytes": len(body), "files": 2 + len(images),
                                        "detection_ids": list(e.detection_ids)})
        return body, digest
