"""The exports contract of api-v1.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from server.audit.purpose import Purpose
from server.audit.schemas import CaseNumber, PurposeDetail
from server.common.text import MULTI_LINE


class ExportCreate(Struct, forbid_unknown_fields=True):
    case_number: CaseNumber
    purpose: Purpose
    detection_ids: Annotated[list[UUID], Meta(min_length=1, max_length=1000)]
    purpose_detail: PurposeDetail | None = None


class ExportApproval(Struct, forbid_unknown_fields=True):
    note: Annotated[str, Meta(min_length=3, max_length=500, pattern=MULTI_LINE)] | None = None


class ExportPublic(Struct):
    id: int
    case_number: str
    purpose: str
    purpose_detail: str | None
    detection_ids: list[str]
    status: str
    requested_by: int
    requested_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    produced_at: datetime | None
    bundle_sha256: str | None
