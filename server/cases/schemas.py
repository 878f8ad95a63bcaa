"""The cases contract of api-v1.md: open a case, attach detections with a reason, close it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from server.audit.schemas import CaseNumber
from server.common.text import MULTI_LINE, SINGLE_LINE

Reason = Annotated[str, Meta(min_length=10, max_length=500, pattern=MULTI_LINE,
                             description="Why, in a sentence (recorded in the audit trail)")]


class CaseCreate(Struct, forbid_unknown_fields=True):
    case_number: CaseNumber
    title: Annotated[str, Meta(min_length=3, max_length=200, pattern=SINGLE_LINE)]


class CasePublic(Struct):
    id: int
    case_number: str
    title: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    held_detections: int


class HoldRequest(Struct, forbid_unknown_fields=True):
    detection_ids: Annotated[list[UUID], Meta(min_length=1, max_length=1000)]
    reason: Reason


class HoldResult(Struct):
    case_number: str
    held: list[str]
    already_held: list[str]


class CaseClose(Struct, forbid_unknown_fields=True):
    reason: Reason
