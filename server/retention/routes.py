"""Routes for retention: run the purge now, and read the daily ledger."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import QueryParameter

from server.audit.service import actor_of
from server.auth.access import users
from server.db import utcnow
from server.errors import bad_request, strict_json_body
from server.resources import DbSession, ServerResources
from server.retention.schemas import Ledger, PurgeResult
from server.retention.service import LedgerService, run_purge

Day = date | None


class RetentionController(Controller):
    path = "/api/v1/retention"
    tags = ["retention"]
    before_request = strict_json_body

    @post("/run", status_code=200, guards=[users("admin")],
          summary="Purge expired detections not held by an active case now (it also runs on a schedule)")
    async def run(self, request: Request, resources: ServerResources) -> PurgeResult:
        return await run_purge(resources, actor_of(request))

    @get("/ledger", guards=[users("auditor", "chief", "admin")],
         summary="Daily counts (reads, hits by category and outcome, arrests, hits used in cases) that survive purge")
    async def ledger(self, db: DbSession, start: Annotated[Day, QueryParameter(name="from")] = None,
                     end: Annotated[Day, QueryParameter(name="to")] = None) -> Ledger:
        end = end or utcnow().date()
        if start is None:
            start = max(end, date(1, 1, 31)) - timedelta(days=30)
        if end < start:
            raise bad_request("to must not be before from")
        if (end - start).days > 366:
            raise bad_request("at most 366 days at a time")
        return await LedgerService(db).ledger(start, end)
