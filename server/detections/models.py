"""Tables for plate reads and their images."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from server.db import UtcDateTime, utcnow


class Detection(SQLModel, table=True):
    """One read by a dash camera; its id is chosen by the camera so a resend is recognised."""

    __table_args__ = (Index("ix_detection_plate_captured", "plate", "captured_at"),)

    id: str = Field(primary_key=True, max_length=36)
    camera_id: str = Field(foreign_key="camera.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    plate: str = Field(max_length=8)
    state: str | None = Field(default=None, max_length=2)
    confidence: float
    captured_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    lat: float
    lon: float
    heading: float | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    vehicle_color: str | None = None
    vehicle_type: str | None = None
    vehicle_features: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    image_kinds: str = ""  # comma-separated kinds stored in detection_image, so listings need no join


class DetectionImage(SQLModel, table=True):
    """A plate crop or vehicle overview image of a detection."""

    __tablename__ = "detection_image"

    detection_id: str = Field(foreign_key="detection.id", primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=16)
    content_type: str
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # AES-256-GCM ciphertext under key_id
    # The image's own data key; null only for images stored before encryption at rest.
    key_id: str | None = Field(default=None, max_length=32, index=True)


class DataKey(SQLModel, table=True):
    """One image's AES-256 data key, wrapped by a key-encryption key; deleting it shreds the image for good."""

    __tablename__ = "data_key"

    id: str = Field(primary_key=True, max_length=32)
    kek_id: str = Field(max_length=16, index=True)
    wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
