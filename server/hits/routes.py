"""Routes for hits: reading them, the verification steps, and misread suppressions."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, delete, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from server.auth.access import users
from server.auth.schemas import MAX_ROW_ID
from server.errors import strict_json_body
from server.hits.schemas import (
    ActionStep,
    ApsinStep,
    CloseStep,
    DriverStep,
    HitDetail,
    HitList,
    SuppressionLift,
    SuppressionList,
    SuppressionPublic,
    VisualStep,
)
from server.hits.service import HitService
from server.hits.suppressions import SuppressionService
from server.hits.verification import VerificationService
from server.resources import DbSession, ServerResources

Status = Literal["pending", "apsin_confirmed", "visually_confirmed", "verified", "action_taken", "closed"]
READERS = ("officer", "dispatcher", "rtcc", "supervisor", "chief")
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID)]
# Ids and unit filters within what the database holds (see MAX_ROW_ID): a larger number is a 422, not a 500.
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
UnitFilter = Annotated[int | None, QueryParameter(ge=1, le=MAX_ROW_ID)]


class HitController(Controller):
    path = "/api/v1/hits"
    tags = ["hits"]
    before_request = strict_json_body

    @get("/", guards=[users(*READERS)], summary="List hits; with a status, oldest first (dispatch's queue)")
    async def list_hits(self, request: Request, db: DbSession, status: FromQuery[Status | None] = None,
                        unit_id: UnitFilter = None, limit: Limit = 100, offset: Offset = 0) -> HitList:
        return await HitService(db).list_hits(request.user, status=status, unit_id=unit_id, limit=limit,
                                              offset=offset)

    @get("/{hit_id:int}", guards=[users(*READERS)], summary="One hit with its full event history")
    async def get_hit(self, hit_id: PathId, request: Request, db: DbSession) -> HitDetail:
        return await HitService(db).get_hit(request.user, hit_id)

    # Each step answers the hit with its history; out of order is 409 naming what is missing.
    @post("/{hit_id:int}/apsin", status_code=200, guards=[users("officer", "dispatcher", "rtcc")],
          summary="APSIN/NCIC status confirmation (policy C.1, C.4); not confirmed closes the hit")
    async def apsin(self, hit_id: PathId, data: JSONBody[ApsinStep], request: Request, db: DbSession,
                    resources: ServerResources) -> HitDetail:
        return await VerificationService(db, resources).take(request.user, hit_id, data)

    @post("/{hit_id:int}/visual", status_code=200, guards=[users("officer")],
          summary="The officer's visual match of plate, state and vehicle (policy C.2); a mismatch closes the hit")
    async def visual(self, hit_id: PathId, data: JSONBody[VisualStep], request: Request, db: DbSession,
                     resources: ServerResources) -> HitDetail:
        return await VerificationService(db, resources).take(request.user, hit_id, data)

    @post("/{hit_id:int}/driver", status_code=200, guards=[users("officer")],
          summary="Person-linked entries: driver matched, or another legal basis (policy C.3)")
    async def driver(self, hit_id: PathId, data: JSONBody[DriverStep], request: Request, db: DbSession,
                     resources: ServerResources) -> HitDetail:
        return await VerificationService(db, resources).take(request.user, hit_id, data)

    @post("/{hit_id:int}/action", status_code=200, guards=[users("officer")],
          summary="Enforcement action: after both confirmations, or exigent with a justification (alerts a supervisor)")
    async def action(self, hit_id: PathId, data: JSONBody[ActionStep], request: Request, db: DbSession,
                     resources: ServerResources) -> HitDetail:
        return await VerificationService(db, resources).take(request.user, hit_id, data)

    @post("/{hit_id:int}/close", status_code=200, guards=[users("officer", "dispatcher", "rtcc", "supervisor")],
          summary="Close with an outcome; an officer's misread suppresses the pair for the unit's shift")
    async def close(self, hit_id: PathId, data: JSONBody[CloseStep], request: Request, db: DbSession,
                    resources: ServerResources) -> HitDetail:
        return await VerificationService(db, resources).take(request.user, hit_id, data)


class SuppressionController(Controller):
    path = "/api/v1/suppressions"
    tags = ["hits"]
    before_request = strict_json_body

    @get("/", guards=[users(*READERS)], summary="Misread suppressions, newest first (an officer: their unit's)")
    async def list_suppressions(self, request: Request, db: DbSession, unit_id: UnitFilter = None,
                                active: FromQuery[bool] = False, limit: Limit = 100,
                                offset: Offset = 0) -> SuppressionList:
        return await SuppressionService(db).list(request.user, unit_id=unit_id, active_only=active, limit=limit,
                                                 offset=offset)

    @delete("/{suppression_id:int}", status_code=200, guards=[users("supervisor")],
            summary="Lift a suppression early, with a reason")
    async def lift(self, suppression_id: PathId, data: JSONBody[SuppressionLift], request: Request,
                   db: DbSession) -> SuppressionPublic:
        return await SuppressionService(db).lift(request.user, suppression_id, data.reason)
