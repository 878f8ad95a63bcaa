"""Who receives a hit over /ws/alerts, and what the hit tells them (api-v1 "Live alerts", requirements §3)."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
from support import AlertSocket, post_read, read

EVENT_ID = re.compile(r"^\d+-\d+$")








async def all_silent(sockets: list[AlertSocket], seconds: float) -> None:
    """Every socket stays quiet for the whole interval (checked side by side, not one after another)."""
    await asyncio.gather(*(s.nothing_within(seconds) for s in sockets))


def assert_hit_message(msg: dict[str, Any], answer_hit: dict[str, Any], entry: dict[str, Any], det_id: str) -> None:
    assert msg["type"] == "hit", msg
    assert EVENT_ID.match(msg["event_id"]), msg["event_id"]
    hit = msg["hit"]
    assert hit["id"] == answer_hit["id"]
    assert hit["match_kind"] == answer_hit["match_kind"]
    assert hit["entry"]["id"] == entry["id"] and hit["entry"]["plate"] == entry["plate"]
    assert hit["detection"]["id"] == det_id
    assert hit["status"] == "pending" and hit["read_count"] == 1


async def test_hit_reaches_unit_officer_rtcc_and_dispatch_once_each(world) -> None:
    """A hit is pushed exactly once to the originating unit's officer, the RTCC and dispatch."""
    entry = await world.add_entry("ABC1234")
    async with AsyncExitStack() as stack:
        socks = [await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
                 for a in (world.officer, world.rtcc, world.dispatcher)]
        body = read("ABC1234")
        answer = await post_read(world.camera, body)
        assert len(answer["hits"]) == 1
        msgs = await asyncio.gather(*(s.next() for s in socks))
        for msg in msgs:
            assert_hit_message(msg, answer["hits"][0], entry, body["id"])
            assert msg["hit"]["match_kind"] == "exact"
        assert len({m["event_id"] for m in msgs}) == 1, "one event, fanned out to every recipient"
        await all_silent(socks, 0.4)


async def test_officer_of_another_unit_receives_nothing(world) -> None:
    """An officer of another unit is not alerted to a hit raised by someone else's camera."""
    await world.add_entry("ABC1234")
    _, _, officer2 = await world.add_unit()
    async with AlertSocket.connect(world.server, officer2.token) as other, \
            AlertSocket.connect(world.server, world.officer.token) as own:
        await post_read(world.camera, read("ABC1234"))
        assert (await own.next())["type"] == "hit"
        await other.nothing_within(0.5)


async def test_read_matching_nothing_alerts_no_one(world) -> None:
    """A read of a plate on no list is stored (201, no hits) and nobody is alerted."""
    await world.add_entry("ABC1234")
    async with AsyncExitStack() as stack:
        socks = [await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
                 for a in (world.officer, world.rtcc, world.dispatcher)]
        resp = await world.camera.post("/api/v1/detections", json=read("XYZ9876"))
        assert resp.status_code == 201, resp.text
        assert resp.json()["hits"] == []
        await all_silent(socks, 0.5)


async def test_every_socket_of_one_rtcc_user_receives_the_hit(world) -> None:
    """An RTCC analyst signed in on two screens sees the hit on both."""
    await world.add_entry("ABC1234")
    async with AlertSocket.connect(world.server, world.rtcc.token) as a, \
            AlertSocket.connect(world.server, world.rtcc.token) as b:
        answer = await post_read(world.camera, read("ABC1234"))
        got = await asyncio.gather(a.next(), b.next())
        assert [m["type"] for m in got] == ["hit", "hit"]
        assert {m["hit"]["id"] for m in got} == {answer["hits"][0]["id"]}


MATCH_CASES = [
    # entry plate, entry state, read plate, read state, match kind, state mismatch
    pytest.param("ABC1234", "AK", "ABC1234", "AK", "exact", False, id="exact"),
    pytest.param("ABC1234", "AK", "ABC1234", None, "plate_only", False, id="plate_only-read-state-unknown"),
    pytest.param("ABC1234", "AK", "ABC1234", "WA", "plate_only", True, id="plate_only-state-differs"),
    pytest.param("ABC1234", "AK", "A8C1234", "AK", "ocr_equivalent", False, id="ocr-B-read-as-8"),
    pytest.param("KOD0123", "AK", "K0DO123", None, "ocr_equivalent", False, id="ocr-O-and-0-swapped"),
]


@pytest.mark.parametrize(("entry_plate", "entry_state", "plate", "state", "kind", "mismatch"), MATCH_CASES)
async def test_match_kind_end_to_end(world, entry_plate: str, entry_state: str, plate: str, state: str | None,
                                     kind: str, mismatch: bool) -> None:
    """The officer is told how the read matched (exact, plate only, OCR look-alike) and whether states differ."""
    entry = await world.add_entry(entry_plate, entry_state)
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        body = read(plate, state)
        answer = await post_read(world.camera, body)
        assert [(h["match_kind"], h["state_mismatch"]) for h in answer["hits"]] == [(kind, mismatch)]
        msg = await officer.next()
        assert_hit_message(msg, answer["hits"][0], entry, body["id"])
        assert msg["hit"]["match_kind"] == kind
        assert msg["hit"]["state_mismatch"] is mismatch
        assert msg["hit"]["detection"]["plate"] == plate
        assert msg["hit"]["detection"]["state"] == state
        assert msg["hit"]["entry"]["state"] == entry_state


async def test_hit_carries_entry_vehicle_and_descriptor_mismatch(world) -> None:
    """The hit shows the listed vehicle and flags that the camera saw a different kind of vehicle."""
    entry = await world.add_entry("ABC1234", vehicle={"year": 2019, "make": "HOND", "model": "CBR", "color": "RED",
                                                      "type": "MC"})
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        body = read("ABC1234", vehicle={"make": "HOND", "color": "red", "type": "SUV"})
        answer = await post_read(world.camera, body)
        msg = await officer.next()
    for hit in (answer["hits"][0], msg["hit"]):
        assert hit["entry"]["id"] == entry["id"]
        assert hit["entry"]["vehicle"] == {"year": 2019, "make": "HOND", "model": "CBR", "color": "RED", "type": "MC"}
        assert hit["detection"]["vehicle"]["type"] == "SUV"
        # Make agrees, colour differs only in case, model is unknown on the read: only the type is a mismatch.
        assert hit["descriptor_mismatches"] == [{"field": "type", "entry": "MC", "read": "SUV"}]


async def test_amber_alert_hit_is_top_priority_and_needs_driver_check(world) -> None:
    """A hit on an Amber alert is priority 1 and tells the officer to check the driver (policy C.3)."""
    await world.add_entry("ABC1234", category="amber_alert", source="AMBER",
                          subject="Child, 6, brown hair, last seen in a red hoodie")
    async with AlertSocket.connect(world.server, world.rtcc.token) as rtcc:
        answer = await post_read(world.camera, read("ABC1234"))
        msg = await rtcc.next()
    for hit in (answer["hits"][0], msg["hit"]):
        assert hit["priority"] == 1
        assert hit["category"] == "amber_alert"
        assert hit["requires_driver_check"] is True
        assert hit["entry"]["person_linked"] is True
        assert hit["entry"]["subject"] == "Child, 6, brown hair, last seen in a red hoodie"


def _metric(text: str, name: str) -> float:
    """The sum of every sample of a metric (all label sets)."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"{name} is not exported:\n{text}"
    return total


async def _metrics(world) -> str:
    resp = await world.camera.get("/metrics")
    assert resp.status_code == 200
    return resp.text


async def test_metrics_time_garbage_collector_pauses(world) -> None:
    """/metrics shows the server process's garbage-collector pauses by generation, which stall every request."""
    before = _metric(await _metrics(world), 'alpr_gc_pause_seconds_count{generation="2"}')
    gc.collect()  # the server runs in this process: a full collection of its interpreter
    after = await _metrics(world)
    # At least ours: the interpreter may also have collected on its own while serving the scrape.
    assert _metric(after, 'alpr_gc_pause_seconds_count{generation="2"}') >= before + 1
    assert _metric(after, 'alpr_gc_pause_seconds_sum{generation="2"}') > 0


async def test_metrics_count_hits_and_connected_sockets(world) -> None:
    """Operators see on /metrics how many hits were raised and how many alert sockets are connected."""
    await world.add_entry("ABC1234")
    before = await _metrics(world)
    assert _metric(before, "alpr_websockets_connected") == 0
    assert _metric(before, "alpr_detections_ingested_total") == 0
    async with AsyncExitStack() as stack:
        socks = [await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
                 for a in (world.officer, world.rtcc, world.dispatcher)]
        assert _metric(await _metrics(world), "alpr_websockets_connected") == 3
        await post_read(world.camera, read("ABC1234"))
        await post_read(world.camera, read("XYZ9876"))
        await asyncio.gather(*(s.next() for s in socks))
        during = await _metrics(world)
        assert _metric(during, "alpr_detections_ingested_total") == 2
        assert _metric(during, "alpr_hits_total") == 1
        assert 'alpr_push_seconds_count 1.0' in during
    deadline = time.monotonic() + 5
    while _metric(await _metrics(world), "alpr_websockets_connected") != 0:
        assert time.monotonic() < deadline, "closed sockets are still counted"
        await asyncio.sleep(0.05)
