"""Routes for the hot list."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, delete, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

from server.audit.service import actor_of
from server.auth.access import users
from server.auth.schemas import MAX_ROW_ID
from server.errors import strict_json_body
from server.hotlist.imports import ImportService
from server.hotlist.schemas import (
    EntryCreate,
    EntryList,
    EntryPublic,
    EntryRemove,
    ImportList,
    ImportPublic,
    Source,
    SourceList,
)
from server.hotlist.service import HotlistService
from server.resources import DbSession, ServerResources

EDITORS = ("rtcc", "supervisor", "chief")
EntryId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
ImportId = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
ImportFormat = Literal["ncic", "csv", "apsin"]


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


class HotlistImportController(Controller):
    path = "/api/v1/hotlist"
    tags = ["hot list"]

    @post("/imports", guards=[users(*EDITORS)], status_code=201, request_max_body_size=None,
          summary="Import a source's file (the body): NCIC-style fixed width, CSV or APSIN/RMS export",
          description="Only categories policy 7.12 II allows are loaded; other list types are refused and counted "
                      "by code. Junk plates are skipped, duplicates merged with every source kept, bad lines "
                      "listed with their line numbers. With replace=true the file is the source's whole list: "
                      "what it no longer lists is removed and officers on open hits are told. Nothing is "
                      "half-written. 409 while another import of the source runs; 413 past the size limit.")
    async def create(self, request: Request, resources: ServerResources, source: FromQuery[Source],
                     format: FromQuery[ImportFormat], replace: FromQuery[bool] = False) -> ImportPublic:
        return await ImportService(resources).upload(request.stream(), source=source, fmt=format, replace=replace,
                                                     actor=actor_of(request))

    @get("/imports", guards=[users(*EDITORS)], summary="Recent imports, newest first")
    async def history(self, resources: ServerResources, source: FromQuery[Source | None] = None,
                      limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50) -> ImportList:
        return ImportList(imports=await ImportService(resources).history(source, limit))

    @get("/imports/{import_id:int}", guards=[users(*EDITORS)], summary="One import's summary")
    async def one(self, import_id: ImportId, resources: ServerResources) -> ImportPublic:
        return await ImportService(resources).get(import_id)

    @get("/sources", guards=[users(*EDITORS, "dispatcher", "officer")],
         summary="Each source's entries and the time of its last good full refresh; stale lists are flagged")
    async def sources(self, resources: ServerResources) -> SourceList:
        return SourceList(sources=await ImportService(resources).sources())
