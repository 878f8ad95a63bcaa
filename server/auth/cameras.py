"""Which cameras may post: the camera table, cached in Redis and in each process.

Every detection checks its camera, and a database round trip there would cost more than the rest of the
request. Redis holds the enabled flag for all processes (read-through, the database stays the truth); each
process keeps a local copy that a change drops everywhere within milliseconds, through the alert stream
that every process already reads.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth.models import Camera

DISABLED = b"-"


def _key(camera_id: str) -> str:
    return f"alpr:cam:{camera_id}"


class CameraRegistry:
    """Answers "may this camera post, and for which unit?" without touching the database on the hot path."""

    def __init__(self, redis: Redis, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._redis, self._sessions = redis, sessions
        self._local: dict[str, tuple[bool, int | None]] = {}

    def forget(self, camera_id: str | None = None) -> None:
        """Drop one camera's local copy (it changed somewhere), or all of them (the stream was interrupted)."""
        if camera_id is None:
            self._local.clear()
        else:
            self._local.pop(camera_id, None)

    async def changed(self, camera: Camera) -> None:
        """After a commit that created, enabled or disabled the camera; the caller then announces it."""
        self.forget(camera.id)
        await self._redis.set(_key(camera.id), str(camera.unit_id) if camera.enabled else DISABLED)

    async def status(self, camera_id: str) -> tuple[bool, int | None] | None:
        """(enabled, unit_id), or None for an unknown camera."""
        local = self._local.get(camera_id)
        if local is not None:
            return local
        cached = await self._redis.get(_key(camera_id))
        if cached is None:
            async with self._sessions() as session:
                camera = await session.get(Camera, camera_id)
            if camera is None:
                return None
            # NX: a tombstone written by a concurrent disable wins over this possibly older read.
            await self._redis.set(_key(camera_id), str(camera.unit_id) if camera.enabled else DISABLED, nx=True)
            cached = await self._redis.get(_key(camera_id))
        status = (False, None) if cached == DISABLED else (True, int(cached))
        self._local[camera_id] = status
        return status
