"""Routes for cases and holds."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter

from server.audit.service import actor_of
from server.auth.access import users
from server.cases.schemas import CaseClose, CaseCreate, CasePublic, HoldRequest, HoldResult
from server.cases.service import CaseService
from server.common.text import SINGLE_LINE
from server.errors import strict_json_body
from server.resources import DbSession, ServerResources

CASE_ROLES = ("officer", "rtcc", "supervisor", "chief")
CaseNumberPath = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=SINGLE_LINE)]


class CaseController(Controller):
    path = "/api/v1/cases"
    tags = ["cases"]
    before_request = strict_json_body

    @post("/", guards=[users(*CASE_ROLES)], summary="Open a case")
    async def create(self, data: JSONBody[CaseCreate], request: Request, db: DbSession,
                     resources: ServerResources) -> CasePublic:
        return await CaseService(db, resources).create(data, actor_of(request))

    @get("/{case_number:str}", guards=[users(*CASE_ROLES, "auditor")], summary="A case and how much it holds")
    async def get_case(self, case_number: CaseNumberPath, db: DbSession, resources: ServerResources) -> CasePublic:
        return await CaseService(db, resources).get(case_number)

    @post("/{case_number:str}/detections", status_code=200, guards=[users(*CASE_ROLES)],
          summary="Attach detections to an active case (policy G.2): they survive the purge until it closes")
    async def hold(self, case_number: CaseNumberPath, data: JSONBody[HoldRequest], request: Request, db: DbSession,
                   resources: ServerResources) -> HoldResult:
        return await CaseService(db, resources).hold(case_number, data, actor_of(request))

    @post("/{case_number:str}/close", status_code=200, guards=[users("supervisor", "chief", "rtcc")],
          summary="Close a case; its holds are released and the next purge disposes of expired detections")
    async def close(self, case_number: CaseNumberPath, request: Request, db: DbSession, resources: ServerResources,
                    data: JSONBody[CaseClose | None] = None) -> CasePublic:
        return await CaseService(db, resources).close(case_number, data.reason if data else None, actor_of(request))
