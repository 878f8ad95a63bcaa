"""Routes for evidence exports."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter

from server.audit.service import actor_of
from server.auth.access import users
from server.auth.schemas import MAX_ROW_ID
from server.errors import strict_json_body
from server.records.schemas import ExportApproval, ExportCreate, ExportPublic
from server.records.service import ExportService
from server.resources import DbSession, ServerResources

REQUESTERS = ("officer", "rtcc", "supervisor", "records", "chief")
ExportId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]


class ExportController(Controller):
    path = "/api/v1/exports"
    tags = ["exports"]
    before_request = strict_json_body

    @post("/", guards=[users(*REQUESTERS)], summary="Request an export of detections (pending until the Chief approves)")
    async def create(self, data: JSONBody[ExportCreate], request: Request, db: DbSession,
                     resources: ServerResources) -> ExportPublic:
        return await ExportService(db, resources).request(data, actor_of(request))

    @get("/{export_id:int}", guards=[users(*REQUESTERS, "auditor")], summary="An export request and its state")
    async def get_export(self, export_id: ExportId, request: Request, db: DbSession,
                         resources: ServerResources) -> ExportPublic:
        return await ExportService(db, resources).get(export_id, actor_of(request), request.user.roles)

    @post("/{export_id:int}/approve", status_code=200, guards=[users("chief")],
          summary="Approve an export (policy F.4: Chief or designee only)")
    async def approve(self, export_id: ExportId, request: Request, db: DbSession, resources: ServerResources,
                      data: JSONBody[ExportApproval | None] = None) -> ExportPublic:
        return await ExportService(db, resources).approve(export_id, data, actor_of(request))

    @get("/{export_id:int}/bundle", guards=[users(*REQUESTERS)], media_type="application/zip",
         summary="The approved bundle (zip: detections.json, images, manifest.json with SHA-256s), produced once")
    async def bundle(self, export_id: ExportId, request: Request, db: DbSession,
                     resources: ServerResources) -> Response[bytes]:
        body, digest = await ExportService(db, resources).bundle(export_id, actor_of(request), request.user.roles)
        return Response(body, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="alpr-export-{export_id}.zip"', "X-Bundle-SHA256": digest})
