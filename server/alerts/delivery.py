"""Alerts that are never lost: the shared live stream, a durable log per recipient, acks, replay and re-sends.

Every event gets one id, from the shared stream `alpr:alerts` (which every server process reads for live
delivery), and is appended under that same id to the log of each recipient (`alpr:log:unit:3`,
`alpr:log:role:rtcc`, ...), in one Lua call so no event is ever in one and not the other. Ids are
monotonic, so "everything after X" is one range read per log. A person's acks are kept per account; a
unit's unacknowledged hits wait in a sorted set by deadline until one of its officers acks them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

STREAM = "alpr:alerts"
STREAM_MAXLEN = 200_000  # live delivery needs seconds of it; the logs below are what is kept
LOG = "alpr:log:"
UNACKED = "alpr:unacked"  # members "event_id|recipient", scored by when to re-send
TRIES = "alpr:unacked:tries"
ACK_KEEP_SECONDS = 3 * 24 * 3600
EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # matched whole: no trailing newline, no non-ASCII digits

# KEYS: stream, unacked set. ARGV: stream maxlen, log maxlen, first deadline, then 9 fields per event.
_PUBLISH = """
local out = {}
local n = (#ARGV - 3) / 9
for i = 0, n - 1 do
  local b = 3 + i * 9
  local kind, to, payload, ts, pr, extra, orig, logged, track =
    ARGV[b+1], ARGV[b+2], ARGV[b+3], ARGV[b+4], ARGV[b+5], ARGV[b+6], ARGV[b+7], ARGV[b+8], ARGV[b+9]
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', kind, 'to', to, 'p', payload,
                        'ts', ts, 'pr', pr, 'x', extra, 'e', orig)
  if logged == '1' and to ~= '' then
    for r in string.gmatch(to, '[^,]+') do
      redis.call('XADD', 'alpr:log:' .. r, 'MAXLEN', '~', ARGV[2], id, 't', kind, 'p', payload, 'pr', pr, 'x', extra)
    end
  end
  if track ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[3], id .. '|' .. track)
  end
  out[#out + 1] = id
end
return out
"""

# KEYS: acked set, ack mark, unacked set, tries. ARGV: event id, now, keep seconds, then recipients to clear.
_ACK = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2] - ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local mark = redis.call('GET', KEYS[2])
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local ms, seq = split(ARGV[1])
local newer = true
if mark then
  local mms, mseq = split(mark)
  newer = ms > mms or (ms == mms and seq > mseq)
end
if newer then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3]) end
local cleared = 0
for i = 4, #ARGV do
  local member = ARGV[1] .. '|' .. ARGV[i]
  cleared = cleared + redis.call('ZREM', KEYS[3], member)
  redis.call('HDEL', KEYS[4], member)
end
return cleared
"""

# KEYS: unacked set, tries. ARGV: now, next deadline, max re-sends, batch size. Claims due members atomically,
# so of several server processes exactly one re-sends each.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
local out = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local n = redis.call('HINCRBY', KEYS[2], member, 1)
  if n < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[2], member)
  else
    redis.call('HDEL', KEYS[2], member)
  end
  out[#out + 1] = member
  out[#out + 1] = n
end
return out
"""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A message for a set of recipients; the payload is JSON already, encoded once for all sockets.

    `extra` is more JSON members (`,"k":v`) spliced into the message; `track` names the recipient whose
    ack is awaited (re-sent and escalated if it does not come); `original_id` marks a re-send of an event.
    """

    type: str
    recipients: tuple[str, ...]
    payload: bytes
    priority: int = 9
    extra: bytes = b""
    logged: bool = True
    track: str | None = None
    original_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event read back from a recipient's log, for replay."""

    event_id: str
    type: str
    payload: str
    priority: int
    extra: str

    @classmethod
    def from_log(cls, event_id: str, fields: dict[bytes, bytes]) -> LoggedEvent:
        """From a log entry's fields, as the publish script writes them."""
        return cls(event_id, fields[b"t"].decode(), fields[b"p"].decode(), int(fields[b"pr"]), fields[b"x"].decode())

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.priority, *id_order(self.event_id))

    def message(self, replayed: bool) -> str:
        return alert_message(self.type, self.event_id, self.payload, self.extra + (',"replayed":true' if replayed
                                                                                    else ""))


#: The member that carries the payload, by message type; every other type carries a hit.
PAYLOAD_MEMBER = {"audit_flag": "flag"}


def alert_message(kind: str, event_id: str, payload: str, extra: str = "") -> str:
    """The JSON a socket is sent, spliced from parts that are JSON already (the hit is encoded once for all)."""
    return f'{{"type":"{kind}","event_id":"{event_id}","{PAYLOAD_MEMBER.get(kind, "hit")}":{payload}{extra}}}'


def id_order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


MAX_ID_PART = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers; XRANGE rejects anything larger


def valid_event_id(event_id: str) -> bool:
    """Two 64-bit numbers, short of the very last id: Redis refuses a range that starts after it."""
    return (bool(EVENT_ID.fullmatch(event_id)) and max(id_order(event_id)) <= MAX_ID_PART
            and id_order(event_id) != (MAX_ID_PART, MAX_ID_PART))


def before(event_id: str) -> str:
    """The id just before this one, so an exclusive range starting there includes it."""
    ms, seq = id_order(event_id)
    return f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{MAX_ID_PART}" if ms else "0-0"


def resume_key(user_id: int) -> str:
    return f"alpr:resume:{user_id}"


def acked_key(user_id: int) -> str:
    return f"alpr:acked:{user_id}"


def ack_mark_key(user_id: int) -> str:
    return f"alpr:ackmark:{user_id}"


class DeliveryLog:
    """Publishing, acks, replay and the claim of due re-sends, all against Redis."""

    def __init__(self, redis: Redis, log_length: int, resend_seconds: float) -> None:
        self._redis = redis
        self._log_length = log_length
        self._resend_seconds = resend_seconds
        self._publish = redis.register_script(_PUBLISH)
        self._ack = redis.register_script(_ACK)
        self._claim = redis.register_script(_CLAIM)

    async def publish(self, events: Iterable[AlertEvent]) -> list[str]:
        """Append events to the live stream and their recipients' logs; their ids, in order."""
        events = list(events)
        if not events:
            return []
        now = time.time()
        args: list[str | bytes | int] = [STREAM_MAXLEN, self._log_length, repr(now + self._resend_seconds)]
        for ev in events:
            args += [ev.type, ",".join(ev.recipients), ev.payload, repr(now), ev.priority, ev.extra,
                     ev.original_id or "", "1" if ev.logged else "0", ev.track or ""]
        ids = await self._publish(keys=[STREAM, UNACKED], args=args)
        return [i.decode() for i in ids]

    async def ack(self, user_id: int, event_id: str, recipients: Sequence[str]) -> bool:
        """Record a person's ack; it also stops the re-sends awaiting it for their unit. True if it stopped any."""
        cleared = await self._ack(keys=[acked_key(user_id), ack_mark_key(user_id), UNACKED, TRIES],
                                  args=[event_id, repr(time.time()), ACK_KEEP_SECONDS, *recipients])
        return bool(cleared)

    async def resume_point(self, user_id: int) -> str | None:
        """Where a reconnect without `resume` starts: before the oldest event the last connection was sent and
        not acknowledged (acks may come out of order: the most urgent is shown first), else the newest ack."""
        point, mark = await self._redis.mget(resume_key(user_id), ack_mark_key(user_id))
        found = [p.decode() for p in (point, mark) if p]
        return min(found, key=id_order) if found else None

    async def remember_resume_point(self, user_id: int, event_id: str | None) -> None:
        if event_id is None:
            await self._redis.delete(resume_key(user_id))
        else:
            await self._redis.set(resume_key(user_id), event_id, ex=ACK_KEEP_SECONDS)

    async def replay(self, user_id: int, recipients: Iterable[str], after: str, upto: str,
                     limit: int) -> tuple[list[LoggedEvent], bool]:
        """What this person's logs hold after `after` up to `upto`, less what they acked, most urgent first.

        Returns the events and whether the limit cut them short (the oldest are kept: nothing is skipped
        silently in the middle).
        """
        recipients = list(recipients)
        found: list[LoggedEvent] = []
        cursor = after
        while True:
            async with self._redis.pipeline(transaction=False) as pipe:
                for r in recipients:
                    pipe.xrange(f"{LOG}{r}", min=f"({cursor}", max=upto, count=limit + 1)
                ranges = await pipe.execute()
            # A log with more than `limit` left is read up to its limit-th event only, so nothing newer than that
            # may be taken from any log this round: the client resumes after the newest id it gets, and what
            # lies between would be skipped for good.
            cut = min((id_order(entries[limit - 1][0].decode()) for entries in ranges if len(entries) > limit),
                      default=None)
            page: dict[str, LoggedEvent] = {}
            for entries in ranges:
                for raw_id, f in entries[:limit]:
                    event_id = raw_id.decode()
                    if event_id not in page and (cut is None or id_order(event_id) <= cut):
                        page[event_id] = LoggedEvent.from_log(event_id, f)
            if page:
                ids = list(page)
                scores = await self._redis.zmscore(acked_key(user_id), ids)
                found += [page[i] for i, score in zip(ids, scores, strict=True) if score is None]
            if cut is None or len(found) >= limit:
                truncated = cut is not None
                break
            # Too few unacknowledged so far: read on, so a long run of acked events never ends a replay early.
            cursor = f"{cut[0]}-{cut[1]}"
        found.sort(key=lambda e: id_order(e.event_id))
        if len(found) > limit:
            found, truncated = found[:limit], True
        found.sort(key=lambda e: e.order)
        return found, truncated

    async def logged(self, recipient: str, event_id: str) -> LoggedEvent | None:
        entries = await self._redis.xrange(f"{LOG}{recipient}", min=event_id, max=event_id, count=1)
        if not entries:
            return None
        raw_id, f = entries[0]
        return LoggedEvent.from_log(raw_id.decode(), f)

    async def claim_due(self, max_resends: int, batch: int = 100) -> list[tuple[str, str, int]]:
        """Unacknowledged events whose deadline passed, claimed by this process: (event id, recipient, try)."""
        now = time.time()
        flat = await self._claim(keys=[UNACKED, TRIES],
                                 args=[repr(now), repr(now + self._resend_seconds), max_resends, batch])
        out = []
        for member, n in zip(flat[::2], flat[1::2], strict=True):
            event_id, _, recipient = member.decode().partition("|")
            out.append((event_id, recipient, int(n)))
        return out
