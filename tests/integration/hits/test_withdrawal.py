"""An entry removed or expired: its open hits become "no longer of interest" at once, and whoever has them hears."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from support import Account, AlertSocket, World, post_read, read, running_server

APSIN_OK = {"confirmed": True, "reference": "APSIN-24-77812"}
VISUAL_OK = {"plate_matches": True, "state_matches": True, "vehicle_matches": True}
REMOVAL = {"reason": "Vehicle recovered by the owner; NCIC entry cleared"}


async def raise_hit(camera: httpx.AsyncClient, plate: str) -> dict[str, Any]:
    (hit,) = (await post_read(camera, read(plate)))["hits"]
    return hit


async def step(account: Account, hit_id: int, name: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    resp = await account.client.post(f"/api/v1/hits/{hit_id}/{name}", json=body)
    assert resp.status_code == expect, resp.text
    return resp.json()


async def detail(account: Account, hit_id: int) -> dict[str, Any]:
    resp = await account.client.get(f"/api/v1/hits/{hit_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def remove(world: World, entry_id: int) -> dict[str, Any]:
    resp = await world.admin.client.request("DELETE", f"/api/v1/hotlist/entries/{entry_id}", json=REMOVAL)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_removing_an_entry_closes_its_open_hits_and_tells_the_officer_at_once(world) -> None:
    """Open hits of a removed entry close as no_longer_wanted, flagged no longer of interest, pushed at once."""
    entry = await world.add_entry("ABC1234")
    other = await world.add_entry("XYZ9876")
    unit2, camera2, officer2 = await world.add_unit()
    pending = await raise_hit(world.camera, "ABC1234")
    confirmed = await raise_hit(camera2, "ABC1234")
    await step(world.dispatcher, confirmed["id"], "apsin", APSIN_OK)
    unrelated = await raise_hit(world.camera, "XYZ9876")

    async with AsyncExitStack() as stack:
        officer, officer_2, rtcc, dispatch = [
            await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
            for a in (world.officer, officer2, world.rtcc, world.dispatcher)]
        removed = await remove(world, entry["id"])
        assert removed["removed_at"] is not None
        # Pushed by the time the removal answers: the officer is told before anyone could re-read the list.
        msg = await officer.next(timeout=1)
        assert msg["type"] == "hit_update" and msg["step"] == "no_longer_of_interest", msg
        h = msg["hit"]
        assert h["id"] == pending["id"]
        assert (h["status"], h["outcome"], h["no_longer_of_interest"], h["awaiting"]) == (
            "closed", "no_longer_wanted", True, [])
        msg2 = await officer_2.next(timeout=1)
        assert msg2["step"] == "no_longer_of_interest" and msg2["hit"]["id"] == confirmed["id"]
        assert msg2["hit"]["outcome"] == "no_longer_wanted" and msg2["hit"]["apsin_confirmed"] is True
        for sock in (rtcc, dispatch):
            got = [await sock.next(timeout=1), await sock.next(timeout=1)]
            assert {m["hit"]["id"] for m in got} == {pending["id"], confirmed["id"]}
            assert {m["step"] for m in got} == {"no_longer_of_interest"}
        await asyncio.gather(*(s.nothing_within(0.3) for s in (officer, officer_2, rtcc, dispatch)))

    got = await detail(world.rtcc, pending["id"])
    event = got["events"][-1]
    assert event["kind"] == "no_longer_of_interest" and event["actor_id"] == world.admin.id
    assert event["actor_role"] and event["data"] == {"reason": "no_longer_wanted", "entry_id": entry["id"]}
    assert got["hit"]["closed_at"] is not None
    assert (await detail(world.rtcc, unrelated["id"]))["hit"]["status"] == "pending", "other entries untouched"
    assert other["id"] != entry["id"]

    # Nothing further happens on a withdrawn hit, and the plate no longer matches.
    refused = await step(world.officer, pending["id"], "visual", VISUAL_OK, 409)
    assert refused["error"] == "hit_closed"
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
    listed = await world.dispatcher.client.get("/api/v1/hits", params={"status": "pending"})
    assert [h["id"] for h in listed.json()["hits"]] == [unrelated["id"]]


async def test_hit_with_action_taken_stays_open_but_is_flagged(world) -> None:
    """A hit already acted on keeps its action and stays open, flagged no longer of interest, and is pushed."""
    entry = await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera, "ABC1234")
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    await step(world.officer, hit["id"], "action", {"action": "stop"})
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        await remove(world, entry["id"])
        msg = await officer.next(timeout=1)
        assert msg["type"] == "hit_update" and msg["step"] == "no_longer_of_interest"
        h = msg["hit"]
        assert (h["status"], h["action"], h["outcome"], h["no_longer_of_interest"]) == (
            "action_taken", "stop", None, True)
        assert h["closed_at"] is None and h["awaiting"] == ["close"]
    got = await detail(world.officer, hit["id"])
    assert got["events"][-1]["kind"] == "no_longer_of_interest"
    closed = await step(world.officer, hit["id"], "close", {"outcome": "action_completed"})
    assert closed["hit"]["status"] == "closed" and closed["hit"]["no_longer_of_interest"] is True


async def test_closed_hits_are_left_alone_when_their_entry_is_removed(world) -> None:
    """A hit closed before the removal keeps its outcome, gains no event and is not pushed again."""
    entry = await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera, "ABC1234")
    await step(world.rtcc, hit["id"], "close", {"outcome": "vehicle_mismatch"})
    before = await detail(world.officer, hit["id"])
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        await remove(world, entry["id"])
        await officer.nothing_within(0.4)
    after = await detail(world.officer, hit["id"])
    assert after == before
    assert after["hit"]["outcome"] == "vehicle_mismatch" and after["hit"]["no_longer_of_interest"] is False


async def test_removing_an_entry_twice_is_refused(world) -> None:
    """A second removal is 409 and withdraws nothing again."""
    entry = await world.add_entry("ABC1234")
    hit = await raise_hit(world.camera, "ABC1234")
    await remove(world, entry["id"])
    resp = await world.admin.client.request("DELETE", f"/api/v1/hotlist/entries/{entry['id']}", json=REMOVAL)
    assert resp.status_code == 409 and resp.json()["error"] == "already_removed", resp.text
    kinds = [e["kind"] for e in (await detail(world.officer, hit["id"]))["events"]]
    assert kinds == ["created", "no_longer_of_interest"]


async def test_expired_entry_closes_its_open_hits_and_pushes_them(database_url: str, redis_url: str,
                                                                  tmp_path: Path) -> None:
    """When an entry's expiry passes, the sweep closes its open hits as entry_expired and tells the unit."""
    async with running_server(tmp_path, database_url, redis_url, expiry_sweep_seconds=0.3) as srv, \
            World.create(srv) as world:
        expires = datetime.now(UTC) + timedelta(seconds=1.5)
        entry = await world.add_entry("ABC1234", expires_at=expires.isoformat())
        acted_entry = await world.add_entry("XYZ9876", expires_at=expires.isoformat())
        keeper = await world.add_entry("KEP1234")
        async with AlertSocket.connect(world.server, world.officer.token) as officer:
            hit = await raise_hit(world.camera, "ABC1234")
            acted = await raise_hit(world.camera, "XYZ9876")
            lasting = await raise_hit(world.camera, "KEP1234")
            await step(world.officer, acted["id"], "action", {"action": "none"})
            seen = [await officer.next() for _ in range(4)]
            assert [m["type"] for m in seen] == ["hit", "hit", "hit", "hit_update"]

            got = {}
            async with asyncio.timeout(3):
                while len(got) < 2:
                    msg = await officer.next()
                    assert msg["type"] == "hit_update" and msg["step"] == "no_longer_of_interest", msg
                    got[msg["hit"]["id"]] = msg["hit"]
            assert datetime.now(UTC) >= expires, "not before the entry expired"
            assert set(got) == {hit["id"], acted["id"]}
            h = got[hit["id"]]
            assert (h["status"], h["outcome"], h["no_longer_of_interest"]) == ("closed", "entry_expired", True)
            a = got[acted["id"]]
            assert (a["status"], a["outcome"], a["no_longer_of_interest"]) == ("action_taken", None, True)
            await officer.nothing_within(0.4)  # the next sweep find nothing more to do

        closed = await detail(world.officer, hit["id"])
        event = closed["events"][-1]
        assert event["kind"] == "no_longer_of_interest" and event["actor_id"] is None
        assert event["data"] == {"reason": "entry_expired", "entry_id": entry["id"]}
        assert [e["kind"] for e in closed["events"]].count("no_longer_of_interest") == 1
        assert (await detail(world.officer, lasting["id"]))["hit"]["status"] == "pending"
        assert (await post_read(world.camera, read("ABC1234")))["hits"] == [], "an expired entry matches nothing"
        assert acted_entry["id"] != keeper["id"]


async def test_step_recorded_at_the_moment_of_removal_does_not_keep_the_hit_open(world) -> None:
    """An APSIN confirmation racing the entry's removal never leaves the hit open and unflagged."""
    for n in range(10):
        plate = f"RAC{n:04d}"
        entry = await world.add_entry(plate)
        hit = await raise_hit(world.camera, plate)
        confirm, removal = await asyncio.gather(
            world.dispatcher.client.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK),
            world.admin.client.request("DELETE", f"/api/v1/hotlist/entries/{entry['id']}", json=REMOVAL))
        assert removal.status_code == 200, removal.text
        assert confirm.status_code in (200, 409), confirm.text
        if confirm.status_code == 409:
            assert confirm.json()["error"] in ("changed_meanwhile", "hit_closed"), confirm.text
        got = await detail(world.rtcc, hit["id"])
        h = got["hit"]
        assert (h["status"], h["outcome"], h["no_longer_of_interest"]) == ("closed", "no_longer_wanted", True), h
        assert h["apsin_confirmed"] is (confirm.status_code == 200)
        assert [e["kind"] for e in got["events"]].count("no_longer_of_interest") == 1


async def test_read_at_the_moment_of_removal_is_withdrawn_by_the_sweep(database_url: str, redis_url: str,
                                                                      tmp_path: Path) -> None:
    """A hit raised by a read racing the entry's removal is still closed as no_longer_wanted and pushed."""
    async with running_server(tmp_path, database_url, redis_url, expiry_sweep_seconds=0.3) as srv, \
            World.create(srv) as world:
        raised: list[int] = []
        for n in range(10):
            plate = f"ING{n:04d}"
            entry = await world.add_entry(plate)
            answer, removal = await asyncio.gather(
                world.camera.post("/api/v1/detections", json=read(plate)),
                world.admin.client.request("DELETE", f"/api/v1/hotlist/entries/{entry['id']}", json=REMOVAL))
            assert answer.status_code == 201 and removal.status_code == 200, (answer.text, removal.text)
            raised += [h["id"] for h in answer.json()["hits"]]
        async with asyncio.timeout(2):
            while True:
                hits = [(await detail(world.rtcc, hit_id))["hit"] for hit_id in raised]
                if all(h["no_longer_of_interest"] for h in hits):
                    break
                await asyncio.sleep(0.1)
        assert all((h["status"], h["outcome"]) == ("closed", "no_longer_wanted") for h in hits), hits


async def test_step_on_an_expired_entry_before_the_sweep_ends_the_hit_instead(database_url: str, redis_url: str,
                                                                              tmp_path: Path) -> None:
    """A step on a hit whose entry expired since the last sweep closes it as entry_expired (409), never acts on it."""
    async with running_server(tmp_path, database_url, redis_url, expiry_sweep_seconds=3600) as srv, \
            World.create(srv) as world:
        expires = datetime.now(UTC) + timedelta(seconds=1)
        await world.add_entry("ABC1234", expires_at=expires.isoformat())
        hit = await raise_hit(world.camera, "ABC1234")
        await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
        async with AlertSocket.connect(world.server, world.officer.token) as officer:
            refused = await step(world.officer, hit["id"], "visual", VISUAL_OK, expect=409)
            assert refused["error"] == "hit_closed" and "entry_expired" in refused["detail"]
            msg = await officer.next()
            assert (msg["type"], msg["step"], msg["hit"]["outcome"]) == ("hit_update", "no_longer_of_interest",
                                                                          "entry_expired")
        assert (await detail(world.officer, hit["id"]))["hit"]["status"] == "closed"


async def test_read_of_an_entry_removed_in_the_database_but_still_indexed_raises_no_hit(world) -> None:
    """The database decides: an entry removed but still in the Redis index (the moment after the commit) raises no hit."""
    listed = await world.add_entry("ABC1234")
    async with world.server.resources.sessions() as session:
        await session.execute(text("UPDATE hotlist_entry SET removed_at = CURRENT_TIMESTAMP, removed_reason = 'test' "
                                   "WHERE id = :id"), {"id": listed["id"]})
        await session.commit()
    assert (await post_read(world.camera, read("ABC1234")))["hits"] == []
