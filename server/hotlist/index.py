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
# Many writes at once, to keys the caller names in full (it read the live and building versions first). ARGV: op,
# then (key, field, value) triples for "set" or (key, field) pairs for "del".
_BULK_LUA = (b"if ARGV[1] == 'set' then for i = 2, #ARGV, 3 do redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 2]) "
             b"end else for i = 2, #ARGV, 2 do redis.call('HDEL', ARGV[i], ARGV[i + 1]) end end return 1")
# Entries per bulk call: each holds Redis for well under a millisecond, so matching never waits longer than that.
BULK_CHUNK = 250
BULK_CALLS_PER_TRIP = 32


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


@dataclass(frozen=True, slots=True)
class BulkCommand:
    """One EVAL of the bulk script, packed in Redis's wire protocol, and how many entries it carries."""

    packed: bytes
    count: int


_BULK_HEAD = b"$4\r\nEVAL\r\n$%d\r\n%b\r\n$1\r\n0\r\n" % (len(_BULK_LUA), _BULK_LUA)


def _bulk_command(op: bytes, body: list[bytes], count: int, args: int) -> BulkCommand:
    head = b"*%d\r\n" % (4 + args)
    return BulkCommand(b"".join([head, _BULK_HEAD, b"$%d\r\n%b\r\n" % (len(op), op), *body]), count)


def _prefixes(versions: Iterable[int]) -> list[bytes]:
    return [f"{PREFIX}{v}:".encode() for v in versions]


def pack_puts(entries: Iterable[IndexedEntry], versions: Iterable[int]) -> list[BulkCommand]:
    """Bulk "set" commands writing the entries into each of the index versions, BULK_CHUNK entries per command."""
    def parts(e: IndexedEntry) -> tuple[bytes, ...]:
        return ocr_key(e.plate).encode(), b"%d" % e.id, _encode(e)

    return _pack(b"set", entries, parts, versions)


def pack_removes(entries: Iterable[tuple[int, str]], versions: Iterable[int]) -> list[BulkCommand]:
    """Bulk "del" commands for (entry id, plate) pairs, in each of the index versions."""
    def parts(pair: tuple[int, str]) -> tuple[bytes, ...]:
        return ocr_key(pair[1]).encode(), b"%d" % pair[0]

    return _pack(b"del", entries, parts, versions)


def _pack(op: bytes, items: Iterable, parts, versions: Iterable[int]) -> list[BulkCommand]:  # noqa: ANN001
    """Commands of BULK_CHUNK items each; every item's key is written under each version's prefix."""
    prefixes = _prefixes(versions)
    commands: list[BulkCommand] = []
    body: list[bytes] = []
    args = n = 0
    for item in items:
        key, *rest = parts(item)
        tail = b"".join(b"$%d\r\n%b\r\n" % (len(r), r) for r in rest)
        for prefix in prefixes:
            body.append(b"$%d\r\n%b%b\r\n%b" % (len(prefix) + len(key), prefix, key, tail))
            args += 1 + len(rest)
        n += 1
        if n == BULK_CHUNK:
            commands.append(_bulk_command(op, body, n, args))
            body, args, n = [], 0, 0
    if body:
        commands.append(_bulk_command(op, body, n, args))
    return commands


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

    async def versions(self) -> set[int]:
        """The index versions writes must go to: the live one and one being rebuilt, if any."""
        return {int(v) for v in await self._redis.mget(CURRENT, BUILDING) if v is not None}

    async def put_many(self, entries: Iterable[IndexedEntry]) -> int:
        """Add or replace many entries at once, in calls short enough not to delay matching."""
        commands = pack_puts(entries, await self.versions())
        await self.send_bulk(commands)
        return sum(c.count for c in commands)

    async def remove_many(self, entries: Iterable[tuple[int, str]]) -> None:
        """Remove many (entry id, plate) at once."""
        await self.send_bulk(pack_removes(entries, await self.versions()))

    async def drop_if_dead(self, versions: Iterable[int]) -> None:
        """Drop versions written to that a rebuild has meanwhile replaced, so their keys do not linger."""
        live = await self.versions()
        for version in set(versions) - live:
            await self._drop_version(version)

    async def send_bulk(self, commands: Sequence[BulkCommand]) -> None:
        """Send commands from :func:`pack_puts` / :func:`pack_removes`, several per round trip, on one connection.

        They are packed beforehand (a thread can do it) because redis-py's own packing, argument by argument in
        Python, took most of the time of loading a million entries."""
        if not commands:
            return
        pool = self._redis.connection_pool
        conn = await pool.get_connection()
        try:
            for start in range(0, len(commands), BULK_CALLS_PER_TRIP):
                trip = commands[start:start + BULK_CALLS_PER_TRIP]
                await conn.send_packed_command([c.packed for c in trip])
                for _ in trip:
                    await conn.read_response()  # a script error raises here
        except BaseException:
            await conn.disconnect()  # replies may still be on their way: never hand this connection back as is
            raise
        finally:
            await pool.release(conn)

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
        # Plain rows and packed bulk writes: an NCIC-sized list (a million entries) is back in seconds.
        e = HotlistEntry
        result = await session.stream(
            select(e.id, e.plate, e.state, e.category, e.source, e.case_number, e.priority, e.expires_at,
                   e.vehicle_year, e.vehicle_make, e.vehicle_model, e.vehicle_color, e.vehicle_type, e.subject)
            .where(e.removed_at.is_(None)).execution_options(yield_per=chunk))
        async for batch in result.partitions(chunk):
            docs = [IndexedEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7].timestamp() if r[7] else None,
                                 *r[8:]) for r in batch]
            await self.send_bulk(pack_puts(docs, [version]))
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
