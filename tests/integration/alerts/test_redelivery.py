"""A hit its unit does not acknowledge is re-sent to the unit and escalated to the RTCC and supervisors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support import Account, AlertSocket, World, make_user, post_read, read, running_server

RESEND_SECONDS = 0.3
MAX_RESENDS = 2


@pytest.fixture
async def world(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """The usual world, on a server that wants acks within 0.3 s and re-sends at most twice."""
    async with running_server(tmp_path, database_url, redis_url, ack_resend_seconds=RESEND_SECONDS,
                              ack_max_resends=MAX_RESENDS) as srv, World.create(srv) as w:
        yield w


async def supervisor(world: World) -> Account:
    return await make_user(world.admin, world.client(), world.client, "sgt1", ["supervisor"])


@asynccontextmanager
async def sockets(world: World, *accounts: Account) -> AsyncIterator[list[AlertSocket]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(AlertSocket.connect(world.server, a.token)) for a in accounts]


async def raise_hit(world: World, plate: str = "ABC1234") -> dict[str, Any]:
    await world.add_entry(plate)
    (hit,) = (await post_read(world.camera, read(plate)))["hits"]
    return hit


async def ack(sock: AlertSocket, event_id: str) -> None:
    await sock.ws.send(json.dumps({"type": "ack", "event_id": event_id}))


def assert_escalation(msg: dict[str, Any], world: World, hit: dict[str, Any], event_id: str) -> None:
    assert msg["type"] == "escalation", msg
    assert msg["reason"] == "unacknowledged"
    assert msg["recipient"] == f"unit:{world.unit_id}"
    assert msg["unacknowledged_event_id"] == event_id
    assert msg["waited_seconds"] == RESEND_SECONDS
    assert msg["hit"]["id"] == hit["id"]
    assert msg["event_id"] != event_id, "an escalation is an event of its own"


async def test_unacked_hit_is_resent_twice_then_no_more_and_escalated_once(world) -> None:
    """Unacked: re-sent with its own event id as resent 1 then 2, no more; RTCC and supervisor escalated once."""
    sgt = await supervisor(world)
    async with sockets(world, world.officer, world.rtcc, sgt, world.dispatcher) as (mdt, rtcc, sup, dispatch):
        hit = await raise_hit(world)
        original = await mdt.next()
        received_at = time.monotonic()
        assert original["type"] == "hit" and original["hit"]["id"] == hit["id"] and "resent" not in original
        event_id = original["event_id"]
        assert (await rtcc.next())["event_id"] == event_id
        assert (await dispatch.next())["event_id"] == event_id

        for n in range(1, MAX_RESENDS + 1):
            again = await mdt.next(timeout=3)
            waited, received_at = time.monotonic() - received_at, time.monotonic()
            assert again["type"] == "hit" and again["event_id"] == event_id, again
            assert again["resent"] == n and again["hit"]["id"] == hit["id"]
            assert "replayed" not in again
            assert waited > RESEND_SECONDS * 0.6, f"re-send {n} came after only {waited:.3f} s"

        escalations = await asyncio.gather(rtcc.next(timeout=3), sup.next(timeout=3))
        for msg in escalations:
            assert_escalation(msg, world, hit, event_id)
        assert escalations[0]["event_id"] == escalations[1]["event_id"], "one escalation event for both"
        await asyncio.gather(*(s.nothing_within(RESEND_SECONDS * 4) for s in (mdt, rtcc, sup, dispatch)))


async def test_prompt_ack_means_no_resend_and_no_escalation(world) -> None:
    """An officer who acks the hit at once is not sent it again, and no one is escalated to."""
    sgt = await supervisor(world)
    async with sockets(world, world.officer, world.rtcc, sgt) as (mdt, rtcc, sup):
        hit = await raise_hit(world)
        msg = await mdt.next()
        await ack(mdt, msg["event_id"])
        assert (await rtcc.next())["hit"]["id"] == hit["id"]
        await asyncio.gather(*(s.nothing_within(RESEND_SECONDS * 4) for s in (mdt, rtcc, sup)))


async def test_ack_by_another_officer_of_the_unit_stops_resends(world) -> None:
    """Two officers in one car: the partner's ack settles the hit for both; nothing is re-sent or escalated."""
    sgt = await supervisor(world)
    partner = await make_user(world.admin, world.client(), world.client, "partner1", ["officer"],
                              unit_id=world.unit_id)
    async with sockets(world, world.officer, partner, world.rtcc, sgt) as (mdt, mdt2, rtcc, sup):
        hit = await raise_hit(world)
        mine, theirs = await asyncio.gather(mdt.next(), mdt2.next())
        assert mine["event_id"] == theirs["event_id"] and mine["hit"]["id"] == hit["id"]
        await ack(mdt2, theirs["event_id"])
        assert (await rtcc.next())["hit"]["id"] == hit["id"]
        await asyncio.gather(*(s.nothing_within(RESEND_SECONDS * 4) for s in (mdt, mdt2, rtcc, sup)))


async def test_ack_after_the_first_resend_stops_the_second(world) -> None:
    """Acked after the first re-send: no second one, and the escalation already made is not repeated."""
    sgt = await supervisor(world)
    async with sockets(world, world.officer, sgt) as (mdt, sup):
        hit = await raise_hit(world)
        original = await mdt.next()
        again = await mdt.next(timeout=3)
        assert again["event_id"] == original["event_id"] and again["resent"] == 1
        await ack(mdt, again["event_id"])
        assert_escalation(await sup.next(timeout=3), world, hit, original["event_id"])
        await asyncio.gather(mdt.nothing_within(RESEND_SECONDS * 4), sup.nothing_within(RESEND_SECONDS * 4))


async def test_resends_go_to_the_unit_only(world) -> None:
    """Another unit's officer hears nothing of this unit's re-sends or escalation."""
    _, _, other = await world.add_unit()
    async with sockets(world, world.officer, other) as (mdt, stranger):
        await raise_hit(world)
        original = await mdt.next()
        for n in range(1, MAX_RESENDS + 1):
            assert (await mdt.next(timeout=3))["resent"] == n
        assert original["type"] == "hit"
        await stranger.nothing_within(0.1)
