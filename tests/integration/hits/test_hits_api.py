"""GET /api/v1/hits and /api/v1/hits/{id}: dispatch's queue, who sees which hits, and a hit's history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from support import Account, World, make_user, read


async def _user(world: World, username: str, roles: list[str], unit_id: int | None = None) -> Account:
    return await make_user(world.admin, world.client(), world.client, username, roles,
                           unit_id=unit_id)




async def raise_hit(camera: httpx.AsyncClient, plate: str) -> dict[str, Any]:
    resp = await camera.post("/api/v1/detections", json=read(plate))
    assert resp.status_code == 201, resp.text
    (hit,) = resp.json()["hits"]
    return hit


async def raise_hit_at(camera: httpx.AsyncClient, plate: str, captured: datetime) -> dict[str, Any]:
    resp = await camera.post("/api/v1/detections", json=read(plate, captured_at=captured.isoformat()))
    assert resp.status_code == 201, resp.text
    (hit,) = resp.json()["hits"]
    return hit


async def listing(account: Account, **params: Any) -> dict[str, Any]:
    resp = await account.client.get("/api/v1/hits", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def seeded(world: World) -> tuple[dict[str, dict[str, Any]], int, Account]:
    """Hits of several priorities from two units, raised in a known order."""
    await world.add_entry("PLT5555", category="stolen_plate")                   # priority 5
    await world.add_entry("VEH4444", category="stolen_vehicle")                 # priority 4
    await world.add_entry("AMB1111", category="amber_alert", source="AMBER")    # priority 1
    await world.add_entry("VEH4445", category="stolen_vehicle")
    await world.add_entry("OTH4446", category="stolen_vehicle")
    unit2, camera2, officer2 = await world.add_unit()
    hits = {}
    for camera, plate in ((world.camera, "PLT5555"), (world.camera, "VEH4444"), (camera2, "OTH4446"),
                          (world.camera, "AMB1111"), (world.camera, "VEH4445")):
        hits[plate] = await raise_hit(camera, plate)
    return hits, unit2, officer2


async def test_pending_queue_is_by_priority_then_oldest_first(world) -> None:
    """Dispatch works the pending queue most urgent first, and among equals the one waiting longest."""
    hits, _, _ = await seeded(world)
    body = await listing(world.dispatcher, status="pending")
    assert [h["entry"]["plate"] for h in body["hits"]] == ["AMB1111", "VEH4444", "OTH4446", "VEH4445", "PLT5555"]
    assert [h["priority"] for h in body["hits"]] == [1, 4, 4, 4, 5]
    assert body["count"] == 5
    assert [h["id"] for h in body["hits"]][0] == hits["AMB1111"]["id"]
    assert all(h["status"] == "pending" for h in body["hits"])
    page = await listing(world.dispatcher, status="pending", limit=2, offset=1)
    assert [h["entry"]["plate"] for h in page["hits"]] == ["VEH4444", "OTH4446"] and page["count"] == 5
    assert (await listing(world.dispatcher, status="closed")) == {"hits": [], "count": 0}


async def test_listing_without_status_is_newest_first(world) -> None:
    """The plain hit list shows the latest hit on top."""
    await seeded(world)
    body = await listing(world.rtcc)
    assert [h["entry"]["plate"] for h in body["hits"]] == ["VEH4445", "AMB1111", "OTH4446", "VEH4444", "PLT5555"]


async def test_officer_sees_only_own_units_hits(world) -> None:
    """An officer lists and opens the hits of their own unit only; another unit's are refused."""
    hits, unit2, officer2 = await seeded(world)
    own = await listing(world.officer, status="pending")
    assert [h["entry"]["plate"] for h in own["hits"]] == ["AMB1111", "VEH4444", "VEH4445", "PLT5555"]
    assert {h["unit_id"] for h in own["hits"]} == {world.unit_id} and own["count"] == 4
    assert (await listing(world.officer, unit_id=world.unit_id))["count"] == 4
    theirs = await listing(officer2)
    assert [h["id"] for h in theirs["hits"]] == [hits["OTH4446"]["id"]]

    resp = await world.officer.client.get(f"/api/v1/hits/{hits['OTH4446']['id']}")
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "forbidden" and resp.json()["detail"]
    resp = await world.officer.client.get("/api/v1/hits", params={"unit_id": unit2})
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "forbidden"
    resp = await world.officer.client.get(f"/api/v1/hits/{hits['VEH4444']['id']}")
    assert resp.status_code == 200, resp.text


async def test_dispatch_and_rtcc_see_every_units_hits(world) -> None:
    """Dispatch and the RTCC see the hits of all units, and can narrow the list to one unit."""
    hits, unit2, _ = await seeded(world)
    for account in (world.dispatcher, world.rtcc):
        assert (await listing(account, status="pending"))["count"] == 5
        only2 = await listing(account, unit_id=unit2)
        assert [h["id"] for h in only2["hits"]] == [hits["OTH4446"]["id"]]
        resp = await account.client.get(f"/api/v1/hits/{hits['OTH4446']['id']}")
        assert resp.status_code == 200, resp.text


async def test_hit_detail_has_its_history_and_reads(world) -> None:
    """Opening a hit shows the hit, its 'created' event and the read that raised it."""
    entry = await world.add_entry("ABC1234")
    body = read("ABC1234", vehicle={"make": "TOYT", "color": "BLK", "type": "PK"})
    resp = await world.camera.post("/api/v1/detections", json=body)
    (hit,) = resp.json()["hits"]
    resp = await world.officer.client.get(f"/api/v1/hits/{hit['id']}")
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail["hit"]["id"] == hit["id"] and detail["hit"]["entry"]["id"] == entry["id"]
    assert detail["hit"]["detection"]["id"] == body["id"]
    assert detail["hit"]["detection"]["vehicle"]["make"] == "TOYT"
    assert detail["hit"]["detection"]["camera_id"] == world.camera_id
    assert detail["hit"] == hit, "the hit reads back exactly as the camera's answer gave it"
    assert detail["reads"] == [body["id"]]
    (created,) = detail["events"]
    assert created["kind"] == "created"
    assert created["data"] == {"detection_id": body["id"], "match_kind": "exact"}
    assert created["at"].endswith(("+00:00", "Z"))


async def test_capture_time_reads_back_as_the_same_instant(world) -> None:
    """A read stamped in Alaska time (-09:00) shows the same moment when the hit is opened later."""
    await world.add_entry("ABC1234")
    captured = datetime.now(timezone(timedelta(hours=-9))).replace(microsecond=0) - timedelta(minutes=5)
    hit = await raise_hit_at(world.camera, "ABC1234", captured)
    assert datetime.fromisoformat(hit["detection"]["captured_at"]) == captured
    detail = (await world.dispatcher.client.get(f"/api/v1/hits/{hit['id']}")).json()
    assert datetime.fromisoformat(detail["hit"]["last_read_at"]) == captured
    assert datetime.fromisoformat(detail["hit"]["detection"]["captured_at"]) == captured


async def test_unknown_hit_is_404_in_error_shape(world) -> None:
    """Asking for a hit that does not exist says so in the usual error shape."""
    resp = await world.dispatcher.client.get("/api/v1/hits/999999")
    assert resp.status_code == 404
    body = resp.json()
    assert body["error"] == "not_found" and "999999" in body["detail"]


async def test_hits_are_for_alpr_users_only(world) -> None:
    """A dash camera, or an account with no hit-reading role (records clerk), cannot list hits."""
    await world.add_entry("ABC1234")
    await raise_hit(world.camera, "ABC1234")
    clerk = await _user(world, "records1", ["records"])
    for client in (world.camera, clerk.client):
        resp = await client.get("/api/v1/hits")
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "forbidden"
    resp = await world.client().get("/api/v1/hits")
    assert resp.status_code == 401


async def test_bad_status_filter_is_422(world) -> None:
    """A status that does not exist is refused with a message naming the parameter, not a 500."""
    resp = await world.dispatcher.client.get("/api/v1/hits", params={"status": "maybe"})
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"] in ("validation_error", "bad_request")
    assert "status" in resp.json()["detail"]
