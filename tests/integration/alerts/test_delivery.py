"""Alerts are never lost: replay after a reconnect, acks, `resume`, priority, and a client killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from support import SSL_CONTEXT, AlertSocket, RunningServer, World, make_user, post_read, read, running_server

from server.alerts.delivery import AlertEvent, DeliveryLog

SECRET_KEY = "in-process-servers-share-this-signing-key-0123456789"


def order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def hot_plates(world: World, count: int, prefix: str = "HK", category: str = "stolen_vehicle") -> list[str]:
    """`count` hot-list plates no two of which are OCR-equivalent (H and K are in no confusion class)."""
    plates = [f"{prefix}{n:04d}" for n in range(count)]
    for plate in plates:
        await world.add_entry(plate, category=category)
    return plates


async def ingest(camera: httpx.AsyncClient, plates: list[str]) -> list[dict[str, Any]]:
    """Read each plate in turn; the one hit each raised, as the ingest answer returned it."""
    hits = []
    for plate in plates:
        answer = await post_read(camera, read(plate))
        (hit,) = answer["hits"]
        hits.append(hit)
    return hits


async def send(sock: AlertSocket, **msg: Any) -> None:
    await sock.ws.send(json.dumps(msg))


async def ack(server: RunningServer, sock: AlertSocket, event_id: str) -> None:
    """Ack an event and wait until the server has recorded it (an ack has no answer)."""
    await send(sock, type="ack", event_id=event_id)
    user_id = sock.hello["user"]["id"]
    key = f"alpr:acked:{user_id}"
    deadline = time.monotonic() + 5
    while await server.resources.redis.zscore(key, event_id) is None:
        assert time.monotonic() < deadline, f"ack of {event_id} was never recorded"
        await asyncio.sleep(0.01)


async def until_replay_done(sock: AlertSocket, timeout: float = 5.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Everything before the next replay_done, and the replay_done itself."""
    got = []
    while True:
        msg = await sock.next(timeout)
        if msg["type"] == "replay_done":
            return got, msg
        got.append(msg)


def assert_replay_of(got: list[dict[str, Any]], hits: list[dict[str, Any]]) -> None:
    """Exactly these hits, each once, replayed, in the order they were raised (= event-id order)."""
    assert all(m["type"] == "hit" and m.get("replayed") is True for m in got), got
    assert [m["hit"]["id"] for m in got] == [h["id"] for h in hits]
    ids = [order(m["event_id"]) for m in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_reconnect_replays_all_fifty_missed_hits_after_the_last_ack(world) -> None:
    """An MDT that acked a hit and went away gets the 50 hits it missed, once each, in order, unasked."""
    plates = await hot_plates(world, 51)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        (first,) = await ingest(world.camera, plates[:1])
        msg = await mdt.next()
        assert msg["hit"]["id"] == first["id"] and "replayed" not in msg
        await ack(world.server, mdt, msg["event_id"])
    first_event = msg["event_id"]
    missed = await ingest(world.camera, plates[1:])
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        assert mdt.hello["resume_from"] == first_event
        got, done = await until_replay_done(mdt)
        assert_replay_of(got, missed)
        assert order(got[0]["event_id"]) > order(first_event)
        assert done == {"type": "replay_done", "count": 50, "truncated": False}
        await mdt.nothing_within(0.5)


async def test_explicit_resume_replays_all_fifty_missed_hits(world) -> None:
    """A client with no record on the server gets nothing unasked; `resume` after an id brings all 50 after it."""
    plates = await hot_plates(world, 51)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        (first,) = await ingest(world.camera, plates[:1])
        msg = await mdt.next()
        assert msg["hit"]["id"] == first["id"]
        await ack(world.server, mdt, msg["event_id"])
    last_seen = msg["event_id"]
    missed = await ingest(world.camera, plates[1:])
    # The unit's other MDT, never connected before: the server has no record of it, the client names the point.
    partner = await make_user(world.admin, world.client(), world.client, "officer1b", ["officer"],
                              unit_id=world.unit_id)
    async with AlertSocket.connect(world.server, partner.token) as mdt:
        await mdt.nothing_within(0.3)
        await send(mdt, type="resume", after=last_seen)
        got, done = await until_replay_done(mdt)
        assert_replay_of(got, missed)
        assert done == {"type": "replay_done", "count": 50, "truncated": False}
        await mdt.nothing_within(0.5)


async def test_acked_and_already_sent_events_are_not_replayed(world) -> None:
    """Acked hits are never replayed, unacked ones are even behind a newer ack, and `resume` skips what this
    socket was already sent."""
    plates = await hot_plates(world, 5)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        hits = await ingest(world.camera, plates)
        live = [await mdt.next() for _ in hits]
        assert [m["hit"]["id"] for m in live] == [h["id"] for h in hits]
        await ack(world.server, mdt, live[1]["event_id"])
        await ack(world.server, mdt, live[3]["event_id"])
    await _wait_sockets(world.server, 0)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        # Unasked: from before the oldest hit that connection was sent and not acked: hits 0, 2 and 4.
        assert order(mdt.hello["resume_from"]) < order(live[0]["event_id"])
        got, done = await until_replay_done(mdt)
        assert_replay_of(got, [hits[0], hits[2], hits[4]])
        assert done["count"] == 3
        # Asked for everything after hit 0: hits 1 and 3 were acked, hits 2 and 4 this socket already has.
        await send(mdt, type="resume", after=live[0]["event_id"])
        got, done = await until_replay_done(mdt)
        assert got == [] and done == {"type": "replay_done", "count": 0, "truncated": False}
        await mdt.nothing_within(0.3)


async def test_bad_event_ids_get_an_error_not_a_disconnect(world) -> None:
    """A `resume` or `ack` with an id that is not an event id is answered with bad_message; the socket lives on."""
    plates = await hot_plates(world, 2)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        (hit,) = await ingest(world.camera, plates[:1])
        live = await mdt.next()
        assert live["hit"]["id"] == hit["id"]
        for bad in ("not-an-id", "", "12", "1-2-3", "-1-0", "99999999999999999999-0"):
            await send(mdt, type="resume", after=bad)
            msg = await mdt.next()
            assert msg["type"] == "error" and msg["error"] == "bad_message", (bad, msg)
            await send(mdt, type="ack", event_id=bad)
            msg = await mdt.next()
            assert msg["type"] == "error" and msg["error"] == "bad_message", (bad, msg)
        await send(mdt, type="resume")  # no `after` at all
        msg = await mdt.next()
        assert msg["type"] == "error" and msg["error"] == "bad_message", msg
        # Still connected and working: a good resume answers, and a new hit arrives live.
        await send(mdt, type="resume", after="0-0")
        got, done = await until_replay_done(mdt)
        assert got == [] and done["count"] == 0, "the one hit was sent live already"
        (second,) = await ingest(world.camera, plates[1:])
        msg = await mdt.next()
        assert msg["type"] == "hit" and msg["hit"]["id"] == second["id"] and "replayed" not in msg
    # No bad id was recorded as an ack: the next connection replays both unacked hits, from before the first.
    await _wait_sockets(world.server, 0)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        assert order(mdt.hello["resume_from"]) < order(live["event_id"])
        got, _ = await until_replay_done(mdt)
        assert [m["hit"]["id"] for m in got] == [hit["id"], second["id"]]


async def test_amber_alert_is_replayed_before_older_stolen_vehicle_hits(world) -> None:
    """The most urgent missed hit comes first on reconnect, then the rest in the order they were raised."""
    stolen = await hot_plates(world, 4)
    (amber,) = await hot_plates(world, 1, prefix="HX", category="amber_alert")
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        await ingest(world.camera, stolen[:1])
        await ack(world.server, mdt, (await mdt.next())["event_id"])
    stolen_hits = await ingest(world.camera, stolen[1:])
    (amber_hit,) = await ingest(world.camera, [amber])
    assert amber_hit["priority"] < stolen_hits[0]["priority"]
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        got, done = await until_replay_done(mdt)
        assert [m["hit"]["id"] for m in got] == [amber_hit["id"], *(h["id"] for h in stolen_hits)]
        assert got[0]["hit"]["entry"]["category"] == "amber_alert"
        assert order(got[0]["event_id"]) > max(order(m["event_id"]) for m in got[1:]), "the amber hit is the newest"
        assert all(m.get("replayed") is True for m in got)
        assert done["count"] == 4
        await mdt.nothing_within(0.3)


async def test_hits_left_unacked_behind_a_newer_ack_are_replayed_next_time(world) -> None:
    """Acking only the amber alert shown first does not lose the older stolen hits: the next reconnect replays them."""
    stolen = await hot_plates(world, 4)
    (amber,) = await hot_plates(world, 1, prefix="HX", category="amber_alert")
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        await ingest(world.camera, stolen[:1])
        await ack(world.server, mdt, (await mdt.next())["event_id"])
    stolen_hits = await ingest(world.camera, stolen[1:])
    await ingest(world.camera, [amber])
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        got, _ = await until_replay_done(mdt)
        await ack(world.server, mdt, got[0]["event_id"])  # only the amber alert, the newest event
    await _wait_sockets(world.server, 0)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        got, done = await until_replay_done(mdt)
        assert [m["hit"]["id"] for m in got] == [h["id"] for h in stolen_hits]
        assert done["count"] == 3


async def test_ack_of_an_event_never_sent_is_refused(world) -> None:
    """An ack of an id this connection was not sent (say, a future one) is refused and moves no resume point."""
    plates = await hot_plates(world, 2)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        await ingest(world.camera, plates[:1])
        await ack(world.server, mdt, (await mdt.next())["event_id"])
        await send(mdt, type="ack", event_id="18446744073709551615-0")
        error = await mdt.next()
        assert (error["type"], error["error"]) == ("error", "unknown_event")
    (missed,) = await ingest(world.camera, plates[1:])
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        got, _ = await until_replay_done(mdt)
        assert [m["hit"]["id"] for m in got] == [missed["id"]]


async def _wait_sockets(server: RunningServer, count: int) -> None:
    deadline = time.monotonic() + 5
    while server.resources.metrics.sockets._value.get() != count:
        assert time.monotonic() < deadline, "the server never noticed the dead connection"
        await asyncio.sleep(0.01)


async def test_client_killed_mid_stream_gets_every_unacked_hit_once(world) -> None:
    """An MDT whose connection dies without a close frame during a burst gets each hit it did not ack, once."""
    plates = await hot_plates(world, 41)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        await ingest(world.camera, plates[:1])
        await ack(world.server, mdt, (await mdt.next())["event_id"])
    hit_of: dict[str, int] = {}  # event id -> hit id, of what the first connection received
    burst: asyncio.Task | None = None
    try:
        async with AlertSocket.connect(world.server, world.officer.token) as mdt:
            assert await until_replay_done(mdt) == ([], {"type": "replay_done", "count": 0, "truncated": False})
            burst = asyncio.create_task(ingest(world.camera, plates[1:]))
            for _ in range(10):
                msg = await mdt.next()
                assert msg["type"] == "hit" and "replayed" not in msg, msg
                hit_of[msg["event_id"]] = msg["hit"]["id"]
                await send(mdt, type="ack", event_id=msg["event_id"])
            assert not burst.done(), "the burst should still be going when the connection dies"
            mdt.ws.transport.abort()  # RST, no close frame: a cruiser driving out of coverage
        await _wait_sockets(world.server, 0)
        await asyncio.sleep(0.1)  # out of coverage for a moment while more hits are raised
        # Reconnect while hits are still being raised: some come in the replay, the rest live.
        async with AlertSocket.connect(world.server, world.officer.token) as again:
            got, done = await until_replay_done(again)
            hits = await asyncio.wait_for(burst, 30)
            acked_key = f"alpr:acked:{world.officer.id}"
            acked = {hit_of[e] for e in hit_of if await world.server.resources.redis.zscore(acked_key, e) is not None}
            assert acked, "at least some acks reached the server before the connection died"
            expected = {h["id"] for h in hits} - acked
            while not expected <= {m["hit"]["id"] for m in got if m["type"] == "hit"}:
                got.append(await again.next())  # the rest of the burst, live
            await again.nothing_within(0.5)
    finally:
        if burst is not None:
            burst.cancel()
    assert all(m["type"] == "hit" for m in got), got
    received = [m["hit"]["id"] for m in got]
    assert len(received) == len(set(received)), "a hit arrived twice"
    assert set(received) == expected, f"acked but sent again: {sorted(set(received) - expected)}"
    assert done["count"] == sum(1 for m in got if m.get("replayed"))


async def test_replay_done_counts_exactly_what_was_replayed_while_hits_keep_coming(world) -> None:
    """Reconnecting again and again during a burst: replay_done counts the replayed messages, none comes twice."""
    plates = await hot_plates(world, 31)
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        await ingest(world.camera, plates[:1])
        await ack(world.server, mdt, (await mdt.next())["event_id"])
    burst = asyncio.create_task(ingest(world.camera, plates[1:]))
    rounds = 0
    try:
        while not burst.done():
            async with AlertSocket.connect(world.server, world.officer.token) as mdt:
                got, done = await until_replay_done(mdt)
            # Live hits may overtake replay_done; every replayed one comes before it.
            assert done["count"] == sum(1 for m in got if m.get("replayed")), (done, got)
            assert len({m["event_id"] for m in got}) == len(got), "an event came twice on one connection"
            rounds += 1
        await burst
    finally:
        burst.cancel()
    assert rounds >= 3


async def test_replay_is_complete_on_another_server_process(database_url: str, redis_url: str,
                                                            tmp_path: Path) -> None:
    """Acked on server A, hits raised through server B, reconnected to B: B replays everything missed."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running_server(tmp_path / "a", database_url, redis_url, secret_key=SECRET_KEY) as a, \
            running_server(tmp_path / "b", database_url, redis_url, secret_key=SECRET_KEY) as b, \
            World.create(a) as world:
        plates = await hot_plates(world, 11)
        async with AlertSocket.connect(a, world.officer.token) as mdt:
            await ingest(world.camera, plates[:1])
            first = await mdt.next()
            await ack(a, mdt, first["event_id"])
        async with httpx.AsyncClient(base_url=b.base_url, headers=world.camera.headers, timeout=30,
                                     verify=SSL_CONTEXT) as camera_b:
            missed = await ingest(camera_b, plates[1:])
        async with AlertSocket.connect(b, world.officer.token) as mdt:
            assert mdt.hello["resume_from"] == first["event_id"]
            got, done = await until_replay_done(mdt)
            assert_replay_of(got, missed)
            assert done == {"type": "replay_done", "count": 10, "truncated": False}
            await mdt.nothing_within(0.3)


async def test_replay_cut_short_across_two_logs_skips_nothing(redis_url: str) -> None:
    """A replay its limit cuts short stops before anything it left unread in any log: resuming loses nothing."""
    redis = Redis.from_url(redis_url)
    try:
        log = DeliveryLog(redis, log_length=1000, resend_seconds=30)
        # An RTCC analyst who is also a supervisor: two logs. Four hits on one, then an escalation on the other.
        hits = await log.publish(AlertEvent("hit", ("role:rtcc",), b'{"n":%d}' % n) for n in range(4))
        (escalation,) = await log.publish([AlertEvent("escalation", ("role:supervisor",), b'{"n":4}')])
        for acked in hits[:2]:
            await log.ack(7, acked, [])
        got: list[str] = []
        after = "0-0"
        for _ in range(5):  # what a client does: resume after the newest id it got while replays are truncated
            events, truncated = await log.replay(7, ["role:rtcc", "role:supervisor"], after, "+", limit=3)
            got += [e.event_id for e in events]
            if not truncated:
                break
            after = max((e.event_id for e in events), key=order)
        assert got == [*hits[2:], escalation]
    finally:
        await redis.aclose()


async def test_replay_reads_past_a_run_of_acked_events_longer_than_its_limit(redis_url: str) -> None:
    """Acked events fill no replay: past a run of them longer than the limit, the unacked one still comes."""
    redis = Redis.from_url(redis_url)
    try:
        log = DeliveryLog(redis, log_length=1000, resend_seconds=30)
        ids = await log.publish(AlertEvent("hit", ("unit:1",), b'{"n":%d}' % n) for n in range(5))
        for acked in ids[:4]:
            await log.ack(7, acked, [])
        events, truncated = await log.replay(7, ["unit:1", "user:7"], "0-0", "+", limit=3)
        assert [e.event_id for e in events] == ids[4:] and not truncated
    finally:
        await redis.aclose()
