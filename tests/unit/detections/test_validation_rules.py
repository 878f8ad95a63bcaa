"""Unit tests for server.detections.validation: the rules a read must pass beyond its schema (no I/O)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from server.detections.schemas import DetectionCreate
from server.detections.validation import (
    JPEG_MAGIC,
    PNG_MAGIC,
    CleanDetection,
    DetectionInvalid,
    clean_detection,
    decode_image,
    image_type,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LIMITS = {"now": NOW, "max_age": timedelta(days=15), "max_skew": timedelta(minutes=5), "max_image_bytes": 4096}
JPEG = JPEG_MAGIC + b"\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"
PNG = PNG_MAGIC + b"\x00\x00\x00\rIHDR" + b"\x00" * 32


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def detection(**change: Any) -> DetectionCreate:
    """A read as the schema decoder would hand it over, with some fields changed."""
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "plate": "ABC1234", "state": "AK", "confidence": 0.9,
                            "captured_at": NOW.isoformat(), "location": {"lat": 61.2, "lon": -149.9, "heading": 90}}
    body.update(change)
    return msgspec.convert(body, DetectionCreate, strict=False)


@pytest.mark.parametrize(("data", "expected"), [
    (JPEG, "image/jpeg"),
    (JPEG_MAGIC, "image/jpeg"),
    (PNG, "image/png"),
    (PNG_MAGIC, "image/png"),
    (b"GIF89a\x01\x00\x01\x00", None),
    (b"BM\x3a\x00\x00\x00", None),  # BMP
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None),
    (b"%PDF-1.7", None),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"\xff\xd8", None),  # a truncated JPEG marker
    (PNG_MAGIC[:-1], None),  # a truncated PNG signature
    (b"", None),
])
def test_image_type_recognises_only_jpeg_and_png(data: bytes, expected: str | None) -> None:
    """Only JPEG and PNG content is recognised, by its bytes and not by any claimed name."""
    assert image_type(data) == expected


@pytest.mark.parametrize(("data", "ctype"), [(JPEG, "image/jpeg"), (PNG, "image/png")])
def test_decode_image_returns_type_and_bytes(data: bytes, ctype: str) -> None:
    """A base64 JPEG or PNG decodes to its content type and exact bytes."""
    assert decode_image("plate", b64(data), 4096) == (ctype, data)


def test_decode_image_accepts_exactly_the_limit() -> None:
    """An image of exactly max_bytes is accepted; one byte more is refused."""
    exact = JPEG_MAGIC + b"\x00" * (1024 - len(JPEG_MAGIC))
    assert decode_image("vehicle", b64(exact), 1024)[1] == exact
    with pytest.raises(DetectionInvalid) as err:
        decode_image("vehicle", b64(exact + b"\x00"), 1024)
    assert err.value.field == "images.vehicle"


@pytest.mark.parametrize(("case", "b64text", "words"), [
    ("not base64", "this is not base64!!", "base64"),
    ("missing padding", "QUI", "base64"),
    ("url-safe alphabet", base64.urlsafe_b64encode(b"\xff\xd8\xff\xfe\xff\xfe").decode(), "base64"),
    ("GIF", b64(b"GIF89a" + b"\x00" * 20), "JPEG and PNG"),
    ("text", b64(b"hello"), "JPEG and PNG"),
    ("empty after decoding", "", "JPEG and PNG"),
    ("decoded size over the limit", b64(JPEG_MAGIC + b"\x00" * 4094), "4096"),
    ("base64 text far over the limit", "A" * 100_000, "4096"),
])
def test_decode_image_refusals_name_the_image(case: str, b64text: str, words: str) -> None:
    """Bad base64, a type other than JPEG/PNG, or an oversize image is refused naming images.<kind>."""
    with pytest.raises(DetectionInvalid) as err:
        decode_image("plate", b64text, 4096)
    assert err.value.field == "images.plate"
    assert words in err.value.detail, (case, err.value.detail)


def test_decode_image_refuses_oversize_text_before_decoding() -> None:
    """A huge base64 string is refused by its length alone, even if it is not valid base64 (no big allocation)."""
    with pytest.raises(DetectionInvalid) as err:
        decode_image("plate", "!" * 10_000, 1024)
    assert "larger than" in err.value.detail


BAD = [
    ("bad characters", {"plate": "AB$123"}, "plate"),
    ("too long", {"plate": "ABCDEFGHJ"}, "plate"),
    ("only separators", {"plate": " - . "}, "plate"),
    ("non-latin letters", {"plate": "АВС123"}, "plate"),  # Cyrillic look-alikes
    ("unknown state", {"state": "ZZ"}, "state"),
    ("state not a region", {"state": "Narnia"}, "state"),
    ("future beyond skew", {"captured_at": (NOW + timedelta(minutes=5, seconds=1)).isoformat()}, "captured_at"),
    ("far future", {"captured_at": "2999-01-01T00:00:00+00:00"}, "captured_at"),
    ("older than retention plus a day", {"captured_at": (NOW - timedelta(days=15, seconds=1)).isoformat()},
     "captured_at"),
    ("very old", {"captured_at": "1999-01-01T00:00:00Z"}, "captured_at"),
    ("GIF image", {"images": {"plate": b64(b"GIF89a")}}, "images.plate"),
    ("bad vehicle image", {"images": {"vehicle": "%%%"}}, "images.vehicle"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD, ids=[c[0] for c in BAD])
def test_clean_detection_refusals_name_the_field(case: str, change: dict[str, Any], field: str) -> None:
    """Each rule a read breaks is reported with the field it concerns and a sentence a person can act on."""
    with pytest.raises(DetectionInvalid) as err:
        clean_detection(detection(**change), **LIMITS)
    assert err.value.field == field
    assert err.value.detail
    assert str(err.value).startswith(f"{field}: ")


GOOD = [
    ("plain", {}, "ABC1234", "AK"),
    ("lowercase with hyphen", {"plate": "abc-123"}, "ABC123", "AK"),
    ("spaces and dots", {"plate": " ab c.12 3 "}, "ABC123", "AK"),
    ("full-width characters", {"plate": "ＡＢＣ１２３"}, "ABC123", "AK"),
    ("exactly eight characters", {"plate": "ABCD1234"}, "ABCD1234", "AK"),
    ("state null", {"state": None}, "ABC1234", None),
    ("state unknown token", {"state": "UNK"}, "ABC1234", None),
    ("state empty", {"state": ""}, "ABC1234", None),
    ("lowercase state", {"state": "ak"}, "ABC1234", "AK"),
    ("state by name", {"state": "Alaska"}, "ABC1234", "AK"),
    ("Canadian province", {"state": "ON"}, "ABC1234", "ON"),
    ("US territory", {"state": "PR"}, "ABC1234", "PR"),
    ("skew at the limit", {"captured_at": (NOW + timedelta(minutes=5)).isoformat()}, "ABC1234", "AK"),
    ("14 days old", {"captured_at": (NOW - timedelta(days=14)).isoformat()}, "ABC1234", "AK"),
    ("age at the limit", {"captured_at": (NOW - timedelta(days=15)).isoformat()}, "ABC1234", "AK"),
    ("another offset", {"captured_at": "2025-06-01T03:00:00-09:00"}, "ABC1234", "AK"),
]


@pytest.mark.parametrize(("case", "change", "plate", "state"), GOOD, ids=[c[0] for c in GOOD])
def test_clean_detection_accepts_and_normalises(case: str, change: dict[str, Any], plate: str,
                                                state: str | None) -> None:
    """Valid reads pass, with the plate upper-cased without separators and the state as a code or None."""
    d = detection(**change)
    clean = clean_detection(d, **LIMITS)
    assert isinstance(clean, CleanDetection)
    assert (clean.plate, clean.state) == (plate, state)
    assert clean.id == str(d.id) and clean.source is d
    assert clean.images == {}


def test_clean_detection_decodes_both_images() -> None:
    """A plate crop and a vehicle image are decoded into (content type, bytes) by kind; a null image is skipped."""
    clean = clean_detection(detection(images={"plate": b64(JPEG), "vehicle": b64(PNG)}), **LIMITS)
    assert clean.images == {"plate": ("image/jpeg", JPEG), "vehicle": ("image/png", PNG)}
    clean = clean_detection(detection(images={"plate": None, "vehicle": b64(PNG)}), **LIMITS)
    assert clean.images == {"vehicle": ("image/png", PNG)}


def test_clean_detection_reports_the_plate_before_the_state() -> None:
    """With several problems, the first in reading order (plate) is reported, so the message is stable."""
    with pytest.raises(DetectionInvalid) as err:
        clean_detection(detection(plate="$$", state="ZZ"), **LIMITS)
    assert err.value.field == "plate"


def test_clean_detection_uses_the_limits_it_is_given() -> None:
    """The age, skew and image limits come from the caller (settings), not from constants."""
    old = detection(captured_at=(NOW - timedelta(days=3)).isoformat())
    with pytest.raises(DetectionInvalid):
        clean_detection(old, **{**LIMITS, "max_age": timedelta(days=2)})
    ahead = detection(captured_at=(NOW + timedelta(seconds=30)).isoformat())
    with pytest.raises(DetectionInvalid):
        clean_detection(ahead, **{**LIMITS, "max_skew": timedelta(seconds=10)})
    with pytest.raises(DetectionInvalid):
        clean_detection(detection(images={"plate": b64(JPEG)}), **{**LIMITS, "max_image_bytes": 16})
