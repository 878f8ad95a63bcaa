"""The hit contract: what officers, dispatch and the RTCC see."""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec import Struct


class VehicleDescription(Struct, omit_defaults=True):
    year: int | None = None
    make: str | None = None
    model: str | None = None
    color: str | None = None
    type: str | None = None
    features: list[str] = []


class EntrySummary(Struct):
    id: int
    plate: str
    state: str | None
    category: str
    source: str
    case_number: str
    priority: int
    expires_at: datetime | None
    vehicle: VehicleDescription
    subject: str | None
    person_linked: bool


class LocationOut(Struct):
    lat: float
    lon: float
    heading: float | None


class DetectionSummary(Struct):
    id: str
    plate: str
    state: str | None
    confidence: float
    captured_at: datetime
    location: LocationOut
    camera_id: str
    unit_id: int
    vehicle: VehicleDescription
    images: list[str]


class DescriptorMismatch(Struct):
    field: str
    entry: str
    read: str


class HitPublic(Struct):
    id: int
    status: str
    match_kind: str
    state_mismatch: bool
    descriptor_mismatches: list[DescriptorMismatch]
    requires_driver_check: bool
    priority: int
    category: str
    unit_id: int
    read_count: int
    created_at: datetime
    last_read_at: datetime
    detection: DetectionSummary
    entry: EntrySummary


class HitEventPublic(Struct):
    id: int
    kind: str
    at: datetime
    actor_id: int | None
    actor_role: str | None
    data: dict | None


class HitDetail(Struct):
    hit: HitPublic
    events: list[HitEventPublic]
    reads: list[str]


class HitList(Struct):
    hits: list[HitPublic]
    count: int


encode = msgspec.json.Encoder().encode
