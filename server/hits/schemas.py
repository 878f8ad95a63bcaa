"""The hit contract: what officers, dispatch and the RTCC see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from server.common.text import MULTI_LINE, SINGLE_LINE

Note = Annotated[str, Meta(max_length=2000, pattern=MULTI_LINE)]
Statement = Annotated[str, Meta(max_length=2000, pattern=MULTI_LINE,
                                description="A sentence a supervisor or court can read later")]
Action = Literal["stop", "arrest", "vehicle_recovered", "person_located", "none"]
Outcome = Literal["misread", "state_mismatch", "vehicle_mismatch", "no_longer_wanted", "entry_expired",
                  "action_completed"]


class ApsinStep(Struct, forbid_unknown_fields=True):
    """C.1/C.4: the plate's status checked in APSIN/NCIC, with the query's reference."""

    confirmed: bool
    reference: Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]
    note: Note | None = None


class VisualStep(Struct, forbid_unknown_fields=True):
    """C.2: the officer compared characters, state and vehicle with the captured image."""

    plate_matches: bool
    state_matches: bool
    vehicle_matches: bool
    note: Note | None = None


class DriverStep(Struct, forbid_unknown_fields=True):
    """C.3: the driver matched to the subject, or another legal basis for a stop."""

    matched: bool
    other_legal_basis: Statement | None = None


class Exigent(Struct, forbid_unknown_fields=True):
    justification: Statement


class ActionStep(Struct, forbid_unknown_fields=True):
    action: Action
    exigent: Exigent | None = None
    note: Note | None = None


class CloseStep(Struct, forbid_unknown_fields=True):
    outcome: Outcome
    note: Note | None = None


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
    awaiting: list[str]  # the next steps: "apsin", "visual", "driver", "action" or "close"
    apsin_confirmed: bool
    visual_confirmed: bool
    driver_result: str | None
    action: str | None
    exigent: bool
    outcome: str | None
    closed_at: datetime | None
    no_longer_of_interest: bool
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


class SuppressionPublic(Struct):
    id: int
    unit_id: int
    entry_id: int
    plate: str
    hit_id: int
    created_by: int
    created_at: datetime
    expires_at: datetime
    active: bool
    suppressed_reads: int
    last_suppressed_at: datetime | None
    lifted_at: datetime | None
    lifted_by: int | None
    lifted_reason: str | None


class SuppressionList(Struct):
    suppressions: list[SuppressionPublic]
    count: int


class SuppressionLift(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=3, max_length=500, pattern=MULTI_LINE)]


encode = msgspec.json.Encoder().encode
