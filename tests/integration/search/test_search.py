"""Investigative search and record views (api-v1 "Investigation"): purpose-bound, audited, OCR-aware."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from support import AlertSocket, World, make_user, now_iso, post_read, read

from server.audit.models import AuditEvent

WHY = {"case_number": "24-001234", "purpose": "stolen_vehicle",
       "purpose_detail": "Silver pickup taken overnight from a driveway on 5th Avenue"}
JPEG = b"\xff\xd8\xff\xe0" + b"crop" * 50


async def events(world: World, action: str) -> list[AuditEvent]:
    async with world.server.resources.sessions() as session:
        from sqlalchemy import select

        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                          .order_by(AuditEvent.id)))


async def search(world: World, expect: int = 200, **body: Any) -> dict[str, Any]:  # noqa: ANN401
    resp = await world.rtcc.client.post("/api/v1/search", json=body)
    assert resp.status_code == expect, resp.text
    return resp.json()


@pytest.mark.parametrize("missing", ["case_number", "purpose", "purpose_detail"])
async def test_search_without_case_or_purpose_is_422(world, missing: str) -> None:
    """A search that does not state its case number, purpose and purpose detail is refused with 422 naming it."""
    await post_read(world.camera, read("ABC1234"))
    body = {k: v for k, v in WHY.items() if k != missing} | {"plate": "ABC1234"}
    answer = await search(world, 422, **body)
    assert missing in answer["detail"]
    assert await events(world, "search") == []


@pytest.mark.parametrize(("purpose", "detail"), [("criminal_investigation", "investigation"),
                                                 ("stolen_vehicle", "just checking"), ("other", WHY["purpose_detail"])])
async def test_vague_or_unlisted_purpose_is_422(world, purpose: str, detail: str) -> None:
    """A vague purpose alone, or one not on the controlled list, is refused."""
    await search(world, 422, **{**WHY, "purpose": purpose, "purpose_detail": detail, "plate": "ABC1234"})


async def test_search_with_purpose_returns_results_and_audits_the_query(world) -> None:
    """With case and purpose: results newest first, and the audit event holds the full query and the count."""
    old = read("ABC1234", captured_at=now_iso(-timedelta(hours=2)))
    new = read("ABC1234", captured_at=now_iso(-timedelta(hours=1)))
    for body in (old, new, read("XYZ9876")):
        await post_read(world.camera, body)
    answer = await search(world, **WHY, plate="ABC1234", limit=10)
    assert answer["count"] == 2
    assert [r["id"] for r in answer["results"]] == [new["id"], old["id"]]
    (ev,) = await events(world, "search")
    assert (ev.actor_name, ev.actor_role, ev.case_number, ev.purpose) == ("rtcc1", "rtcc", "24-001234",
                                                                          "stolen_vehicle")
    assert ev.purpose_detail == WHY["purpose_detail"] and ev.client_address == "127.0.0.1"
    assert ev.details["query"] == {"plate": "ABC1234", "ocr_equivalent": True, "limit": 10, "offset": 0}
    assert ev.details["result_count"] == 2 and ev.subject == "plate:ABC1234"


async def test_wildcard_partial_and_ocr_equivalent(world) -> None:
    """`*` and `?` patterns match; a read differing only by OCR-confusable characters is found and marked so."""
    ids = {p: (await post_read(world.camera, body := read(p)))["id"] or body for p in
           ("ABC1234", "A8C1234", "ABD1299", "QQQ1111")}
    exact = await search(world, **WHY, plate="ABC1234")
    assert {r["plate"]: r["match_kind"] for r in exact["results"]} == {"ABC1234": "exact", "A8C1234": "ocr_equivalent"}
    strict = await search(world, **WHY, plate="ABC1234", ocr_equivalent=False)
    assert [r["plate"] for r in strict["results"]] == ["ABC1234"]
    wild = await search(world, **WHY, plate="AB?12*", ocr_equivalent=False)
    assert sorted(r["plate"] for r in wild["results"]) == ["ABC1234", "ABD1299"]
    partial = await search(world, **WHY, plate="*1234")
    assert sorted(r["plate"] for r in partial["results"]) == ["A8C1234", "ABC1234"]
    assert len(ids) == 4
    await search(world, 422, **WHY, plate="*")  # a dragnet, not a search


async def test_time_radius_vehicle_camera_and_paging(world) -> None:
    """Time window, radius around a point, vehicle attributes and features, camera, and paging all narrow."""
    here = {"lat": 61.2176, "lon": -149.8997, "heading": 90}
    far = {"lat": 61.30, "lon": -149.70, "heading": 90}
    truck = {"make": "TOYT", "color": "SIL", "type": "PK", "features": ["roof rack", "dent left door"]}
    a = read("ABC1234", location=here, vehicle=truck, captured_at=now_iso(-timedelta(hours=3)))
    b = read("ABC1235", location=far, vehicle=truck)
    c = read("ABC1236", location=here, vehicle={"make": "FORD", "color": "BLK"})
    for body in (a, b, c):
        await post_read(world.camera, body)
    near = await search(world, **WHY, near={"lat": 61.2176, "lon": -149.8997, "radius_m": 500})
    assert {r["id"] for r in near["results"]} == {a["id"], c["id"]}
    silver = await search(world, **WHY, vehicle={"color": "sil", "features": ["Roof Rack"]})
    assert {r["id"] for r in silver["results"]} == {a["id"], b["id"]}
    recent = await search(world, **WHY, vehicle={"make": "TOYT"}, **{"from": now_iso(-timedelta(hours=1))})
    assert [r["id"] for r in recent["results"]] == [b["id"]]
    cam = await search(world, **WHY, camera_id=world.camera_id, limit=2)
    assert cam["count"] == 3 and len(cam["results"]) == 2
    page2 = await search(world, **WHY, camera_id=world.camera_id, limit=2, offset=2)
    assert [r["id"] for r in page2["results"]] == [a["id"]]  # the oldest, last
    await search(world, 422, **WHY, **{"from": now_iso(), "to": now_iso(-timedelta(hours=1))})


async def test_detection_and_image_views_need_purpose_and_are_audited(world) -> None:
    """A detection or image view without case and purpose is 422; with them the decrypted image and an audit event."""
    body = read("ABC1234", images={"plate": base64.b64encode(JPEG).decode()})
    await post_read(world.camera, body)
    client = world.rtcc.client
    assert (await client.get(f"/api/v1/detections/{body['id']}")).status_code == 422
    vague = {**WHY, "purpose_detail": "investigation"}
    assert (await client.get(f"/api/v1/detections/{body['id']}", params=vague)).status_code == 422
    resp = await client.get(f"/api/v1/detections/{body['id']}", params=WHY)
    assert resp.status_code == 200 and resp.json()["plate"] == "ABC1234" and resp.json()["images"] == ["plate"]
    img = await client.get(f"/api/v1/detections/{body['id']}/images/plate", params=WHY)
    assert img.status_code == 200 and img.content == JPEG and img.headers["content-type"] == "image/jpeg"
    assert (await client.get(f"/api/v1/detections/{body['id']}/images/vehicle", params=WHY)).status_code == 404
    (view,) = await events(world, "detection_view")
    (image,) = await events(world, "image_view")
    assert view.subject == f"detection:{body['id']}" and image.subject == f"detection:{body['id']}/plate"
    assert image.case_number == "24-001234" and image.purpose == "stolen_vehicle"


async def test_account_without_grant_is_refused_recorded_and_flagged(world) -> None:
    """Access outside the account's grant is a 403, written to the audit trail and flagged for review."""
    anon = world.client()
    outsider = await make_user(world.admin, anon, world.client, "nogrant1", ["rtcc"], granted=False)
    resp = await outsider.client.post("/api/v1/search", json={**WHY, "plate": "ABC1234"})
    assert resp.status_code == 403
    (denied,) = await events(world, "access_denied")
    assert denied.actor_name == "nogrant1"
    auditor = await make_user(world.admin, anon, world.client, "auditor1", ["auditor"])
    flags = (await auditor.client.get("/api/v1/audit/flags")).json()
    assert [f["kind"] for f in flags["flags"]] == ["outside_grant"] and flags["flags"][0]["actor_name"] == "nogrant1"


async def test_flag_is_pushed_to_connected_supervisors_and_auditors(world) -> None:
    """A flag reaches every connected supervisor and auditor over /ws/alerts at once, and no one else."""
    anon = world.client()
    sergeant = await make_user(world.admin, anon, world.client, "sergeant1", ["supervisor"])
    auditor = await make_user(world.admin, anon, world.client, "auditor1", ["auditor"])
    await post_read(world.camera, read("ABC1234"))
    async with (AlertSocket.connect(world.server, sergeant.token) as sup_ws,
                AlertSocket.connect(world.server, auditor.token) as aud_ws,
                AlertSocket.connect(world.server, world.officer.token) as officer_ws,
                AlertSocket.connect(world.server, world.rtcc.token) as rtcc_ws):
        for _ in range(6):
            await search(world, **WHY, plate="ABC1234")
        got = [await sup_ws.next(), await aud_ws.next()]
        assert await officer_ws.nothing_within(0.5) and await rtcc_ws.nothing_within(0.1)
    for msg in got:
        assert msg["type"] == "audit_flag"
        assert msg["flag"]["kind"] == "repeated_plate_without_case" and msg["flag"]["actor_name"] == "rtcc1"
        assert "ABC1234" in msg["flag"]["detail"]
    listed = (await auditor.client.get("/api/v1/audit/flags")).json()["flags"]
    assert [f["id"] for f in listed] == [got[0]["flag"]["id"]]


async def test_repeated_plate_without_open_case_is_flagged(world) -> None:
    """One account searching one plate again and again under a number that is no open case raises one flag."""
    await post_read(world.camera, read("ABC1234"))
    for _ in range(6):
        await search(world, **WHY, plate="ABC1234")
    auditor = await make_user(world.admin, world.client(), world.client, "auditor1", ["auditor"])
    flags = (await auditor.client.get("/api/v1/audit/flags")).json()["flags"]
    assert [f["kind"] for f in flags] == ["repeated_plate_without_case"]
    assert "ABC1234" in flags[0]["detail"]
