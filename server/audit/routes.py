"""Routes for auditors: the trail, its end-to-end check, exports and flags."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery, QueryParameter

from server.audit.schemas import AuditList, ChainVerdict, ExportFormat, FlagList
from server.audit.service import AuditService, actor_of
from server.auth.access import users
from server.auth.schemas import MAX_ROW_ID
from server.errors import bad_request, in_utc, strict_json_body
from server.resources import DbSession, ServerResources

AUDITORS = ("auditor", "chief")
Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_ROW_ID)]
Name = Annotated[str | None, QueryParameter(max_length=64)]
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
# Taken as text and parsed strictly: a datetime query parameter would also accept a bare number as a Unix time.
From = Annotated[str | None, QueryParameter(name="from", max_length=40, pattern=RFC3339,
                                            description="From this time (RFC 3339 with offset)")]
To = Annotated[str | None, QueryParameter(name="to", max_length=40, pattern=RFC3339,
                                          description="Before this time (RFC 3339 with offset)")]


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"{field}: {value!r} is not an RFC 3339 time with offset") from exc
    return in_utc(parsed, field)


def _window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    return _when(start, "from"), _when(end, "to")


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    before_request = strict_json_body

    @get("/", guards=[users(*AUDITORS)], summary="The audit trail, newest first (auditor, chief)")
    async def list_events(self, request: Request, db: DbSession, resources: ServerResources, actor: Name = None,
                          action: Name = None, start: From = None,
                          end: To = None, limit: Limit = 100,
                          offset: Offset = 0) -> AuditList:
        start, end = _window(start, end)
        return await AuditService(db, resources).query(actor_of(request), actor=actor, action=action, start=start,
                                                       end=end, limit=limit, offset=offset)

    @get("/verify", guards=[users(*AUDITORS)],
         summary="Check the whole hash chain; names the first altered, missing or unlinked event")
    async def verify(self, request: Request, db: DbSession, resources: ServerResources) -> ChainVerdict:
        return await AuditService(db, resources).verify(actor_of(request))

    @get("/export", guards=[users(*AUDITORS)], summary="The trail (optionally filtered) as CSV or JSON, oldest first",
         media_type="application/octet-stream")
    async def export(self, request: Request, db: DbSession, resources: ServerResources,
                     format: FromQuery[ExportFormat] = "json", actor: Name = None, action: Name = None,  # noqa: A002
                     start: From = None,
                     end: To = None) -> Response[bytes]:
        start, end = _window(start, end)
        body = await AuditService(db, resources).export(actor_of(request), format, actor=actor, action=action,
                                                        start=start, end=end)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
        return Response(body, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="alpr-audit.{format}"'})

    @get("/flags", guards=[users("auditor", "supervisor", "chief")],
         summary="Patterns raised for review: repeated searches of one plate without a case, unusual volume, "
                 "access outside the account's grant")
    async def flags(self, db: DbSession, resources: ServerResources, limit: Limit = 100,
                    offset: Offset = 0) -> FlagList:
        return await AuditService(db, resources).flags(limit, offset)
