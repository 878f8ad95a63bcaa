"""The stream worker: several workers share one Redis stream, each frame is processed once, none is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest
import redis as redis_sync

from ocr_worker.synth import render_plate, scene
from ocr_worker.worker import Poster, StreamWorker, detection_id, frame_message

STREAM, GROUP = "alpr:frames", "ocr"
PLATES = ["ABC1234", "7KDN481", "XYZ987", "4GHJ562", "MNP3071", "8TRW215", "KLM4420", "2BCD781",
          "PQR5563", "6JKT940", "HGF2718", "9VWX316"]


@pytest.fixture
async def ocr_world(redis_url: str, tmp_path: Path):  # noqa: ANN201
    """A real server on SQLite and this test's Redis, with a unit and its dash camera."""
    from support import World, running_server

    db = tmp_path / "alpr.db"
    async with running_server(tmp_path, f"sqlite+aiosqlite:///{db}", redis_url) as srv, World.create(srv) as world:
        world.db_path = db
        yield world


def queue_frames(url: str, plates: list[str]) -> list[str]:
    """XADD one rendered dash-camera frame per plate; returns the stream entry ids."""
    r = redis_sync.Redis.from_url(url)
    ids = []
    for i, plate in enumerate(plates):
        ok, jpeg = cv2.imencode(".jpg", scene(render_plate(plate), at=(200 + 10 * i, 250)))
        assert ok
        fields = frame_message(jpeg.tobytes(), datetime.now(UTC), 61.2 + i / 1000, -149.9, heading=90.0)
        ids.append(r.xadd(STREAM, fields).decode())
    r.close()
    return ids


def stored(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, plate FROM detection").fetchall()


def pending(url: str) -> int:
    r = redis_sync.Redis.from_url(url)
    try:
        return r.xpending(STREAM, GROUP)["pending"]
    finally:
        r.close()


async def test_two_workers_each_frame_once(ocr_world, redis_url: str, reader) -> None:
    """Two workers on one stream: every frame is read by exactly one of them and stored exactly once."""
    entry_ids = queue_frames(redis_url, PLATES)
    handled: Counter[str] = Counter()
    lock = threading.Lock()

    def make(name: str) -> StreamWorker:
        poster = Poster(ocr_world.server.base_url, ocr_world.camera_id, ocr_world.camera_secret)
        w = StreamWorker(redis_sync.Redis.from_url(redis_url), reader.read_frame, poster.post, consumer=name,
                         batch=2, claim_idle_ms=60_000)
        handle = w.handle

        def counting(entry_id: str, fields: dict) -> None:
            handle(entry_id, fields)
            with lock:
                handled[entry_id] += 1

        w.handle = counting
        return w

    workers = [make("w1"), make("w2")]
    stats = await asyncio.gather(*(asyncio.to_thread(w.run, idle_exit_s=1.5) for w in workers))

    assert handled == Counter(entry_ids)  # each frame exactly once
    assert all(s.frames > 0 for s in stats), stats  # and the load was shared
    assert sum(s.frames for s in stats) == len(PLATES)
    assert pending(redis_url) == 0
    rows = stored(ocr_world.db_path)
    assert sorted(i for i, _ in rows) == sorted(detection_id(STREAM, e, 0) for e in entry_ids)
    assert sorted(p for _, p in rows) == sorted(PLATES)


async def test_killed_worker_loses_no_frame(ocr_world, redis_url: str, reader) -> None:
    """A worker process killed mid-stream leaves frames pending; another claims and finishes them, none twice."""
    entry_ids = queue_frames(redis_url, PLATES)
    env = {**os.environ, "OCR_CAMERA_SECRET": ocr_world.camera_secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocr_worker.cli", "worker", "--server", ocr_world.server.base_url,
         "--camera-id", ocr_world.camera_id, "--redis-url", redis_url, "--consumer", "doomed", "--batch", "3",
         "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill it mid-stream: once it has stored some detections and holds unacknowledged frames.
        deadline = time.monotonic() + 120
        while not (len(stored(ocr_world.db_path)) >= 2 and pending(redis_url) > 0):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker never got going"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
    left = pending(redis_url)
    assert left > 0  # the dead worker's frames are still pending

    poster = Poster(ocr_world.server.base_url, ocr_world.camera_id, ocr_world.camera_secret)
    survivor = StreamWorker(redis_sync.Redis.from_url(redis_url), reader.read_frame, poster.post,
                            consumer="survivor", batch=3, claim_idle_ms=500)
    await asyncio.sleep(0.6)  # the dead worker's entries are now idle long enough to be claimed
    stats = await asyncio.to_thread(survivor.run, idle_exit_s=1.5)

    assert stats.claimed == left
    assert pending(redis_url) == 0
    rows = stored(ocr_world.db_path)
    # Every frame stored exactly once: a frame the dead worker posted but never acknowledged was posted again
    # with the same detection id, and the server took the resend as the same detection.
    assert sorted(i for i, _ in rows) == sorted(detection_id(STREAM, e, 0) for e in entry_ids)
    assert sorted(p for _, p in rows) == sorted(PLATES)
