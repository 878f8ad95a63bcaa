"""Delivering the live alert stream to this process's sockets, each through a bounded, priority-ordered outbox."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.alerts.delivery import STREAM, AlertEvent, alert_message, id_order
from server.metrics import Metrics

log = logging.getLogger(__name__)

# Control events ride the alert stream, so every process sees them in order with the alerts around them:
# a camera's enabled flag changed (drop cached copies); a person's training or grant changed (re-check
# their open sockets before sending them anything published after the change).
CAMERA_CHANGED = "camera_changed"
USER_CHANGED = "user_changed"


def unit_key(unit_id: int) -> str:
    return f"unit:{unit_id}"


ROLE_RTCC = "role:rtcc"
ROLE_DISPATCH = "role:dispatcher"
ROLE_SUPERVISOR = "role:supervisor"
ROLE_AUDITOR = "role:auditor"


def control_event(kind: str, subject: str | int) -> AlertEvent:
    """A control event about one camera or person; it goes to no socket."""
    return AlertEvent(kind, (), str(subject).encode())


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


LAST = 1_000_000  # a priority after every event's


@dataclass(order=True, slots=True)
class Outgoing:
    """One message waiting for a socket; the most urgent (then the oldest) goes first."""

    priority: int
    order: tuple[int, int]
    seq: int
    event_id: str = field(compare=False)
    message: str = field(compare=False)
    resend: bool = field(compare=False, default=False)  # a re-send goes out even though this id went before
    live: bool = field(compare=False, default=True)  # counts against the bound; a replay does not


class Outbox:
    """A socket's waiting messages: bounded for live events (a stalled client is dropped, never waited for);
    a replay is added whole, since it was asked for and is read from the log at the client's pace."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[Outgoing] = []
        self._live = 0
        self._queued_replays: set[str] = set()  # replayed event ids not yet taken
        self._markers = 0  # replay_done messages not yet taken
        self._seq = itertools.count()
        self._ready = asyncio.Event()

    def offer(self, priority: int, event_id: str, message: str, resend: bool = False) -> bool:
        """Queue a live message; False if the client is this far behind."""
        if self._live >= self.size:
            return False
        self._live += 1
        self._push(Outgoing(priority, id_order(event_id), next(self._seq), event_id, message, resend))
        return True

    def add_replay(self, items: Iterable[tuple[int, str, str]]) -> int:
        """Queue replayed messages, less those already waiting; how many were added."""
        added = 0
        for priority, event_id, message in items:
            if event_id not in self._queued_replays:
                self._queued_replays.add(event_id)
                self._push(Outgoing(priority, id_order(event_id), next(self._seq), event_id, message, live=False))
                added += 1
        return added

    def add_last(self, message: str) -> None:
        """A message with no event id, sent once everything queued now (and more urgent) has gone."""
        self._markers += 1
        self._push(Outgoing(LAST, (0, 0), next(self._seq), "", message, live=False))

    @property
    def replays_waiting(self) -> int:
        """Replays queued whose replay_done has not been taken yet."""
        return self._markers

    def _push(self, item: Outgoing) -> None:
        heapq.heappush(self._heap, item)
        self._ready.set()

    async def get(self, timeout: float) -> Outgoing | None:
        """The most urgent waiting message, or None after `timeout` seconds without one."""
        if not self._heap:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        item = heapq.heappop(self._heap)
        self._live -= item.live
        if not item.live:
            self._queued_replays.discard(item.event_id)
            self._markers -= not item.event_id
        return item

    def __len__(self) -> int:
        return len(self._heap)


@dataclass(eq=False)
class LocalSocket:
    """One connected client: what it receives, and a bounded outbox so it can never stall the others."""

    keys: frozenset[str]
    outbox: Outbox
    label: str
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    # Cleared while the person's access is being re-checked: nothing is sent until it is set again.
    cleared: asyncio.Event = field(default_factory=_set_event)
    recheck: asyncio.Event = field(default_factory=asyncio.Event)


class AlertHub:
    """This process's reader of the alert stream and its registry of connected sockets."""

    def __init__(self, redis: Redis, metrics: Metrics, queue_size: int,
                 on_camera_changed: Callable[[str | None], None] = lambda _: None) -> None:
        self._redis = redis
        self._on_camera_changed = on_camera_changed
        self._metrics = metrics
        self._queue_size = queue_size
        self._read_count = max(1, min(100, queue_size // 4))
        self._by_key: dict[str, set[LocalSocket]] = {}
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self.last_id = "0-0"

    def open_socket(self, keys: Iterable[str], label: str) -> LocalSocket:
        sock = LocalSocket(frozenset(keys), Outbox(self._queue_size), label)
        for k in sock.keys:
            self._by_key.setdefault(k, set()).add(sock)
        self._metrics.sockets.inc()
        return sock

    def close_socket(self, sock: LocalSocket) -> None:
        removed = False
        for k in sock.keys:
            members = self._by_key.get(k)
            if members and sock in members:
                members.discard(sock)
                removed = True
                if not members:
                    del self._by_key[k]
        if removed:
            self._metrics.sockets.dec()


    async def start(self) -> None:
        # Start after the newest existing event: a fresh process delivers live events only.
        newest = await self._redis.xrevrange(STREAM, count=1)
        self.last_id = newest[0][0].decode() if newest else "0-0"
        self._task = asyncio.create_task(self._run(), name="alert-hub")
        self._ready.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                # Small reads with a pause between them: a backlog (after a reconnect) reaches each socket in
                # steps its writer can drain, instead of overflowing healthy clients' queues at once.
                batches = await self._redis.xread({STREAM: self.last_id}, count=self._read_count, block=1000)
                backoff = 0.1
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("alert stream read failed, retrying: %s", exc)
                self._on_camera_changed(None)  # changes may be missed meanwhile: forget every cached camera
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _stream, entries in batches or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id.decode()
                    self._dispatch(self.last_id, fields)
            if batches:
                await asyncio.sleep(0)

    def _dispatch(self, event_id: str, fields: dict[bytes, bytes]) -> None:
        kind = fields[b"t"].decode()
        if kind == CAMERA_CHANGED:
            self._on_camera_changed(fields[b"p"].decode())
            return
        if kind == USER_CHANGED:
            for sock in self._by_key.get(f"user:{fields[b'p'].decode()}", ()):
                sock.cleared.clear()
                sock.recheck.set()
            return
        targets: set[LocalSocket] = set()
        for key in fields[b"to"].decode().split(","):
            targets |= self._by_key.get(key, set())
        if not targets:
            return
        original = fields.get(b"e", b"").decode()
        shown_id = original or event_id  # a re-send carries the id of the event it repeats
        message = alert_message(kind, shown_id, fields[b"p"].decode(), fields.get(b"x", b"").decode())
        priority = int(fields.get(b"pr", 9))
        sent_at = float(fields[b"ts"])
        for sock in targets:
            if not sock.outbox.offer(priority, shown_id, message, resend=bool(original)):
                # A stalled client is dropped, never waited for: the others keep their latency.
                log.warning("dropping slow websocket client %s (queue full)", sock.label)
                self._metrics.dropped_sockets.inc()
                sock.dropped.set()
                self.close_socket(sock)
        self._metrics.fanout_latency.observe(time.time() - sent_at)
