"""Routes for the hot list."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from server.auth.access import users
from server.hotlist.schemas import EntryCreate, EntryList, EntryPublic, EntryRemove
from server.hotlist.service import HotlistService
from server.resources import DbSession, ServerResources

EDITORS = ("rtcc", "supervisor", "chief")


class HotlistController(Controller):
    path = "/api/v1/hotlist/entries"
    tags = ["hot list"]

    @post("/", guards=[users(*EDITORS)], summary="Add a vehicle of interest (case number and justification required)")
    async def create(self, data: JSONBody[EntryCreate], request: Request, db: DbSession, resources: ServerResources,
                     ) -> EntryPublic:
        return await HotlistService(db, resources).create(data, request.user)

    @delete("/{entry_id:int}", status_code=200, guards=[users(*EDITORS)],
            summary="Remove an entry; it stops matching at once")
    async def remove(self, entry_id: FromPath[int], data: JSONBody[EntryRemove], request: Request, db: DbSession,
                     resources: ServerResources) -> EntryPublic:
        return await HotlistService(db, resources).remove(entry_id, data.reason, request.user)

    @get("/", guards=[users(*EDITORS, "dispatcher", "officer")], summary="Look up entries by plate")
    async def find(self, db: DbSession, resources: ServerResources, plate: FromQuery[str | None] = None,
                   include_removed: FromQuery[bool] = False,
                   limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
                   offset: Annotated[int, QueryParameter(ge=0)] = 0) -> EntryList:
        return await HotlistService(db, resources).find(plate, include_removed, limit, offset)
