"""GET /ws/alerts: the live alert socket of officers, dispatch and the RTCC."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import NotAuthorizedException, WebSocketDisconnect

from server.alerts.schemas import (
    CLOSE_FORBIDDEN,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    AuthMessage,
    ErrorMessage,
    Hello,
    HelloUser,
    Ping,
    client_decoder,
    encode,
)
from server.alerts.service import ROLE_DISPATCH, ROLE_RTCC, LocalSocket, unit_key
from server.auth.access import load_user, principal_from_token, require_alpr_access
from server.auth.principals import UserPrincipal
from server.errors import ApiError
from server.resources import Resources, ServerResources

log = logging.getLogger(__name__)
PING_SECONDS = 20.0
CLOSE_TIMEOUT = 10.0  # the close frame queues behind what the client has not read yet


def socket_keys(user: UserPrincipal) -> set[str]:
    """Which alert streams this person receives (api-v1 "Recipients")."""
    keys = {f"user:{user.id}"}
    if "officer" in user.roles and user.unit_id is not None:
        keys.add(unit_key(user.unit_id))
    if "rtcc" in user.roles:
        keys.add(ROLE_RTCC)
    if "dispatcher" in user.roles:
        keys.add(ROLE_DISPATCH)
    return keys


async def _token(socket: WebSocket, timeout: float) -> str | None:
    """The Authorization header (native clients) or a first {"type": "auth"} message (browsers)."""
    header = socket.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    try:
        raw = await asyncio.wait_for(socket.receive_data(mode="text"), timeout)
        msg = client_decoder.decode(raw)
    except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    return msg.token if isinstance(msg, AuthMessage) else None


async def _authenticate(socket: WebSocket, res: Resources) -> UserPrincipal | None:
    token = await _token(socket, res.settings.ws_auth_timeout_seconds)
    if not token:
        await socket.close(CLOSE_UNAUTHORIZED, "send Authorization: Bearer <token> or a first auth message")
        return None
    try:
        user = await principal_from_token(res, token)
        if not isinstance(user, UserPrincipal):
            raise ApiError(403, "forbidden", "dash cameras do not receive alerts")
        require_alpr_access(user)
    except NotAuthorizedException as exc:
        await socket.close(CLOSE_UNAUTHORIZED, str(exc.detail)[:120])
        return None
    except ApiError as exc:
        await socket.close(CLOSE_FORBIDDEN, f"{exc.error}: {exc.detail}"[:120])
        return None
    return user


async def _writer(socket: WebSocket, sock: LocalSocket) -> None:
    while True:
        try:
            message = await asyncio.wait_for(sock.queue.get(), PING_SECONDS)
        except TimeoutError:
            message = encode(Ping()).decode()
        await sock.cleared.wait()  # access is being re-checked: hold everything published after the change
        await socket.send_data(message, mode="text")


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


async def _reader(socket: WebSocket) -> None:
    while True:
        raw = await socket.receive_data(mode="text")
        try:
            client_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await socket.send_data(encode(ErrorMessage("bad_message", str(exc))).decode(), mode="text")
        # ack and resume are recorded by the durable delivery log (issue #3); pong needs no answer.


@websocket("/ws/alerts", opt={"exclude_from_auth": True})
async def alerts_socket(socket: WebSocket, resources: ServerResources) -> None:
    await socket.accept()
    user = await _authenticate(socket, resources)
    if user is None:
        return
    hub = resources.hub
    sock = hub.open_socket(socket_keys(user), label=f"{user.username}@{socket.client.host if socket.client else '?'}")
    withdrawn: AccessWithdrawn | None = None
    try:
        await socket.send_data(encode(Hello(HelloUser(user.id, user.username, user.display_name, sorted(user.roles),
                                                      user.unit_id), resume_from=hub.last_id)).decode(), mode="text")
        tasks = [asyncio.create_task(_writer(socket, sock)), asyncio.create_task(_reader(socket)),
                 asyncio.create_task(sock.dropped.wait()), asyncio.create_task(_rechecker(sock, resources, user.id))]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await t
        for t in done:
            if not t.cancelled() and isinstance(t.exception(), AccessWithdrawn):
                withdrawn = t.exception()
        if withdrawn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(CLOSE_FORBIDDEN, str(withdrawn)[:120]), CLOSE_TIMEOUT)
        elif sock.dropped.is_set():
            # A client that stopped reading may never take the close frame either: do not wait on it forever.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(CLOSE_TOO_SLOW, "client too slow: reconnect"), CLOSE_TIMEOUT)
        for t in done:
            exc = None if t.cancelled() else t.exception()
            if exc and not isinstance(exc, WebSocketDisconnect | AccessWithdrawn):
                log.info("alert socket %s ended: %r", sock.label, exc)
    finally:
        hub.close_socket(sock)
