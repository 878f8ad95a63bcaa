"""Routes for investigators: search, and one detection or image, each with a case number and purpose."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from server.audit.purpose import Purpose
from server.audit.service import actor_of, raise_flag
from server.auth.access import users
from server.auth.principals import UserPrincipal
from server.common.text import MULTI_LINE, SINGLE_LINE
from server.errors import ApiError, strict_json_body
from server.resources import DbSession, ServerResources
from server.search.schemas import FoundDetection, SearchRequest, SearchResults
from server.search.service import InvestigationService

INVESTIGATORS = ("officer", "dispatcher", "rtcc", "supervisor", "chief", "auditor", "records")
CaseQuery = Annotated[str, QueryParameter(min_length=1, max_length=64, pattern=SINGLE_LINE,
                                          description="The case or incident number")]
PurposeQuery = Annotated[Purpose, QueryParameter(description="Why, from the controlled list")]
DetailQuery = Annotated[str, QueryParameter(min_length=1, max_length=2000, pattern=MULTI_LINE,
                                            description="What you are looking for and why, in a sentence")]
_check = users(*INVESTIGATORS)


async def investigators(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The usual access check; a person refused here is recorded and flagged (access outside the grant)."""
    try:
        await _check(connection, handler)
    except ApiError as exc:
        user = connection.user
        if exc.status == 403 and isinstance(user, UserPrincipal):
            res = connection.app.state.resources
            ev = await res.audit.record(actor_of(connection), "access_denied", subject=connection.url.path[:128],
                                        details={"error": exc.error, "detail": exc.detail})
            async with res.sessions() as session:
                await raise_flag(res, session, "outside_grant", user.username, ev.id,
                                 f"{user.username} was refused {connection.url.path[:80]}: {exc.detail}")
        raise


class InvestigationController(Controller):
    path = "/api/v1"
    tags = ["investigation"]
    before_request = strict_json_body

    # Guards on each route, not the controller: a controller's guards also run for the OPTIONS handlers Litestar
    # adds, which pass no authentication.
    @post("/search", status_code=200, guards=[investigators],
          summary="Search stored reads (case number and purpose required; audited with the full query)")
    async def search(self, data: JSONBody[SearchRequest], request: Request, db: DbSession,
                     resources: ServerResources) -> SearchResults:
        return await InvestigationService(db, resources).search(actor_of(request), data)

    @get("/detections/{detection_id:uuid}", guards=[investigators], summary="One stored read (case number and purpose required; audited)")
    async def detection(self, detection_id: FromPath[UUID], request: Request, db: DbSession, resources: ServerResources,
                        case_number: CaseQuery, purpose: PurposeQuery, purpose_detail: DetailQuery) -> FoundDetection:
        return await InvestigationService(db, resources).view(actor_of(request), str(detection_id), case_number,
                                                              purpose, purpose_detail)

    @get("/detections/{detection_id:uuid}/images/{kind:str}", guards=[investigators], media_type="application/octet-stream",
         summary="A read's plate crop or vehicle image, decrypted (case number and purpose required; audited)")
    async def image(self, detection_id: FromPath[UUID], kind: FromPath[Literal["plate", "vehicle"]], request: Request, db: DbSession,
                    resources: ServerResources, case_number: CaseQuery, purpose: PurposeQuery,
                    purpose_detail: DetailQuery) -> Response[bytes]:
        content_type, data = await InvestigationService(db, resources).image(
            actor_of(request), str(detection_id), kind, case_number, purpose, purpose_detail)
        return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
