"""The hot-list match index in Redis: entries keyed by OCR key, versioned so a rebuild swaps atomically.

A version is one Redis hash, ``alpr:hl:<version>:entries``: a field per OCR key, whose value is the JSON document of
every entry with that key, one per line (each line starts ``[<entry id>,``). One hash of a million fields takes
less than half the memory and a third of Redis's time that a small hash per key took, a lookup of a whole batch of
reads is one HMGET, and dropping a version is one UNLINK.
"""

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
CURRENT = PREFIX + "live"       # the version that matching reads
BUILDING = PREFIX + "building"  # a version being rebuilt; writes go to it too so none are lost
VERSION_SEQ = PREFIX + "seq"
# Where an index of the earlier layout (a hash per OCR key) named its live version: never read, dropped by a rebuild.
LEGACY_CURRENT = PREFIX + "current"
# One rebuilder across all processes: two at once each clear the other's BUILDING marker, and an entry added
# between the first swap and the second lands only in the version that is about to be replaced.
REBUILD_LOCK = PREFIX + "rebuild-lock"
REBUILD_LOCK_SECONDS = 600
ENTRIES = ":entries"
HMGET_CHUNK = 1000  # keys per HMGET inside the match script: Lua's unpack() takes a few thousand at most


def entries_key(version: int) -> str:
    """The hash holding one version of the index."""
    return f"{PREFIX}{version}{ENTRIES}"


# One round trip per batch of reads: the live version and the value of every OCR key, read atomically.
_MATCH_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local h = KEYS[2] .. v .. ARGV[1]
local out = {}
for i = 2, #ARGV, CHUNK do
  local last = math.min(i + CHUNK - 1, #ARGV)
  local values = redis.call('HMGET', h, unpack(ARGV, i, last))
  -- Most reads match nothing: send back only the keys that have entries, with their position.
  for j = 1, last - i + 1 do
    if values[j] then out[#out + 1] = i + j - 2; out[#out + 1] = values[j] end
  end
end
return out
""".replace("CHUNK", str(HMGET_CHUNK))
# Upsert ("set", key, document) and removal ("del", key, entry id) of one entry's line in a key's value.
_APPLY_LUA = r"""
local function others(value, id)
  local prefix = '[' .. id .. ','
  local kept = {}
  for doc in value:gmatch('[^\n]+') do
    if doc:sub(1, #prefix) ~= prefix then kept[#kept + 1] = doc end
  end
  return kept
end
local function apply(h, op, k, x)
  if op == 'set' then
    if redis.call('HSETNX', h, k, x) == 0 then
      local docs = others(redis.call('HGET', h, k), x:match('^%[(%d+),'))
      docs[#docs + 1] = x
      redis.call('HSET', h, k, table.concat(docs, '\n'))
    end
  else
    local value = redis.call('HGET', h, k)
    if value then
      local docs = others(value, x)
      if #docs > 0 then redis.call('HSET', h, k, table.concat(docs, '\n')) else redis.call('HDEL', h, k) end
    end
  end
end
"""
# One write, to the live version and to a version being built. KEYS: CURRENT, BUILDING; ARGV: prefix, suffix, op,
# key, document or id.
_WRITE_LUA = _APPLY_LUA + """
for _, pointer in ipairs(KEYS) do
  local v = redis.call('GET', pointer)
  if v then apply(ARGV[1] .. v .. ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
end
return 1
"""
# Many writes at once, to the hashes the caller names (it read the live and building versions first). ARGV: op,
# then (key, document) pairs for "set" or (key, entry id) pairs for "del".
_BULK_LUA = (_APPLY_LUA + """
for _, h in ipairs(KEYS) do
  for i = 2, #ARGV, 2 do apply(h, ARGV[1], ARGV[i], ARGV[i + 1]) end
end
return 1
""").encode()
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


_BULK_HEAD = b"$4\r\nEVAL\r\n$%d\r\n%b\r\n" % (len(_BULK_LUA), _BULK_LUA)


def _arg(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def encode_fields(fields: tuple) -> bytes:
    """An entry's document from its :class:`IndexedEntry` fields, in order: the bytes encoding the struct gives,
    without building it (an import encodes a million)."""
    return _encode(fields)


def pack_puts(entries: Iterable[IndexedEntry], versions: Iterable[int]) -> list[BulkCommand]:
    """Bulk "set" commands writing the entries into each of the index versions, BULK_CHUNK entries per command."""
    return pack_documents(((e.plate, _encode(e)) for e in entries), versions)


def pack_documents(documents: Iterable[tuple[str, bytes]], versions: Iterable[int]) -> list[BulkCommand]:
    """Bulk "set" commands for (plate, document) pairs, the documents from :func:`encode_fields`."""
    return _pack(b"set", ((ocr_key(plate).encode(), doc) for plate, doc in documents), versions)


def pack_removes(entries: Iterable[tuple[int, str]], versions: Iterable[int]) -> list[BulkCommand]:
    """Bulk "del" commands for (entry id, plate) pairs, in each of the index versions."""
    return _pack(b"del", ((ocr_key(plate).encode(), b"%d" % entry_id) for entry_id, plate in entries), versions)


def _pack(op: bytes, pairs: Iterable[tuple[bytes, bytes]], versions: Iterable[int]) -> list[BulkCommand]:
    """Commands of BULK_CHUNK (key, value) pairs each, every command naming each version's hash."""
    hashes = [entries_key(v).encode() for v in versions]
    if not hashes:
        return []
    head = _BULK_HEAD + _arg(b"%d" % len(hashes)) + b"".join(_arg(h) for h in hashes) + _arg(op)
    fixed = 4 + len(hashes)  # EVAL, the script, the number of keys, the keys, the op

    def command(body: list[bytes]) -> BulkCommand:
        return BulkCommand(b"".join([b"*%d\r\n" % (fixed + 2 * len(body)), head, *body]), len(body))

    commands: list[BulkCommand] = []
    body: list[bytes] = []
    for key, value in pairs:
        body.append(b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(key), key, len(value), value))
        if len(body) == BULK_CHUNK:
            commands.append(command(body))
            body = []
    if body:
        commands.append(command(body))
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
                await self._write(keys=[CURRENT, BUILDING], args=[PREFIX, ENTRIES, "set", ocr_key(e.plate),
                                                                  _encode(IndexedEntry.from_model(e))], client=pipe)
            await pipe.execute()

    async def remove(self, entry: HotlistEntry) -> None:
        await self._write(keys=[CURRENT, BUILDING], args=[PREFIX, ENTRIES, "del", ocr_key(entry.plate), entry.id])

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
        legacy = await self._redis.get(LEGACY_CURRENT)
        if legacy is not None:  # an index of the earlier layout, a hash per OCR key: no longer read
            async for keys in _batched(self._redis.scan_iter(match=f"{PREFIX}{int(legacy)}:*", count=1000), 1000):
                await self._redis.unlink(*keys)
            await self._redis.delete(LEGACY_CURRENT)
        self.rebuilds += 1
        log.info("hot-list index rebuilt", extra={"entries": count, "version": version})
        return count

    async def _drop_version(self, version: int) -> None:
        await self._redis.unlink(entries_key(version))  # freed by Redis in the background

    async def lookup(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        """The documents (one per line) of each OCR key that has entries, or None when the index is missing (Redis
        came back empty)."""
        raw = await self._match(keys=[CURRENT, PREFIX], args=[ENTRIES, *keys])
        if raw is None:
            return None
        return {keys[pos - 1]: docs for pos, docs in zip(raw[::2], raw[1::2], strict=True)}

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
    def _classify(plate: str, state: str | None, docs: bytes, now: float) -> list[Candidate]:
        found: list[Candidate] = []
        for doc in docs.split(b"\n"):
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
