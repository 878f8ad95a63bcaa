"""A client that stops reading is dropped (4408) and never slows down the others (api-v1 "Live alerts")."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import string
import time
from pathlib import Path
from typing import Any

import websockets
from support import AlertSocket, World, read, running_server
from websockets.exceptions import ConnectionClosed

HITS = 200
QUEUE = 4
# Loopback's 64 KiB MTU lets Linux grow a socket's send buffer to its 4 MiB maximum at once, room for over a
# thousand alerts before the server's own queue sees any back-pressure. A real MDT link (1,500-byte MTU) starts
# near 90 KiB; the test pins the server's send buffer there so "stalled" means the same as in the field.
SERVER_SNDBUF = 64 * 1024


def _long_subject() -> str:
    """Near the 2,000-character limit and not compressible, so each alert is a few KiB on the wire."""
    rng = random.Random(7)
    return " ".join("".join(rng.choices(string.ascii_letters, k=9)) for _ in range(199))


async def _stalled_socket(ws_url: str, token: str) -> websockets.ClientConnection:
    """A socket that takes its hello and then never reads again, with as little buffering as possible.

    A 4 KiB kernel receive buffer and a one-frame client queue mean the server's own write buffer fills after a
    few dozen alerts, as with an MDT whose application hung while its TCP connection stays up.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, so the window stays small
    sock.setblocking(False)
    host, port = ws_url.split("//", 1)[1].split("/", 1)[0].split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await websockets.connect(ws_url, sock=sock, additional_headers={"Authorization": f"Bearer {token}"},
                                  compression=None, max_queue=1, ping_interval=None)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"
    return ws


async def test_stalled_client_is_dropped_and_reading_client_gets_every_hit(database_url: str, redis_url: str,
                                                                          tmp_path: Path) -> None:
    """A hung screen is cut off with 4408 while a working one receives all 200 alerts, in order."""
    async with running_server(tmp_path, database_url, redis_url, send_buffer=SERVER_SNDBUF, socket_queue_size=QUEUE,
                              fold_window_seconds=0) as srv, World.create(srv) as world:
        await world.add_entry("ABC1234", category="wanted_person", subject=_long_subject())
        metrics = srv.resources.metrics
        stalled = await _stalled_socket(srv.ws_url, world.dispatcher.token)
        try:
            async with AlertSocket.connect(srv, world.officer.token) as reader:
                received: list[dict[str, Any]] = []

                async def read_all() -> None:
                    while len(received) < HITS:
                        msg = await reader.next(timeout=10)
                        assert msg["type"] == "hit", msg
                        received.append(msg)

                reading = asyncio.create_task(read_all())
                sent: list[int] = []
                started = time.monotonic()
                for _ in range(HITS):
                    resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
                    assert resp.status_code == 201, resp.text
                    (hit,) = resp.json()["hits"]
                    sent.append(hit["id"])
                    assert not reading.done() or reading.exception() is None, reading.exception()
                await asyncio.wait_for(reading, 10)
                assert time.monotonic() - started < 20

                # The reading client: every hit, each once, in the order they were raised.
                assert [m["hit"]["id"] for m in received] == sent
                assert len(set(sent)) == HITS
                event_ids = [tuple(map(int, m["event_id"].split("-"))) for m in received]
                assert event_ids == sorted(event_ids)
                assert metrics.dropped_sockets._value.get() == 1, "only the stalled socket is dropped"
                assert metrics.sockets._value.get() == 1, "the stalled socket no longer counts as connected"

                # The stalled client, once it reads again, finds what was buffered before the drop and then 4408.
                backlog: list[int] = []
                with_code = None
                try:
                    while True:
                        msg = json.loads(await asyncio.wait_for(stalled.recv(), 5))
                        if msg["type"] == "hit":
                            backlog.append(msg["hit"]["id"])
                except ConnectionClosed as exc:
                    with_code = exc.rcvd.code if exc.rcvd else None
                assert with_code == 4408, f"closed without the too-slow code: {with_code}"
                assert len(backlog) < HITS - QUEUE, "the stalled client was not cut off early"
                assert backlog == sent[:len(backlog)], "what it got before the drop is in order, without gaps"
                await reader.nothing_within(0.2)
        finally:
            await stalled.close()
