"""Repeated reads of one plate by one unit fold into one hit (requirements §3), pushed as updates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from support import AlertSocket, World, post_read, read, running_server


async def test_second_read_by_same_unit_folds_into_first_hit(world) -> None:
    """A second pass of the same car updates the open hit (read count 2) instead of raising a new alarm."""
    await world.add_entry("ABC1234")
    async with AlertSocket.connect(world.server, world.officer.token) as officer, \
            AlertSocket.connect(world.server, world.rtcc.token) as rtcc:
        first_body, second_body = read("ABC1234"), read("ABC1234")
        first = (await post_read(world.camera, first_body))["hits"][0]
        for sock in (officer, rtcc):
            msg = await sock.next()
            assert msg["type"] == "hit" and msg["hit"]["id"] == first["id"]
        second = (await post_read(world.camera, second_body))["hits"][0]
        assert second["id"] == first["id"]
        assert second["read_count"] == 2
        # The hit still shows the read that raised it; the fold is recorded in its history.
        assert second["detection"]["id"] == first_body["id"]
        for sock in (officer, rtcc):
            msg = await sock.next()
            assert msg["type"] == "hit_update", msg
            assert msg["hit"]["id"] == first["id"] and msg["hit"]["read_count"] == 2
            await sock.nothing_within(0.3)

    resp = await world.dispatcher.client.get(f"/api/v1/hits/{first['id']}")
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail["hit"]["read_count"] == 2
    assert sorted(detail["reads"]) == sorted([first_body["id"], second_body["id"]])
    assert [e["kind"] for e in detail["events"]] == ["created", "read_folded"]
    assert detail["events"][1]["data"]["detection_id"] == second_body["id"]
    listing = (await world.dispatcher.client.get("/api/v1/hits", params={"status": "pending"})).json()
    assert [h["id"] for h in listing["hits"]] == [first["id"]]


async def test_resend_of_folded_read_is_not_counted_again(world) -> None:
    """A camera resending a read it already delivered does not bump the hit's read count."""
    await world.add_entry("ABC1234")
    await post_read(world.camera, read("ABC1234"))
    second_body = read("ABC1234")
    await post_read(world.camera, second_body)
    resend = await world.camera.post("/api/v1/detections", json=second_body)
    assert resend.status_code == 200, resend.text
    (hit,) = resend.json()["hits"]
    assert hit["read_count"] == 2
    detail = (await world.rtcc.client.get(f"/api/v1/hits/{hit['id']}")).json()
    assert len(detail["reads"]) == 2 and detail["hit"]["read_count"] == 2


async def test_reads_in_local_time_and_utc_fold_together(world) -> None:
    """A camera on Alaska time (-09:00) and one on UTC reading the car two minutes apart fold into one hit."""
    await world.add_entry("ABC1234")
    first_at = datetime.now(timezone(timedelta(hours=-9))) - timedelta(minutes=30)
    second_at = (first_at + timedelta(minutes=2)).astimezone(UTC)
    first = (await post_read(world.camera, read("ABC1234", captured_at=first_at.isoformat())))["hits"][0]
    second = (await post_read(world.camera, read("ABC1234", captured_at=second_at.isoformat())))["hits"][0]
    assert second["id"] == first["id"] and second["read_count"] == 2
    assert datetime.fromisoformat(second["last_read_at"]) == second_at
    assert datetime.fromisoformat(second["created_at"]) > datetime.fromisoformat(second["last_read_at"])


async def test_another_unit_reading_the_plate_gets_its_own_hit(world) -> None:
    """Two units passing the same listed car each get their own hit and alert."""
    await world.add_entry("ABC1234")
    _, camera2, officer2 = await world.add_unit()
    async with AlertSocket.connect(world.server, world.officer.token) as officer1, \
            AlertSocket.connect(world.server, officer2.token) as other, \
            AlertSocket.connect(world.server, world.rtcc.token) as rtcc:
        first = (await post_read(world.camera, read("ABC1234")))["hits"][0]
        assert (await officer1.next())["hit"]["id"] == first["id"]
        assert (await rtcc.next())["hit"]["id"] == first["id"]
        second = (await post_read(camera2, read("ABC1234")))["hits"][0]
        assert second["id"] != first["id"] and second["read_count"] == 1
        assert second["unit_id"] != first["unit_id"]
        for sock in (other, rtcc):
            msg = await sock.next()
            assert msg["type"] == "hit" and msg["hit"]["id"] == second["id"]
        await officer1.nothing_within(0.3)


async def test_read_after_fold_window_raises_new_hit(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """Once the fold window has passed, the same unit reading the plate again is a new alert."""
    async with running_server(tmp_path, database_url, redis_url, fold_window_seconds=1) as srv, \
            World.create(srv) as world:
        await world.add_entry("ABC1234")
        async with AlertSocket.connect(world.server, world.officer.token) as officer:
            first = (await post_read(world.camera, read("ABC1234")))["hits"][0]
            assert (await officer.next())["type"] == "hit"
            await asyncio.sleep(1.3)
            second = (await post_read(world.camera, read("ABC1234")))["hits"][0]
            assert second["id"] != first["id"] and second["read_count"] == 1
            msg = await officer.next()
            assert msg["type"] == "hit" and msg["hit"]["id"] == second["id"]
