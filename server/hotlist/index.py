"""The hot-list match index in Redis: entries keyed by OCR key, versioned so a rebuild swaps atomically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.hotlist.matching import MATCH_KIND_RANK, MatchKind, classify, ocr_key, state_mismatch
from server.hotlist.models import HotlistEntry

log = logging.getLogger(__name__)

PREFIX = "alpr:hl:"
CURRENT = PREFIX + "current"    # the version that matching reads
BUILDING = PREFIX + "building"  # a version being rebuilt; writes go to it too so none are lost
VERSION_SEQ = PREFIX + "seq"
# One rebuilder across all processes: two at once each clear the other's BUILDING marker, and an entry added
# between the first swap and the second lands only in the version that is about to be replaced.
REBUILD_LOCK = PREFIX + "rebuild-lock"
REBUILD_LOCK_SECONDS = 600

# One round trip per lookup: read the live version and every candidate hash atomically.
_MATCH_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local out = {}
for i, k in ipairs(ARGV) do
  local h = redis.call('HGETALL', KEYS[2] .. v .. ':' .. k)
  -- Most reads match nothing: send back only the keys that have candidates, with their position.
  if #h > 0 then out[#out + 1] = i; out[#out + 1] = h end
end
return out
"""
# Apply a write to the live version and to a version being built. ARGV: op, key, field[, value].
_WRITE_LUA = """
local targets = {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
for _, v in ipairs(targets) do
  if v then
    local key = KEYS[3] .. v .. ':' .. ARGV[2]
    if ARGV[1] == 'set' then redis.call('HSET', key, ARGV[3], ARGV[4]) else redis.call('HDEL', key, ARGV[3]) end
  end
end
return 1
"""


class IndexedEntry(msgspec.Struct, array_like=True, frozen=True):
    """What matching needs of an entry, so a hit is built without touching the database."""

    id: int
    plate: str
    state: str | None
    category: str
    source: str
    case_number: str
    priority: int
    expires_at: float | None
    vehicle_year: int | None
    vehicle_make: str | None
    vehicle_model: str | None
    vehicle_color: str | None
    vehicle_type: str | None
    subject: str | None

    @classmethod
    def from_model(cls, e: HotlistEntry) -> IndexedEntry:
        return cls(e.id, e.plate, e.state, e.category, e.source, e.case_number, e.priority,
                   e.expires_at.timestamp() if e.expires_at else None, e.vehicle_year, e.vehicle_make,
                   e.vehicle_model, e.vehicle_color, e.vehicle_type, e.subject)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry a read matched, and how."""

    entry: IndexedEntry
    kind: MatchKind
    state_mismatch: bool


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(IndexedEntry).decode


class HotlistIndex:
    """Adds, removes and matches entries; rebuilds itself from the database when Redis lost it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._match = redis.register_script(_MATCH_LUA)
        self._write = redis.register_script(_WRITE_LUA)
        self._rebuild_lock = asyncio.Lock()
        self._repair: asyncio.Task[bool] | None = None
        self.rebuilds = 0

    async def add(self, entries: Iterable[HotlistEntry]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for e in entries:
                await self._write(keys=[CURRENT, BUILDING, PREFIX], args=["set", ocr_key(e.plate), e.id,
                                  _encode(IndexedEntry.from_model(e))], client=pipe)
            await pipe.execute()

    async def remove(self, entry: HotlistEntry) -> None:
        await self._write(keys=[CURRENT, BUILDING, PREFIX], args=["del", ocr_key(entry.plate), entry.id])

    async def is_built(self) -> bool:
        return bool(await self._redis.exists(CURRENT))

    async def rebuild(self, session: AsyncSession, chunk: int = 5000) -> int:
        """Build a fresh version from the database beside the live one, then switch to it."""
        async with self._rebuild_lock, self._cluster_lock():
            return await self._rebuild_locked(session, chunk)

    async def rebuild_if_missing(self, session: AsyncSession) -> bool:
        """Rebuild unless the index is there, checked under the lock so waiting requests cause one rebuild, not
        one each. True when this call rebuilt it."""
        async with self._rebuild_lock, self._cluster_lock():
            if await self.is_built():
                return False
            log.warning("hot-list index missing in Redis; rebuilding from the database")
            await self._rebuild_locked(session)
            return True

    def repair_in_background(self, sessions: async_sessionmaker[AsyncSession]) -> asyncio.Task[bool]:
        """Start (once) a rebuild-if-missing that outlives its caller, so a probe's time limit cannot cancel it."""
        if self._repair is None or self._repair.done():
            async def repair() -> bool:
                async with sessions() as session:
                    return await self.rebuild_if_missing(session)

            self._repair = asyncio.create_task(repair(), name="hotlist-index-repair")
        return self._repair

    async def stop(self) -> None:
        """Cancel a background repair still running when the server stops."""
        if self._repair is not None and not self._repair.done():
            self._repair.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repair

    def _cluster_lock(self):  # noqa: ANN202 - redis-py's Lock
        return self._redis.lock(REBUILD_LOCK, timeout=REBUILD_LOCK_SECONDS, blocking_timeout=REBUILD_LOCK_SECONDS + 60)

    async def _rebuild_locked(self, session: AsyncSession, chunk: int = 5000) -> int:
        version = await self._redis.incr(VERSION_SEQ)
        await self._redis.set(BUILDING, version)
        old = await self._redis.get(CURRENT)
        count = 0
        result = await session.stream_scalars(
            select(HotlistEntry).where(HotlistEntry.removed_at.is_(None)).execution_options(yield_per=chunk))
        async for batch in result.partitions(chunk):
            async with self._redis.pipeline(transaction=False) as pipe:
                for e in batch:
                    pipe.hset(f"{PREFIX}{version}:{ocr_key(e.plate)}", str(e.id), _encode(IndexedEntry.from_model(e)))
                await pipe.execute()
            count += len(batch)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(CURRENT, version).delete(BUILDING)
            await pipe.execute()
        if old is not None and int(old) != version:
            await self._drop_version(int(old))
        self.rebuilds += 1
        log.info("hot-list index rebuilt", extra={"entries": count, "version": version})
        return count

    async def _drop_version(self, version: int) -> None:
        async for keys in _batched(self._redis.scan_iter(match=f"{PREFIX}{version}:*", count=1000), 1000):
            await self._redis.unlink(*keys)

    async def lookup(self, keys: Sequence[str]) -> dict[str, dict[bytes, bytes]] | None:
        """The candidate hash of each OCR key that has one, or None when the index is missing (Redis came back
        empty)."""
        raw = await self._match(keys=[CURRENT, PREFIX], args=list(keys))
        if raw is None:
            return None
        return {keys[pos - 1]: dict(zip(flat[::2], flat[1::2], strict=True)) for pos, flat in zip(raw[::2], raw[1::2],
                                                                                                  strict=True)}

    async def match_many(self, reads: Sequence[tuple[str, str | None]], session: AsyncSession,
                         ) -> list[list[Candidate]]:
        """Match each (plate, state) read; one Redis round trip for the whole batch."""
        keys = sorted({ocr_key(p) for p, _ in reads})
        hashes = await self.lookup(keys)
        if hashes is None:
            # Redis restarted empty: rebuild from the source of truth before answering, so no hit is missed.
            await self.rebuild_if_missing(session)
            hashes = await self.lookup(keys)
            if hashes is None:  # lost again meanwhile: fail the request (the camera resends) rather than miss a hit
                raise RuntimeError("the hot-list index vanished from Redis while it was being rebuilt")
        now = time.time()
        return [self._classify(plate, state, hashes[key], now) if (key := ocr_key(plate)) in hashes else []
                for plate, state in reads]

    @staticmethod
    def _classify(plate: str, state: str | None, candidates: dict[bytes, bytes], now: float) -> list[Candidate]:
        found: list[Candidate] = []
        for doc in candidates.values():
            entry = _decode(doc)
            if entry.expires_at is not None and entry.expires_at <= now:
                continue  # expiry is enforced here, not only by a cleanup job
            kind = classify(plate, state, entry.plate, entry.state)
            if kind is not None:
                found.append(Candidate(entry, kind, state_mismatch(state, entry.state)))
        found.sort(key=lambda c: (MATCH_KIND_RANK[c.kind], c.entry.priority, c.entry.id))
        return found


async def _batched(aiter, size: int):  # noqa: ANN001, ANN202
    batch = []
    async for item in aiter:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
