"""The audit contract: events as auditors read them, the chain check, flags, and the access context."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from server.audit.purpose import Purpose
from server.common.text import MULTI_LINE, SINGLE_LINE

CaseNumber = Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE,
                                 description="The case or incident number this access serves")]
PurposeDetail = Annotated[str, Meta(min_length=1, max_length=2000, pattern=MULTI_LINE,
                                    description="What you are looking for and why, in a sentence")]
ExportFormat = Literal["json", "csv"]


class AccessContext(Struct, forbid_unknown_fields=True):
    """Why stored reads are being looked at (api-v1 "Investigation")."""

    case_number: CaseNumber
    purpose: Purpose
    purpose_detail: PurposeDetail


class AuditEventPublic(Struct):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    actor_role: str
    action: str
    purpose: str | None
    purpose_detail: str | None
    case_number: str | None
    client_address: str | None
    subject: str | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str


class AuditList(Struct):
    events: list[AuditEventPublic]
    count: int


class BadEvent(Struct):
    id: int
    problem: str


class ChainVerdict(Struct):
    """`ok` when every event is intact and linked to the one before; otherwise the first that is not."""

    ok: bool
    events: int
    first_bad_event: BadEvent | None = None


class FlagPublic(Struct):
    id: int
    at: datetime
    kind: str
    actor_name: str
    event_id: int | None
    detail: str


class FlagList(Struct):
    flags: list[FlagPublic]
    count: int
