"""Routes for reading hits."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from server.auth.access import users
from server.errors import ApiError
from server.hits.schemas import HitDetail, HitList
from server.hits.service import HitService
from server.resources import DbSession

Status = Literal["pending", "apsin_confirmed", "visually_confirmed", "verified", "action_taken", "closed"]
READERS = ("officer", "dispatcher", "rtcc", "supervisor", "chief")


def _own_unit_only(request: Request, unit_id: int | None) -> int | None:
    """An officer sees the hits of their own unit; dispatch, RTCC and supervisors see all."""
    user = request.user
    if user.roles & {"dispatcher", "rtcc", "supervisor", "chief"}:
        return unit_id
    if user.unit_id is None:
        # Never "no filter": an officer account without a unit would otherwise list every unit's hits.
        raise ApiError(403, "forbidden", "officers see the hits of their own unit, and this account has no unit")
    if unit_id is not None and unit_id != user.unit_id:
        raise ApiError(403, "forbidden", "officers see the hits of their own unit only")
    return user.unit_id


class HitController(Controller):
    path = "/api/v1/hits"
    tags = ["hits"]

    @get("/", guards=[users(*READERS)], summary="List hits; with a status, oldest first (dispatch's queue)")
    async def list_hits(self, request: Request, db: DbSession, status: FromQuery[Status | None] = None,
                        unit_id: FromQuery[int | None] = None, limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
                        offset: Annotated[int, QueryParameter(ge=0)] = 0) -> HitList:
        return await HitService(db).list_hits(status=status, unit_id=_own_unit_only(request, unit_id), limit=limit,
                                              offset=offset)

    @get("/{hit_id:int}", guards=[users(*READERS)], summary="One hit with its full event history")
    async def get_hit(self, hit_id: FromPath[int], request: Request, db: DbSession) -> HitDetail:
        detail = await HitService(db).get_hit(hit_id)
        _own_unit_only(request, detail.hit.unit_id)
        return detail
