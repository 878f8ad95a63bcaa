"""The detection contract of api-v1.md: what a dash camera sends and what it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from server.common.text import SINGLE_LINE

Short = Annotated[str, Meta(max_length=32, pattern=SINGLE_LINE)]
MAX_BATCH = 1000


class Location(Struct, forbid_unknown_fields=True):
    lat: Annotated[float, Meta(ge=-90, le=90, description="Latitude in degrees")]
    lon: Annotated[float, Meta(ge=-180, le=180, description="Longitude in degrees")]
    heading: Annotated[float, Meta(ge=0, lt=360, description="Degrees clockwise from north")] | None = None


class VehicleRead(Struct, forbid_unknown_fields=True):
    """Vehicle attributes the camera saw (NCIC-style codes welcome: TOYT, BLK, PK)."""

    make: Short | None = None
    model: Short | None = None
    color: Short | None = None
    type: Short | None = None
    features: Annotated[list[Annotated[str, Meta(max_length=64, pattern=SINGLE_LINE)]], Meta(max_length=20)] = []


class Images(Struct, forbid_unknown_fields=True):
    plate: str | None = None  # base64 JPEG or PNG
    vehicle: str | None = None


class DetectionCreate(Struct, forbid_unknown_fields=True):
    id: Annotated[UUID, Meta(description="Chosen by the camera; a resend with the same id is not a new read")]
    plate: Annotated[str, Meta(min_length=1, max_length=16)]
    confidence: Annotated[float, Meta(ge=0, le=1)]
    captured_at: Annotated[datetime, Meta(tz=True, description="RFC 3339 with offset")]
    location: Location
    state: Annotated[str, Meta(max_length=32)] | None = None
    vehicle: VehicleRead | None = None
    images: Images | None = None


DetectionList = Annotated[list[DetectionCreate], Meta(min_length=1, max_length=MAX_BATCH)]


class DetectionBatch(Struct, forbid_unknown_fields=True):
    detections: DetectionList


class IngestResult(Struct):
    """The answer for one detection: its id and the hits it raised (or had raised, on a resend)."""

    id: str
    hits: list[dict]
    duplicate: bool = False


class BatchIngestResult(Struct):
    results: list[IngestResult]
    created: int
    duplicates: int


# Request bodies are decoded by hand: a single detection and a batch share one URL.
body_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
single_decoder = msgspec.json.Decoder(DetectionCreate)
batch_decoder = msgspec.json.Decoder(DetectionList)
