"""A live-alert socket lasts as long as its access token, and a fresh token sent in an auth message extends it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from support import Account, AlertSocket, World, post_read, read
from websockets.exceptions import ConnectionClosed


def short_token(world: World, account: Account, seconds: int) -> str:
    """An access token for this person that runs out in `seconds` (the shortest a setting allows is a minute)."""
    user = account.id
    roles = ["officer"] if account is world.officer else ["rtcc"]
    unit = world.unit_id if account is world.officer else None
    return world.server.resources.tokens.issue("access", str(user), seconds, roles=roles, unit_id=unit).token


async def closed_with(sock: AlertSocket, within: float) -> int | None:
    """Read until the server closes the socket; its close code. Fails if it stays open that long."""
    deadline = time.monotonic() + within
    try:
        while True:
            await sock.next(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        raise AssertionError(f"the socket was still open after {within} s") from None


async def send(sock: AlertSocket, **msg: object) -> None:
    await sock.ws.send(json.dumps(msg))


async def test_socket_is_closed_with_4401_when_its_token_expires(world) -> None:
    """An MDT whose token runs out while connected is closed with 4401 (sign in again)."""
    async with AlertSocket.connect(world.server, short_token(world, world.officer, 2)) as mdt:
        started = time.monotonic()
        assert await closed_with(mdt, within=5) == 4401
        assert time.monotonic() - started <= 2.5
    deadline = time.monotonic() + 2
    while world.server.resources.metrics.sockets._value.get() != 0:
        assert time.monotonic() < deadline, "the expired socket is still registered for alerts"
        await asyncio.sleep(0.01)


async def test_fresh_token_in_auth_message_keeps_the_socket_open(world) -> None:
    """Sending a fresh token for the same person keeps the socket open and receiving past the first expiry."""
    await world.add_entry("ABC1234")
    async with AlertSocket.connect(world.server, short_token(world, world.officer, 2)) as mdt:
        expires = time.monotonic() + 2
        await send(mdt, type="auth", token=short_token(world, world.officer, 60))
        await mdt.nothing_within(max(0.0, expires - time.monotonic()) + 0.5)
        # Still signed in: it answers and receives alerts.
        await send(mdt, type="resume", after=mdt.hello["resume_from"])
        assert (await mdt.next())["type"] == "replay_done"
        (hit,) = (await post_read(world.camera, read("ABC1234")))["hits"]
        msg = await mdt.next()
        assert msg["type"] == "hit" and msg["hit"]["id"] == hit["id"]


async def test_another_persons_token_does_not_extend_the_socket(world) -> None:
    """A token of someone else is refused (forbidden) and the socket still closes when its own token expires."""
    async with AlertSocket.connect(world.server, short_token(world, world.officer, 2)) as mdt:
        await send(mdt, type="auth", token=world.rtcc.token)
        msg = await mdt.next()
        assert msg["type"] == "error" and msg["error"] == "forbidden", msg
        assert await closed_with(mdt, within=5) == 4401


async def test_bad_or_expired_token_in_auth_message_is_refused_without_closing(world) -> None:
    """A garbled or expired token in an auth message is answered `unauthorized`; the socket stays open."""
    async with AlertSocket.connect(world.server, world.officer.token) as mdt:
        expired = world.server.resources.tokens.issue("access", str(world.officer.id), -60).token
        for token in ("not-a-jwt", expired):
            await send(mdt, type="auth", token=token)
            msg = await mdt.next()
            assert msg["type"] == "error" and msg["error"] == "unauthorized", msg
        await send(mdt, type="resume", after=mdt.hello["resume_from"])
        assert (await mdt.next())["type"] == "replay_done"


async def test_expired_token_cannot_open_a_socket(world) -> None:
    """A token that ran out before connecting gets the socket closed with 4401 at once, before any hello."""
    expired = world.server.resources.tokens.issue("access", str(world.officer.id), -60).token
    with pytest.raises(ConnectionClosed) as closed:
        async with AlertSocket.connect(world.server, expired):
            pass
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
