"""GET /ws/alerts: the live alert socket of officers, dispatch and the RTCC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect

from server.alerts.delivery import before, id_order, valid_event_id
from server.alerts.schemas import (
    CLOSE_FORBIDDEN,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    AckMessage,
    AuthMessage,
    ErrorMessage,
    Hello,
    HelloUser,
    Ping,
    ReplayDone,
    ResumeMessage,
    client_decoder,
    encode,
)
from server.alerts.service import ROLE_AUDITOR, ROLE_DISPATCH, ROLE_RTCC, ROLE_SUPERVISOR, LocalSocket, unit_key
from server.auth.access import load_user, principal_from_token, require_alpr_access
from server.auth.principals import UserPrincipal
from server.errors import ApiError
from server.resources import Resources, ServerResources

log = logging.getLogger(__name__)
PING_SECONDS = 20.0
CLOSE_TIMEOUT = 10.0  # the close frame queues behind what the client has not read yet
MAX_REPLAYS_WAITING = 4  # the automatic one and a client's own resume, with room to spare
REPLAY_LIMIT = 2000  # per replay; the client resumes after the newest id it got for more


def socket_keys(user: UserPrincipal) -> set[str]:
    """Which alert streams this person receives (api-v1 "Recipients")."""
    keys = {f"user:{user.id}"}
    if "officer" in user.roles and user.unit_id is not None:
        keys.add(unit_key(user.unit_id))
    if "rtcc" in user.roles:
        keys.add(ROLE_RTCC)
    if "dispatcher" in user.roles:
        keys.add(ROLE_DISPATCH)
    if "supervisor" in user.roles:
        keys.add(ROLE_SUPERVISOR)  # exigent overrides, unacknowledged hits, audit flags
    if "auditor" in user.roles:
        keys.add(ROLE_AUDITOR)  # audit flags
    return keys


def ack_recipients(user: UserPrincipal) -> list[str]:
    """Whose awaited acks this person's ack settles: their unit's, when they are its officer."""
    return [unit_key(user.unit_id)] if "officer" in user.roles and user.unit_id is not None else []


class SentIds:
    """The ids a socket was sent, the newest `size` of them: enough to tell a replay's overlap with live
    delivery, without growing for the whole of an RTCC analyst's shift."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: dict[str, None] = {}
        self._size = size

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)


@dataclass
class Connection:
    """One signed-in socket: who, until when its token is good, and which event ids it was sent."""

    user: UserPrincipal
    sock: LocalSocket
    expires_at: float
    sent: SentIds = field(default_factory=SentIds)
    acked: SentIds = field(default_factory=SentIds)
    # The hub's position when the socket was registered: every later event reaches this socket live, so a
    # replay stops here (read later, after an await, it would also cover events already queued live).
    live_from: str = "0-0"


async def _token(socket: WebSocket, timeout: float) -> str | None:
    """The Authorization header (native clients) or a first {"type": "auth"} message (browsers)."""
    header = socket.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    try:
        raw = await asyncio.wait_for(socket.receive_data(mode="text"), timeout)
        msg = client_decoder.decode(raw)
    except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):  # nested too deep
        return None
    return msg.token if isinstance(msg, AuthMessage) else None


async def _signed_in(res: Resources, token: str) -> tuple[UserPrincipal, float]:
    """The person a token belongs to, with access checked, and when the token expires."""
    user = await principal_from_token(res, token)
    if not isinstance(user, UserPrincipal):
        raise ApiError(403, "forbidden", "dash cameras do not receive alerts")
    require_alpr_access(user)
    return user, float(res.tokens.verify(token, "access")["exp"])


async def _authenticate(socket: WebSocket, res: Resources) -> tuple[UserPrincipal, float] | None:
    token = await _token(socket, res.settings.ws_auth_timeout_seconds)
    if not token:
        await socket.close(CLOSE_UNAUTHORIZED, "send Authorization: Bearer <token> or a first auth message")
        return None
    try:
        return await _signed_in(res, token)
    except NotAuthorizedException as exc:
        await socket.close(CLOSE_UNAUTHORIZED, str(exc.detail)[:120])
    except ApiError as exc:
        await socket.close(CLOSE_FORBIDDEN, f"{exc.error}: {exc.detail}"[:120])
    return None


async def _writer(socket: WebSocket, conn: Connection) -> None:
    """Most urgent first; an id this socket was sent already is not sent again, except as a re-send."""
    outbox = conn.sock.outbox
    while True:
        item = await outbox.get(PING_SECONDS)
        if item is None:
            message = encode(Ping()).decode()
        elif item.event_id and item.event_id in conn.sent and not item.resend:
            continue  # the live copy of an event a replay already sent, or the other way round
        else:
            message = item.message
            if item.event_id:
                conn.sent.add(item.event_id)
        await conn.sock.cleared.wait()  # access is being re-checked: hold everything published after the change
        await socket.send_data(message, mode="text")


async def _replay(res: Resources, conn: Connection, after: str) -> None:
    """Queue what this person missed after `after`, up to where live delivery to this socket began, then say so."""
    events, truncated = await res.delivery.replay(conn.user.id, conn.sock.keys, after, conn.live_from,
                                                  REPLAY_LIMIT)
    fresh = [e for e in events if e.event_id not in conn.sent]
    added = conn.sock.outbox.add_replay((e.priority, e.event_id, e.message(replayed=True)) for e in fresh)
    res.metrics.replayed.inc(added)
    conn.sock.outbox.add_last(encode(ReplayDone(added, truncated)).decode())


class TokenExpired(Exception):
    """The access token ran out while connected and no fresh one was sent."""


async def _expiry(conn: Connection) -> None:
    while (left := conn.expires_at - time.time()) > 0:
        await asyncio.sleep(min(left, 60.0))
    raise TokenExpired("token expired: sign in again, or send a fresh token in an auth message before it runs out")


class AccessWithdrawn(Exception):
    """The person lost training, grant or account while connected."""


async def _rechecker(sock: LocalSocket, res: Resources, user_id: int) -> None:
    """Re-check access each time the person's training or grant changes (requirements §5: sockets too)."""
    while True:
        await sock.recheck.wait()
        sock.recheck.clear()
        async with res.sessions() as session:
            user = await load_user(session, user_id)
        if user is None:
            raise AccessWithdrawn("this account was deactivated")
        try:
            require_alpr_access(user)
        except ApiError as exc:
            raise AccessWithdrawn(f"{exc.error}: {exc.detail}") from exc
        sock.cleared.set()


async def _reader(socket: WebSocket, res: Resources, conn: Connection) -> None:
    async def error(code: str, detail: str) -> None:
        # Bounded: msgspec quotes a bad value whole (an unknown `type` of a megabyte, say) and this is no echo.
        await socket.send_data(encode(ErrorMessage(code, detail[:500])).decode(), mode="text")

    while True:
        raw = await socket.receive_data(mode="text")
        try:
            msg = client_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:  # nested too deep
            await error("bad_message", str(exc))
            continue
        if isinstance(msg, AckMessage | ResumeMessage):
            event_id = msg.event_id if isinstance(msg, AckMessage) else msg.after
            if not valid_event_id(event_id):
                await error("bad_message", f"{event_id[:40]!r} is not an event id (like 1732771200000-0)")
            elif isinstance(msg, AckMessage):
                if event_id not in conn.sent:  # an ack says "shown": only of what this connection was sent
                    await error("unknown_event", f"event {event_id} was not sent on this connection")
                    continue
                conn.acked.add(event_id)
                await res.delivery.ack(conn.user.id, event_id, ack_recipients(conn.user))
            elif conn.sock.outbox.replays_waiting >= MAX_REPLAYS_WAITING:
                # A client looping on `resume` cannot pile up replays in memory.
                await error("busy", "replays are still being sent; resume again after their replay_done")
            else:
                await _replay(res, conn, event_id)
        elif isinstance(msg, AuthMessage):  # a fresh token keeps the socket open past the old one's expiry
            try:
                user, expires_at = await _signed_in(res, msg.token)
            except (NotAuthorizedException, ApiError) as exc:
                await error("unauthorized", str(getattr(exc, "detail", exc)))
                continue
            if user.id != conn.user.id:
                await error("forbidden", "a socket stays with the person who opened it; reconnect to switch")
            else:
                conn.expires_at = max(conn.expires_at, expires_at)
        # pong needs no answer


@websocket("/ws/alerts", opt={"exclude_from_auth": True})
async def alerts_socket(socket: WebSocket, resources: ServerResources) -> None:
    await socket.accept()
    signed_in = await _authenticate(socket, resources)
    if signed_in is None:
        return
    user, expires_at = signed_in
    hub = resources.hub
    # Open first, then read where live delivery stands: every later event reaches this socket live, every
    # earlier one through the replay, and an event in both is sent once.
    sock = hub.open_socket(socket_keys(user), label=f"{user.username}@{socket.client.host if socket.client else '?'}")
    conn = Connection(user, sock, expires_at, live_from=hub.last_id)  # no await since open_socket
    ended: BaseException | None = None
    try:
        mark = await resources.delivery.resume_point(user.id)
        await socket.send_data(encode(Hello(HelloUser(user.id, user.username, user.display_name, sorted(user.roles),
                                                      user.unit_id), resume_from=mark or hub.last_id)).decode(),
                               mode="text")
        if mark:  # the server's own record: everything after this person's last ack
            await _replay(resources, conn, mark)
        tasks = [asyncio.create_task(_writer(socket, conn)), asyncio.create_task(_reader(socket, resources, conn)),
                 asyncio.create_task(sock.dropped.wait()), asyncio.create_task(_rechecker(sock, resources, user.id)),
                 asyncio.create_task(_expiry(conn))]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await t
        for t in done:
            if not t.cancelled() and isinstance(t.exception(), AccessWithdrawn | TokenExpired):
                ended = t.exception()
        if ended is not None:
            code = CLOSE_FORBIDDEN if isinstance(ended, AccessWithdrawn) else CLOSE_UNAUTHORIZED
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(code, str(ended)[:120]), CLOSE_TIMEOUT)
        elif sock.dropped.is_set():
            # A client that stopped reading may never take the close frame either: do not wait on it forever.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(CLOSE_TOO_SLOW, "client too slow: reconnect"), CLOSE_TIMEOUT)
        for t in done:
            exc = None if t.cancelled() else t.exception()
            if exc and not isinstance(exc, WebSocketDisconnect | AccessWithdrawn | TokenExpired):
                log.info("alert socket %s ended: %r", sock.label, exc)
    finally:
        hub.close_socket(sock)
        await _remember_where_to_resume(resources, conn)


async def _remember_where_to_resume(res: Resources, conn: Connection) -> None:
    """Before the oldest event this connection was sent and the person did not acknowledge, so the next
    connection replays it even when a newer one was acknowledged."""
    unacked = [e for e in conn.sent if e not in conn.acked]
    point = before(min(unacked, key=id_order)) if unacked else None  # None: the ack mark says where to start
    with contextlib.suppress(Exception):  # Redis gone: the ack mark still gives a starting point
        await res.delivery.remember_resume_point(conn.user.id, point)
