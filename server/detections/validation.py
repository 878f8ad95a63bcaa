"""Checks on a decoded detection that a schema cannot express: plate alphabet, region, time, images."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.common.plates import PlateError, parse_plate
from server.common.regions import RegionError, parse_region
from server.detections.schemas import DetectionCreate

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class CleanDetection:
    """A detection that passed every check, normalised for storage and matching."""

    source: DetectionCreate
    id: str
    plate: str
    state: str | None
    images: dict[str, tuple[str, bytes]]  # kind -> (content type, bytes)


class DetectionInvalid(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.detail = field, detail


def image_type(data: bytes) -> str | None:
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(PNG_MAGIC):
        return "image/png"
    return None


def decode_image(kind: str, b64: str, max_bytes: int) -> tuple[str, bytes]:
    # base64 grows data by 4/3; refuse oversize before decoding it.
    if len(b64) > (max_bytes * 4) // 3 + 4:
        raise DetectionInvalid(f"images.{kind}", f"image is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DetectionInvalid(f"images.{kind}", "not valid base64") from exc
    if len(data) > max_bytes:
        raise DetectionInvalid(f"images.{kind}", f"image is {len(data)} bytes; at most {max_bytes} are allowed")
    ctype = image_type(data)
    if ctype is None:
        raise DetectionInvalid(f"images.{kind}", "only JPEG and PNG images are accepted")
    return ctype, data


def clean_detection(d: DetectionCreate, *, now: datetime, max_age: timedelta, max_skew: timedelta,
                    max_image_bytes: int) -> CleanDetection:
    try:
        plate = parse_plate(d.plate)
    except PlateError as exc:
        raise DetectionInvalid("plate", str(exc)) from exc
    try:
        state = parse_region(d.state)
    except RegionError as exc:
        raise DetectionInvalid("state", str(exc)) from exc
    if d.captured_at > now + max_skew:
        raise DetectionInvalid("captured_at", f"{d.captured_at.isoformat()} is more than "
                               f"{int(max_skew.total_seconds())} s in the future; check the camera's clock")
    if d.captured_at < now - max_age:
        raise DetectionInvalid("captured_at", f"{d.captured_at.isoformat()} is older than the retention period "
                               f"plus one day ({max_age.days} days); it would be purged at once")
    images: dict[str, tuple[str, bytes]] = {}
    if d.images is not None:
        for kind in ("plate", "vehicle"):
            b64 = getattr(d.images, kind)
            if b64:
                images[kind] = decode_image(kind, b64, max_image_bytes)
    return CleanDetection(d, str(d.id), plate, state, images)
