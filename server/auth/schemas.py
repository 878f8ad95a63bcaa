"""The accounts and devices contract of api-v1.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from server.common.text import MULTI_LINE, SINGLE_LINE

Role = Literal["officer", "dispatcher", "rtcc", "supervisor", "records", "auditor", "chief", "admin"]
Name = Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]
# Row ids are INTEGER columns, 32 bits on PostgreSQL: a larger number names no row, and sent to the database
# it fails there (a 500) instead of finding nothing (a 404). Every id a client sends is bounded by this.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Meta(ge=1, le=MAX_ROW_ID)]


class TokenRequest(Struct, forbid_unknown_fields=True):
    username: Name
    password: Annotated[str, Meta(min_length=1, max_length=256)]


class RefreshRequest(Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=4096)]


class TokenResponse(Struct):
    access_token: str
    expires_in: int
    refresh_token: str
    token_type: str = "bearer"


class DeviceTokenRequest(Struct, forbid_unknown_fields=True):
    camera_id: Annotated[str, Meta(min_length=1, max_length=32, pattern=SINGLE_LINE)]
    secret: Annotated[str, Meta(min_length=1, max_length=256)]


class DeviceTokenResponse(Struct):
    access_token: str
    expires_in: int
    token_type: str = "bearer"


class UserCreate(Struct, forbid_unknown_fields=True):
    username: Annotated[str, Meta(pattern=r"\A[a-zA-Z0-9._-]{2,64}\Z")]
    password: Annotated[str, Meta(min_length=12, max_length=256, description="At least 12 characters")]
    display_name: Name
    roles: Annotated[list[Role], Meta(min_length=1)]
    badge_number: Annotated[str, Meta(max_length=32, pattern=SINGLE_LINE)] | None = None
    unit_id: RowId | None = None


class UserPublic(Struct):
    id: int
    username: str
    display_name: str
    badge_number: str | None
    roles: list[str]
    unit_id: int | None
    is_active: bool
    training_completed_at: datetime | None
    access_granted: bool


class TrainingRecord(Struct, forbid_unknown_fields=True):
    completed_at: Annotated[datetime, Meta(tz=True)]


class AccessGrant(Struct, forbid_unknown_fields=True):
    granted: bool
    note: Annotated[str, Meta(min_length=3, max_length=500, pattern=MULTI_LINE,
                              description="Why access is granted or withdrawn")]


class UnitCreate(Struct, forbid_unknown_fields=True):
    call_sign: Annotated[str, Meta(pattern=r"\A[A-Za-z0-9-]{1,32}\Z")]


class UnitPublic(Struct):
    id: int
    call_sign: str


class CameraCreate(Struct, forbid_unknown_fields=True):
    unit_id: RowId
    label: Annotated[str, Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]


class CameraCreated(Struct):
    """The secret appears here once and is stored only as a hash."""

    camera_id: str
    secret: str
    unit_id: int
    label: str


class CameraUpdate(Struct, forbid_unknown_fields=True):
    enabled: bool


class CameraPublic(Struct):
    camera_id: str
    unit_id: int
    label: str
    enabled: bool
