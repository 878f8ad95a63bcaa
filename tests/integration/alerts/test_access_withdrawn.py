"""Requirements §5 on open sockets: a change of training or grant reaches sockets already connected."""

from __future__ import annotations

import asyncio

import pytest
from support import AlertSocket, now_iso, read
from websockets.exceptions import ConnectionClosed


@pytest.mark.parametrize("who", ["rtcc", "officer"])
async def test_withdrawn_grant_closes_open_socket_before_any_later_hit(world, who: str) -> None:
    """Once the Chief withdraws a grant, the open socket is closed with 4403 and gets no hit posted after it."""
    await world.add_entry("ABC1234")
    account = getattr(world, who)
    async with AlertSocket.connect(world.server, account.token) as sock:
        resp = await world.admin.client.post(f"/api/v1/users/{account.id}/access-grant",
                                             json={"granted": False, "note": "Reassigned to patrol without ALPR"})
        assert resp.status_code == 200, resp.text
        posted = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
        assert posted.status_code == 201 and posted.json()["hits"]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                msg = await sock.next(timeout=5)
                assert msg["type"] != "hit", f"a hit reached a socket whose grant was withdrawn: {msg}"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        assert "access_not_granted" in closed.value.rcvd.reason


async def test_access_kept_keeps_socket_delivering(world) -> None:
    """A change that leaves access in place (training re-recorded) neither closes the socket nor loses a hit."""
    await world.add_entry("XYZ9876")
    async with AlertSocket.connect(world.server, world.rtcc.token) as sock:
        resp = await world.admin.client.post(f"/api/v1/users/{world.rtcc.id}/training",
                                             json={"completed_at": now_iso()})
        assert resp.status_code == 200, resp.text
        await asyncio.sleep(0.1)
        await world.camera.post("/api/v1/detections", json=read("XYZ9876"))
        msg = await sock.next(timeout=5)
        assert msg["type"] == "hit" and msg["hit"]["entry"]["plate"] == "XYZ9876"
