"""The investigation contract of api-v1.md: a search, its results, and a detection as an investigator sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from server.audit.purpose import Purpose
from server.audit.schemas import CaseNumber, PurposeDetail
from server.common.text import SINGLE_LINE
from server.hits.schemas import DetectionSummary

Short = Annotated[str, Meta(min_length=1, max_length=32, pattern=SINGLE_LINE)]


class Near(Struct, forbid_unknown_fields=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]
    radius_m: Annotated[float, Meta(gt=0, le=100_000, description="Metres, up to 100 km")]


class VehicleFilter(Struct, forbid_unknown_fields=True):
    make: Short | None = None
    model: Short | None = None
    color: Short | None = None
    type: Short | None = None
    features: Annotated[list[Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]],
                        Meta(max_length=10)] = []


class SearchRequest(Struct, forbid_unknown_fields=True):
    case_number: CaseNumber
    purpose: Purpose
    purpose_detail: PurposeDetail
    plate: Annotated[str, Meta(min_length=1, max_length=32, pattern=SINGLE_LINE,
                               description="Exact (ABC1234), or with * (any run) and ? (one character): AB*12?")] | None = None
    ocr_equivalent: Annotated[bool, Meta(description="Also match reads that differ only by OCR-confusable "
                                                     "characters (0/O/D/Q, 1/I/L, 8/B ...)")] = True
    from_: Annotated[datetime, Meta(tz=True)] | None = msgspec.field(default=None, name="from")
    to: Annotated[datetime, Meta(tz=True)] | None = None
    near: Near | None = None
    vehicle: VehicleFilter | None = None
    camera_id: Short | None = None
    unit_id: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0


class FoundDetection(DetectionSummary):
    """A detection found by a search: `match_kind` says whether the plate matched as read or OCR-equivalently."""

    match_kind: str | None = None
    held_by: list[str] = []


class SearchResults(Struct):
    results: list[FoundDetection]
    count: int
