"""The hot-list index lives in Redis but the database is the truth: losing Redis's copy never loses a hit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import redis.asyncio as aredis
from support import SSL_CONTEXT, AlertSocket, World, read, running_server

from server.embedded_redis import EmbeddedRedis
from server.hotlist.index import BUILDING, CURRENT, PREFIX, HotlistIndex


async def _readyz(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/readyz")


async def test_flushed_index_is_rebuilt_on_the_next_read(world, redis_url: str) -> None:
    """After Redis loses everything, the next read of a listed plate still raises the hit and alerts the officer."""
    entry = await world.add_entry("ABC1234")
    index = world.server.resources.index
    rebuilds = index.rebuilds
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        client = aredis.Redis.from_url(redis_url)
        try:
            await client.flushdb()
            assert not await client.exists(CURRENT)
        finally:
            await client.aclose()
        resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
        assert resp.status_code == 201, resp.text
        (hit,) = resp.json()["hits"]
        assert hit["entry"]["id"] == entry["id"] and hit["match_kind"] == "exact"
        msg = await officer.next()
        assert msg["type"] == "hit" and msg["hit"]["id"] == hit["id"]
    assert index.rebuilds == rebuilds + 1
    assert (await _readyz(world.camera)).status_code == 200


async def test_readiness_repairs_a_flushed_index_without_waiting_for_a_read(world, redis_url: str) -> None:
    """/readyz rebuilds a lost index itself, so a balancer never keeps every instance out of rotation."""
    await world.add_entry("ABC1234")
    client = aredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
        resp = await _readyz(world.camera)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
        assert await client.exists(CURRENT)
    finally:
        await client.aclose()
    resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
    assert len(resp.json()["hits"]) == 1


async def test_two_processes_rebuilding_at_once_leave_one_complete_index(world, redis_url: str) -> None:
    """Rebuilds racing in two processes (a rolling restart) leave one whole index and no stale copies behind."""
    entry = await world.add_entry("ABC1234")
    res = world.server.resources
    second_process = HotlistIndex(res.redis)  # its own in-process lock, as another server would have

    async def rebuild(index: HotlistIndex) -> int:
        async with res.sessions() as session:
            return await index.rebuild(session)

    assert await asyncio.gather(rebuild(res.index), rebuild(second_process), rebuild(res.index)) == [1, 1, 1]
    client = aredis.Redis.from_url(redis_url)
    try:
        current = await client.get(CURRENT)
        versions = {key.split(b":")[2] for key in await client.keys(f"{PREFIX}*:*")}
        assert versions == {current}, f"stale index versions left behind: {versions - {current}}"
        assert not await client.exists(BUILDING)
    finally:
        await client.aclose()
    resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
    assert [h["entry"]["id"] for h in resp.json()["hits"]] == [entry["id"]]


async def test_new_server_process_rebuilds_index_from_database(database_url: str, redis_url: str,
                                                               tmp_path: Path) -> None:
    """A server starting against an empty Redis is ready with the whole hot list, removals respected."""
    async with running_server(tmp_path, database_url, redis_url) as first, World.create(first) as world:
        kept = await world.add_entry("ABC1234")
        gone = await world.add_entry("XYZ9876")
        resp = await world.admin.client.request("DELETE", f"/api/v1/hotlist/entries/{gone['id']}",
                                                json={"reason": "vehicle recovered by the owner"})
        assert resp.status_code == 200, resp.text
        camera_headers = dict(world.camera.headers)

    client = aredis.Redis.from_url(redis_url)
    try:
        await client.flushdb()
        # Same data dir, so the same signing key: the camera's token still works on the new process.
        async with running_server(tmp_path, database_url, redis_url) as second:
            assert await client.exists(CURRENT), "the index is built during start, before the first read"
            async with httpx.AsyncClient(base_url=second.base_url, headers=camera_headers, timeout=30,
                                         verify=SSL_CONTEXT) as camera:
                ready = await _readyz(camera)
                assert ready.status_code == 200, ready.text
                resp = await camera.post("/api/v1/detections", json=read("ABC1234"))
                assert resp.status_code == 201, resp.text
                assert [h["entry"]["id"] for h in resp.json()["hits"]] == [kept["id"]]
                resp = await camera.post("/api/v1/detections", json=read("XYZ9876"))
                assert resp.json()["hits"] == [], "a removed entry must not come back with the rebuild"
            assert second.resources.index.rebuilds == 1
    finally:
        await client.aclose()


async def test_readyz_is_503_naming_redis_when_redis_is_down(database_url: str, tmp_path: Path) -> None:
    """When Redis is unreachable, /readyz answers 503 and says it is Redis; the server still shuts down cleanly."""
    embedded = EmbeddedRedis(tmp_path / "r", persist=False)
    redis_url = embedded.start()
    try:
        async with asyncio.timeout(60):  # a shutdown that hangs on the dead Redis fails the test instead
            async with running_server(tmp_path / "srv", database_url, redis_url) as srv, \
                    httpx.AsyncClient(base_url=srv.base_url, timeout=30, verify=SSL_CONTEXT) as client:
                assert (await _readyz(client)).status_code == 200
                embedded.stop()
                started = time.monotonic()
                resp = await _readyz(client)
                assert time.monotonic() - started < 5, "a probe must answer promptly even with Redis gone"
                assert resp.status_code == 503, resp.text
                body = resp.json()
                assert body["status"] == "not_ready"
                assert body["checks"]["database"] == "ok"
                assert body["checks"]["redis"].startswith("failed")
                assert (await client.get("/healthz")).status_code == 200, "the process itself is alive"
                shutdown_started = time.monotonic()
            assert time.monotonic() - shutdown_started < 15
    finally:
        embedded.stop()


async def test_redis_restarting_empty_recovers_without_intervention(database_url: str, tmp_path: Path) -> None:
    """After Redis restarts empty, the server becomes ready again and raises hits and alerts as before."""
    embedded = EmbeddedRedis(tmp_path / "r", persist=False)
    redis_url = embedded.start()
    assert embedded.uses_unix_socket, "the restarted Redis must come back at the same address"
    try:
        async with asyncio.timeout(60), running_server(tmp_path / "srv", database_url, redis_url) as srv, \
                World.create(srv) as world:
            await world.add_entry("ABC1234")
            embedded.stop()
            assert (await _readyz(world.camera)).status_code == 503
            assert embedded.start() == redis_url
            deadline = time.monotonic() + 15
            while (resp := await _readyz(world.camera)).status_code != 200:
                assert time.monotonic() < deadline, resp.text
                await asyncio.sleep(0.2)
            async with AlertSocket.connect(srv, world.rtcc.token) as rtcc:
                resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
                assert resp.status_code == 201, resp.text
                (hit,) = resp.json()["hits"]
                msg = await rtcc.next(timeout=10)
                assert msg["type"] == "hit" and msg["hit"]["id"] == hit["id"]
    finally:
        embedded.stop()
