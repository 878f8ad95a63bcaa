"""Misread suppression: an officer's misread keeps that plate from re-alerting their unit, until lifted or expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Account, AlertSocket, World, make_user, post_read, read, running_server

VISUAL_PLATE_WRONG = {"plate_matches": False, "state_matches": True, "vehicle_matches": True,
                      "note": "Plate is ABC1284; the camera misread the 8"}
LIFT = {"reason": "Entry updated with the correct plate; alert the unit again"}


async def raise_hit(camera: httpx.AsyncClient, plate: str = "ABC1234") -> dict[str, Any]:
    (hit,) = (await post_read(camera, read(plate)))["hits"]
    return hit


async def close_as_misread(account: Account, hit_id: int) -> dict[str, Any]:
    resp = await account.client.post(f"/api/v1/hits/{hit_id}/close",
                                     json={"outcome": "misread", "note": "Plate on the car is ABC1284"})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def suppressions(account: Account, **params: Any) -> dict[str, Any]:
    resp = await account.client.get("/api/v1/suppressions", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def lift(account: Account, suppression_id: int, body: Any = LIFT) -> httpx.Response:  # noqa: ANN401
    return await account.client.request("DELETE", f"/api/v1/suppressions/{suppression_id}", json=body)


async def supervisor(world: World) -> Account:
    return await make_user(world.admin, world.client(), world.client, "sgt1", ["supervisor"])


async def events(account: Account, hit_id: int) -> list[dict[str, Any]]:
    resp = await account.client.get(f"/api/v1/hits/{hit_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["events"]


async def test_officers_misread_suppresses_the_plate_for_their_unit(world) -> None:
    """After an officer closes a hit as a misread, the same plate read by that unit raises no hit and no alert."""
    entry = await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    started = datetime.now(UTC)
    closed = await close_as_misread(world.officer, hit["id"])
    assert closed["hit"]["outcome"] == "misread"
    suppressed = next(e for e in closed["events"] if e["kind"] == "suppressed")
    assert suppressed["actor_id"] == world.officer.id and suppressed["actor_role"] == "officer"
    assert suppressed["data"] == {"entry_id": entry["id"], "plate": "ABC1234", "hours": 12}

    async with AlertSocket.connect(world.server, world.officer.token) as officer, \
            AlertSocket.connect(world.server, world.rtcc.token) as rtcc:
        for _ in range(2):
            answer = await post_read(world.camera, read("ABC1234"))
            assert answer["hits"] == [], answer
        await asyncio.gather(officer.nothing_within(0.3), rtcc.nothing_within(0.3))

    body = await suppressions(world.officer)
    assert body["count"] == 1
    (s,) = body["suppressions"]
    assert (s["unit_id"], s["entry_id"], s["plate"], s["hit_id"], s["created_by"]) == (
        world.unit_id, entry["id"], "ABC1234", hit["id"], world.officer.id)
    assert s["active"] is True and s["suppressed_reads"] == 2 and s["last_suppressed_at"] is not None
    assert s["lifted_at"] is None and s["lifted_by"] is None and s["lifted_reason"] is None
    expires = datetime.fromisoformat(s["expires_at"])
    assert timedelta(hours=11.9) < expires - started < timedelta(hours=12, minutes=1), "one shift"
    assert (await suppressions(world.rtcc, active=True))["count"] == 1
    listed = await world.rtcc.client.get("/api/v1/hits", params={"status": "pending"})
    assert listed.json()["count"] == 0, "a suppressed read is not a hit anywhere"


async def test_visual_plate_mismatch_also_suppresses(world) -> None:
    """An officer's visual 'plate does not match' is a misread too, and suppresses the plate for the unit."""
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    resp = await world.officer.client.post(f"/api/v1/hits/{hit['id']}/visual", json=VISUAL_PLATE_WRONG)
    assert resp.status_code == 200, resp.text
    assert resp.json()["hit"]["outcome"] == "misread"
    assert [e["kind"] for e in resp.json()["events"]] == ["created", "visual_not_matched", "suppressed"]
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
    (s,) = (await suppressions(world.officer))["suppressions"]
    assert s["hit_id"] == hit["id"] and s["suppressed_reads"] == 1


@pytest.mark.parametrize("seen", [
    pytest.param({"plate_matches": True, "state_matches": False, "vehicle_matches": True}, id="state"),
    pytest.param({"plate_matches": True, "state_matches": True, "vehicle_matches": False}, id="vehicle"),
])
async def test_other_mismatches_do_not_suppress(world, seen: dict[str, bool]) -> None:
    """A state or vehicle mismatch is no misread: the plate still alerts the unit next time."""
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    resp = await world.officer.client.post(f"/api/v1/hits/{hit['id']}/visual", json=seen)
    assert resp.status_code == 200, resp.text
    assert "suppressed" not in [e["kind"] for e in resp.json()["events"]]
    assert (await suppressions(world.rtcc))["count"] == 0
    again = await raise_hit(world.camera)
    assert again["id"] != hit["id"] and again["status"] == "pending"


async def test_another_unit_still_gets_a_hit_on_the_suppressed_plate(world) -> None:
    """A suppression is the unit's own: another unit's camera reading the plate is alerted as usual."""
    await world.add_entry("ABC1234")
    unit2, camera2, officer2 = await world.add_unit()
    hit = await raise_hit(world.camera)
    await close_as_misread(world.officer, hit["id"])
    async with AlertSocket.connect(world.server, officer2.token) as other:
        second = await raise_hit(camera2)
        assert second["unit_id"] == unit2 and second["id"] != hit["id"]
        msg = await other.next()
        assert msg["type"] == "hit" and msg["hit"]["id"] == second["id"]
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
    (s,) = (await suppressions(world.rtcc))["suppressions"]
    assert s["suppressed_reads"] == 1, "the other unit's read is not counted against this unit's suppression"
    assert (await suppressions(officer2))["count"] == 0, "an officer lists their own unit's suppressions"
    assert (await suppressions(world.rtcc, unit_id=unit2))["count"] == 0
    resp = await officer2.client.get("/api/v1/suppressions", params={"unit_id": world.unit_id})
    assert resp.status_code == 403, resp.text


async def test_suppression_is_for_the_plate_as_read(world) -> None:
    """Another misreading of the same entry (an OCR look-alike) is a different plate and still alerts."""
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera, "A8C1234")
    assert hit["match_kind"] == "ocr_equivalent"
    await close_as_misread(world.officer, hit["id"])
    assert (await post_read(world.camera, read("A8C1234")))["hits"] == []
    exact = await raise_hit(world.camera, "ABC1234")
    assert exact["match_kind"] == "exact"


async def test_supervisor_lifting_a_suppression_makes_the_plate_alert_again(world) -> None:
    """A supervisor lifts a suppression with a reason; the next read hits again, and the hit's history says so."""
    sgt = await supervisor(world)
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    await close_as_misread(world.officer, hit["id"])
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
    (s,) = (await suppressions(sgt))["suppressions"]

    resp = await lift(sgt, s["id"])
    assert resp.status_code == 200, resp.text
    lifted = resp.json()
    assert lifted["active"] is False and lifted["lifted_by"] == sgt.id
    assert lifted["lifted_reason"] == LIFT["reason"] and lifted["lifted_at"] is not None
    assert lifted["suppressed_reads"] == 1

    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        again = await raise_hit(world.camera)
        assert again["id"] != hit["id"] and again["status"] == "pending"
        msg = await officer.next()
        assert msg["type"] == "hit" and msg["hit"]["id"] == again["id"]

    kinds = [e["kind"] for e in await events(sgt, hit["id"])]
    assert kinds == ["created", "closed", "suppressed", "suppression_lifted"]
    lifted_event = (await events(sgt, hit["id"]))[-1]
    assert lifted_event["actor_id"] == sgt.id and lifted_event["actor_role"] == "supervisor"
    assert lifted_event["data"] == {"suppression_id": s["id"], "reason": LIFT["reason"]}
    assert (await suppressions(sgt, active=True))["count"] == 0
    assert (await suppressions(sgt))["suppressions"][0]["lifted_reason"] == LIFT["reason"]

    resp = await lift(sgt, s["id"])
    assert resp.status_code == 409 and resp.json()["error"] == "already_lifted", resp.text


async def test_lifting_needs_a_supervisor_a_reason_and_a_real_suppression(world) -> None:
    """Only a supervisor may lift, with a reason; an unknown suppression is 404."""
    sgt = await supervisor(world)
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    await close_as_misread(world.officer, hit["id"])
    (s,) = (await suppressions(sgt))["suppressions"]
    for who in (world.officer, world.dispatcher, world.rtcc, world.admin):
        resp = await lift(who, s["id"])
        assert resp.status_code == 403 and resp.json()["error"] == "forbidden", (who.username, resp.text)
    for body, field in (({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "ok\x00"}, "reason"),
                        ({"reason": "Fixed", "by": "me"}, "by")):
        resp = await lift(sgt, s["id"], body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"] == "validation_error" and field in resp.json()["detail"], resp.text
    resp = await lift(sgt, 987654)
    assert resp.status_code == 404 and resp.json()["error"] == "not_found", resp.text
    (still,) = (await suppressions(sgt))["suppressions"]
    assert still["active"] is True and still["lifted_at"] is None
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []


@pytest.mark.parametrize("who", ["dispatcher", "rtcc", "supervisor"])
async def test_misread_closed_by_someone_other_than_the_officer_does_not_suppress(world, who: str) -> None:
    """Only the officer who looked at the car can call it a misread for their unit; dispatch's close suppresses nothing."""
    account = await supervisor(world) if who == "supervisor" else getattr(world, who)
    await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera)
    closed = await close_as_misread(account, hit["id"])
    assert closed["hit"]["outcome"] == "misread" and closed["events"][-1]["actor_role"] == who
    assert "suppressed" not in [e["kind"] for e in closed["events"]]
    assert (await suppressions(world.rtcc))["count"] == 0
    again = await raise_hit(world.camera)
    assert again["id"] != hit["id"]


async def test_suppression_ends_with_the_shift(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """Once its hours have passed, a suppression no longer holds reads back and is listed as inactive."""
    async with running_server(tmp_path, database_url, redis_url, suppression_hours=1.2 / 3600) as srv, \
            World.create(srv) as world:
        await world.add_entry("ABC1234")
        hit = await raise_hit(world.camera)
        await close_as_misread(world.officer, hit["id"])
        assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
        (s,) = (await suppressions(world.officer, active=True))["suppressions"]
        assert s["active"] is True
        await asyncio.sleep(max(0.0, (datetime.fromisoformat(s["expires_at"]) - datetime.now(UTC)).total_seconds())
                            + 0.1)
        again = await raise_hit(world.camera)
        assert again["id"] != hit["id"]
        assert (await suppressions(world.officer, active=True))["count"] == 0
        (s,) = (await suppressions(world.officer))["suppressions"]
        assert s["active"] is False and s["suppressed_reads"] == 1 and s["lifted_at"] is None
