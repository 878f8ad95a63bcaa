"""Routes for reading hits."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from server.auth.access import users
from server.hits.schemas import HitDetail, HitList
from server.hits.service import HitService
from server.resources import DbSession

Status = Literal["pending", "apsin_confirmed", "visually_confirmed", "verified", "action_taken", "closed"]
READERS = ("officer", "dispatcher", "rtcc", "supervisor", "chief")


class HitController(Controller):
    path = "/api/v1/hits"
    tags = ["hits"]

    @get("/", guards=[users(*READERS)], summary="List hits; with a status, oldest first (dispatch's queue)")
    async def list_hits(self, request: Request, db: DbSession, status: FromQuery[Status | None] = None,
                        unit_id: FromQuery[int | None] = None, limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
                        offset: Annotated[int, QueryParameter(ge=0)] = 0) -> HitList:
        return await HitService(db).list_hits(request.user, status=status, unit_id=unit_id, limit=limit,
                                              offset=offset)

    @get("/{hit_id:int}", guards=[users(*READERS)], summary="One hit with its full event history")
    async def get_hit(self, hit_id: FromPath[int], request: Request, db: DbSession) -> HitDetail:
        return await HitService(db).get_hit(request.user, hit_id)
