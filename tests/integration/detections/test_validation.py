"""Ingest validation: bad input is a 4xx naming the field (never a 500, nothing stored); good edge cases are kept."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import now_iso, read

from server.detections.evidence import load_image
from server.detections.models import Detection, DetectionImage


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG, built by hand (signature, IHDR, IDAT, IEND with CRCs)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x80\x80\x80"))
            + chunk(b"IEND", b""))


def tiny_jpeg() -> bytes:
    """A valid 1x1 grey baseline JPEG: one quant table, one-code Huffman tables, one block coded as DC 0 + EOB."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 1, 1, 1) + b"\x01\x11\x00"
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0
    dht = b"\xff\xc4" + struct.pack(">H", 2 + 2 * 17 + 2) + b"\x00" + one_code + b"\x10" + one_code
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + b"\x3f" + b"\xff\xd9"


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
      b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def at(offset: timedelta) -> Callable[[], str]:
    """A capture time relative to when the test runs (not when the table was built)."""
    return lambda: now_iso(offset)


def resolve(change: dict[str, Any]) -> dict[str, Any]:
    return {k: (v() if callable(v) else v) for k, v in change.items()}


def loc(**kw: Any) -> dict[str, Any]:
    return {"lat": 61.2176, "lon": -149.8997, "heading": 270, **kw}


async def count(world, model=Detection, *ids: str) -> int:  # noqa: ANN001
    async with world.server.resources.sessions() as session:
        query = select(func.count()).select_from(model)
        if ids:
            query = query.where((Detection.id if model is Detection else DetectionImage.detection_id).in_(ids))
        return await session.scalar(query)


def assert_refusal(resp, status: int, error: str, field: str) -> None:  # noqa: ANN001
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert field in body["detail"], f"the detail should name {field!r}: {body['detail']}"


BAD_SINGLE = [
    ("bad plate characters", {"plate": "AB$123"}, "plate"),
    ("plate too long", {"plate": "ABCDEFGHJ"}, "plate"),
    ("plate far too long", {"plate": "A" * 40}, "plate"),
    ("empty plate", {"plate": ""}, "plate"),
    ("plate of separators only", {"plate": " - "}, "plate"),
    ("plate not a string", {"plate": 1234}, "plate"),
    ("unknown state code", {"state": "ZZ"}, "state"),
    ("latitude 91", {"location": loc(lat=91)}, "lat"),
    ("longitude -181", {"location": loc(lon=-181)}, "lon"),
    ("heading 360", {"location": loc(heading=360)}, "heading"),
    ("negative heading", {"location": loc(heading=-1)}, "heading"),
    ("location missing", {"location": None}, "location"),
    ("confidence 1.5", {"confidence": 1.5}, "confidence"),
    ("negative confidence", {"confidence": -0.1}, "confidence"),
    ("captured 10 minutes in the future", {"captured_at": at(timedelta(minutes=10))}, "captured_at"),
    ("captured 20 days ago", {"captured_at": at(-timedelta(days=20))}, "captured_at"),
    ("captured 15 days and an hour ago", {"captured_at": at(-timedelta(days=15, hours=1))}, "captured_at"),
    ("captured_at without offset", {"captured_at": lambda: datetime.now(UTC).replace(tzinfo=None).isoformat()},
     "captured_at"),
    ("captured_at not a time", {"captured_at": "yesterday"}, "captured_at"),
    ("id not a uuid", {"id": "not-a-uuid"}, "id"),
    ("non-base64 image", {"images": {"plate": "this is not base64!!"}}, "images.plate"),
    ("GIF image", {"images": {"vehicle": b64(GIF)}}, "images.vehicle"),
    ("image that is not a picture", {"images": {"plate": b64(b"hello world, plain text")}}, "images.plate"),
    ("image over 2 MiB", {"images": {"plate": b64(b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024))}}, "images.plate"),
    ("unknown image kind", {"images": {"face": b64(tiny_jpeg())}}, "face"),
    ("unknown extra field", {"driver_name": "John Doe"}, "driver_name"),
    ("unknown vehicle field", {"vehicle": {"make": "TOYT", "owner": "someone"}}, "owner"),
    ("too many vehicle features", {"vehicle": {"features": ["x"] * 21}}, "features"),
    ("NUL in vehicle make", {"vehicle": {"make": "TO\u0000YT"}}, "vehicle.make"),
    ("control character in a feature", {"vehicle": {"features": ["roof\u0007rack"]}}, "vehicle.features[0]"),
]


@pytest.mark.parametrize(("case", "change", "field"), BAD_SINGLE, ids=[c[0] for c in BAD_SINGLE])
async def test_bad_detection_is_refused_naming_the_field(world, case: str, change: dict[str, Any],
                                                         field: str) -> None:
    """Each kind of bad read is a 422 in the {error, detail} shape that names the field, and is not stored."""
    body = read("ABC1234")
    body.update(resolve(change))
    body = {k: v for k, v in body.items() if v is not None}
    resp = await world.camera.post("/api/v1/detections", json=body)
    assert_refusal(resp, 422, "validation_error", field)
    assert await count(world) == 0


async def test_small_image_limit_is_enforced(database_url: str, redis_url: str, tmp_path) -> None:  # noqa: ANN001
    """With ALPR_MAX_IMAGE_BYTES lowered, an image over the limit is refused and one under it is stored."""
    from support import World, running_server

    async with running_server(tmp_path, database_url, redis_url, max_image_bytes=2048) as srv, \
            World.create(srv) as world:
        big = b"\xff\xd8\xff" + b"\x00" * 2100
        resp = await world.camera.post("/api/v1/detections", json=read("ABC1234", images={"plate": b64(big)}))
        assert_refusal(resp, 422, "validation_error", "images.plate")
        assert "2048" in resp.json()["detail"]
        resp = await world.camera.post("/api/v1/detections", json=read("ABC1234", images={"plate": b64(tiny_jpeg())}))
        assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(("case", "raw", "status", "error"), [
    ("not JSON", b"{not json", 400, "malformed_json"),
    ("truncated JSON", b'{"id": "', 400, "malformed_json"),
    ("empty body", b"", 400, "malformed_json"),
    ("JSON array", b"[]", 422, "validation_error"),
    ("JSON string", b'"ABC1234"', 422, "validation_error"),
    ("null", b"null", 422, "validation_error"),
])
async def test_body_that_is_not_a_detection_object(world, case: str, raw: bytes, status: int, error: str) -> None:
    """Malformed JSON is a 400 malformed_json; JSON that is not an object is a 422; never a 500."""
    resp = await world.camera.post("/api/v1/detections", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"] == error
    assert resp.json()["detail"]


@pytest.mark.parametrize(("case", "body", "field"), [
    ("batch of 1,001", "BIG", "detections"),
    ("empty batch", {"detections": []}, "detections"),
    ("batch not a list", {"detections": {"id": "x"}}, "detections"),
    ("batch with an extra top-level field", {"detections": "OK", "camera": "x"}, "camera"),
])
async def test_bad_batch_shape_is_422(world, case: str, body: Any, field: str) -> None:
    """A batch over 1,000, an empty batch or a malformed batch is a 422 naming the batch; nothing is stored."""
    if body == "BIG":
        body = {"detections": [read("ABC1234") for _ in range(1001)]}
    elif body.get("detections") == "OK":
        body = {**body, "detections": [read("ABC1234")]}
    resp = await world.camera.post("/api/v1/detections", json=body)
    assert_refusal(resp, 422, "validation_error", field)
    assert await count(world) == 0


@pytest.mark.parametrize(("case", "change", "field"), [
    ("bad plate", {"plate": "AB$123"}, "detections[3].plate"),
    ("unknown state", {"state": "ZZ"}, "detections[3].state"),
    ("latitude 91", {"location": loc(lat=91)}, "detections[3].location.lat"),
    ("captured in the future", {"captured_at": at(timedelta(hours=1))}, "detections[3].captured_at"),
    ("GIF image", {"images": {"plate": b64(GIF)}}, "detections[3].images.plate"),
])
async def test_batch_with_one_bad_item_stores_nothing(world, case: str, change: dict[str, Any], field: str) -> None:
    """One bad read in a batch refuses the whole batch with a 422 whose errors name detections[3]; nothing is stored."""
    batch = [read(f"ABC{i}00") for i in range(6)]
    batch[3].update(resolve(change))
    resp = await world.camera.post("/api/v1/detections", json={"detections": batch})
    assert_refusal(resp, 422, "validation_error", field)
    errors = resp.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["index"] == 3
    assert errors[0]["detail"]
    assert await count(world) == 0


async def test_a_bad_read_never_fails_other_cameras_reads(world) -> None:
    """Reads posted at the same moment as a bad one (a NUL byte the database cannot store) are all stored."""
    bad = read("ABC1234", vehicle={"make": "TO\u0000YT", "features": ["\u0000"]})
    good = [read(f"GOOD{i}") for i in range(8)]
    answers = await asyncio.gather(world.camera.post("/api/v1/detections", json=bad),
                                   *(world.camera.post("/api/v1/detections", json=g) for g in good))
    assert answers[0].status_code == 422, answers[0].text
    assert "control characters" in answers[0].json()["detail"]
    assert [a.status_code for a in answers[1:]] == [201] * len(good), [a.text for a in answers[1:]]
    assert await count(world) == len(good)


async def test_batch_errors_list_every_bad_item(world) -> None:
    """A batch with several bad reads lists each of them, so the camera can fix or drop them all at once."""
    batch = [read(f"ABC{i}00") for i in range(5)]
    batch[1]["plate"] = "!!"
    batch[4]["state"] = "ZZ"
    resp = await world.camera.post("/api/v1/detections", json={"detections": batch})
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == ["detections[1].plate", "detections[4].state"]
    assert await count(world) == 0


async def stored(world, detection_id: str) -> Detection:  # noqa: ANN001
    async with world.server.resources.sessions() as session:
        row = await session.get(Detection, detection_id)
    assert row is not None, f"detection {detection_id} was not stored"
    return row


@pytest.mark.parametrize(("case", "change", "plate", "state"), [
    ("state unknown (null)", {"state": None}, "ABC1234", None),
    ("state says unknown", {"state": "UNK"}, "ABC1234", None),
    ("state missing", {"state": "DROP"}, "ABC1234", None),
    ("lowercase plate with hyphen", {"plate": "abc-123"}, "ABC123", "AK"),
    ("plate with spaces", {"plate": " abc 123 "}, "ABC123", "AK"),
    ("lowercase state", {"state": "ak"}, "ABC1234", "AK"),
    ("Canadian province", {"state": "BC"}, "ABC1234", "BC"),
    ("province by name", {"state": "Québec"}, "ABC1234", "QC"),
    ("captured 14 days ago", {"captured_at": at(-timedelta(days=14))}, "ABC1234", "AK"),
    ("captured 4 minutes ahead (clock skew)", {"captured_at": at(timedelta(minutes=4))}, "ABC1234", "AK"),
    ("other offset", {"captured_at": lambda: datetime.now(UTC).astimezone().isoformat()}, "ABC1234", "AK"),
    ("no heading", {"location": {"lat": -90, "lon": 180}}, "ABC1234", "AK"),
    ("full vehicle", {"vehicle": {"make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK",
                                  "features": ["roof rack"]}}, "ABC1234", "AK"),
])
async def test_valid_edge_cases_are_accepted_and_normalised(world, case: str, change: dict[str, Any], plate: str,
                                                            state: str | None) -> None:
    """Reads at the edges of what is valid are accepted (201) and stored normalised."""
    body = read("ABC1234")
    body.update(resolve(change))
    if body.get("state") == "DROP":
        del body["state"]
    resp = await world.camera.post("/api/v1/detections", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == body["id"]
    row = await stored(world, body["id"])
    assert (row.plate, row.state) == (plate, state)


@pytest.mark.parametrize("kind", ["plate", "vehicle"])
async def test_png_and_jpeg_images_are_stored(world, kind: str) -> None:
    """A JPEG plate crop and a PNG vehicle image (or the other way round) are stored with their type and bytes."""
    jpeg, png = tiny_jpeg(), tiny_png()
    other = "vehicle" if kind == "plate" else "plate"
    body = read("ABC1234", images={kind: b64(jpeg), other: b64(png)})
    resp = await world.camera.post("/api/v1/detections", json=body)
    assert resp.status_code == 201, resp.text
    async with world.server.resources.sessions() as session:
        images = {i.kind: i for i in await session.scalars(
            select(DetectionImage).where(DetectionImage.detection_id == body["id"]))}
    assert set(images) == {"plate", "vehicle"}
    # Stored encrypted (issue #5): the bytes come back through the image's own data key.
    keyring = world.server.resources.keyring
    async with world.server.resources.sessions() as session:
        opened = {k: await load_image(session, keyring, body["id"], k) for k in images}
    assert opened[kind] == ("image/jpeg", jpeg) and jpeg not in bytes(images[kind].data)
    assert opened[other] == ("image/png", png) and png not in bytes(images[other].data)
    assert sorted((await stored(world, body["id"])).image_kinds.split(",")) == ["plate", "vehicle"]


async def test_image_may_be_omitted_or_null(world) -> None:
    """A read with no images, or with a null image, is accepted and stores no image rows."""
    bodies = [read("ABC1234"), read("ABC1234", images={"plate": None}), read("ABC1234", images={})]
    for body in bodies:
        resp = await world.camera.post("/api/v1/detections", json=body)
        assert resp.status_code == 201, resp.text
    assert await count(world, DetectionImage) == 0


def test_hand_made_images_are_well_formed() -> None:
    """The test images are real PNG/JPEG streams, so acceptance tests exercise real files."""
    png = tiny_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    jpeg = tiny_jpeg()
    assert jpeg.startswith(b"\xff\xd8\xff\xdb") and jpeg.endswith(b"\xff\xd9")
    assert json.dumps(b64(png))  # base64 text travels in JSON
