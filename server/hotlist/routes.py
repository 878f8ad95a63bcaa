"""Routes for the hot list."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from server.auth.access import users
from server.auth.schemas import MAX_ROW_ID
from server.errors import strict_json_body
from server.hotlist.schemas import EntryCreate, EntryList, EntryPublic, EntryRemove
from server.hotlist.service import HotlistService
from server.resources import DbSession, ServerResources

EDITORS = ("rtcc", "supervisor", "chief")
EntryId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]


class HotlistController(Controller):
    path = "/api/v1/hotlist/entries"
    tags = ["hot list"]
    before_request = strict_json_body

    @post("/", guards=[users(*EDITORS)], summary="Add a vehicle of interest (case number and justification required)")
    async def create(self, data: JSONBody[EntryCreate], request: Request, db: DbSession, resources: ServerResources,
                     ) -> EntryPublic:
        return await HotlistService(db, resources).create(data, request.user)

    @delete("/{entry_id:int}", status_code=200, guards=[users(*EDITORS)],
            summary="Remove an entry; it stops matching at once")
    async def remove(self, entry_id: EntryId, data: JSONBody[EntryRemove], request: Request, db: DbSession,
                     resources: ServerResources) -> EntryPublic:
        return await HotlistService(db, resources).remove(entry_id, data.reason, request.user)

    @get("/", guards=[users(*EDITORS, "dispatcher", "officer")], summary="Look up entries by plate")
    async def find(self, db: DbSession, resources: ServerResources, plate: FromQuery[str | None] = None,
                   include_removed: FromQuery[bool] = False,
                   limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
                   offset: Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID)] = 0) -> EntryList:
        return await HotlistService(db, resources).find(plate, include_removed, limit, offset)
