"""Two `alpr serve` processes on one database and one Redis: a hit raised by either reaches sockets on both."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from support import ADMIN, ADMIN_PASSWORD, AlertSocket, RunningServer, World, read

SECRET_KEY = "two-processes-share-this-signing-key-0123456789a"  # 48 characters, the same for both
assert len(SECRET_KEY) == 48


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    # Only this test's ALPR_* settings: the server refuses ALPR_* variables it does not know.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ALPR_DATA_DIR": str(data_dir),
                "ALPR_SECRET_KEY": SECRET_KEY, "ALPR_BOOTSTRAP_ADMIN": f"{ADMIN}:{ADMIN_PASSWORD}",
                "ALPR_PASSWORD_HASH_PROFILE": "fast-tests-only", "ALPR_LOG_LEVEL": "WARNING"})
    return env


async def _wait_ready(proc: subprocess.Popen, base_url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"alpr serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                resp = await client.get("/readyz")
                if resp.status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"alpr serve not ready after {timeout} s:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.asynccontextmanager
async def serve_processes(tmp_path: Path, database_url: str, redis_url: str, count: int = 2,
                          ) -> AsyncIterator[list[RunningServer]]:
    """`count` real server processes, started one after the other (each migrates and checks the same schema)."""
    procs: list[subprocess.Popen] = []
    servers: list[RunningServer] = []
    try:
        for i in range(count):
            data_dir = tmp_path / f"proc{i}"
            data_dir.mkdir()
            port = _free_port()
            log = tmp_path / f"proc{i}.log"
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", "from server.cli import main; main()", "serve", "--port", str(port)],
                    env=_env(data_dir, database_url, redis_url), stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[3]))
            await _wait_ready(procs[-1], f"http://127.0.0.1:{port}", log)
            servers.append(RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/alerts", None))
        yield servers
    finally:
        for proc in procs:
            _stop(proc)


async def _next_hit(sock: AlertSocket) -> dict:
    """The next message other than the end of an (empty) automatic replay of what an earlier socket acked."""
    msg = await sock.next(timeout=10)
    return await sock.next(timeout=10) if msg["type"] == "replay_done" and msg["count"] == 0 else msg


async def _hit_crosses(world: World, post_to: RunningServer, sockets_on: RunningServer, plate: str) -> None:
    """Sockets of the unit's officer and the RTCC on one process receive a hit posted to the other."""
    async with AlertSocket.connect(sockets_on, world.officer.token) as officer, \
            AlertSocket.connect(sockets_on, world.rtcc.token) as rtcc:
        async with httpx.AsyncClient(base_url=post_to.base_url, headers=world.camera.headers, timeout=30) as camera:
            resp = await camera.post("/api/v1/detections", json=read(plate))
        assert resp.status_code == 201, resp.text
        (hit,) = resp.json()["hits"]
        got = await asyncio.gather(_next_hit(officer), _next_hit(rtcc))
        for msg in got:
            assert msg["type"] == "hit", msg
            assert msg["hit"]["id"] == hit["id"]
            assert msg["hit"]["entry"]["plate"] == plate
        for sock, msg in zip((officer, rtcc), got, strict=True):  # shown: an unacked hit would be replayed next time
            await sock.ws.send(json.dumps({"type": "ack", "event_id": msg["event_id"]}))
        await asyncio.gather(officer.nothing_within(0.3), rtcc.nothing_within(0.3))


async def test_hit_raised_on_one_process_reaches_sockets_on_the_other(database_url: str, redis_url: str,
                                                                     tmp_path: Path) -> None:
    """Behind a load balancer, an officer's MDT and the RTCC get the hit whichever process took the read.

    On SQLite both processes open the one file (WAL lets them read while one writes; busy_timeout makes a writer
    wait for the other's lock), as two `alpr serve` on one host with the default database would.
    """
    async with serve_processes(tmp_path, database_url, redis_url) as (a, b), World.create(a) as world:
        await world.add_entry("ABC1234")
        await world.add_entry("XYZ9876")
        await _hit_crosses(world, post_to=a, sockets_on=b, plate="ABC1234")
        await _hit_crosses(world, post_to=b, sockets_on=a, plate="XYZ9876")
