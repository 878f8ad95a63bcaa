"""Policy A.3 and F.5: no ALPR data without recorded training and the Chief's grant, on HTTP and the websocket."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets
from support import SSL_CONTEXT, AlertSocket, make_user, running_server
from websockets.exceptions import ConnectionClosed

GATED_ROUTES = ["/api/v1/hits", "/api/v1/hotlist/entries", "/api/v1/users/me", "/api/v1/units"]
REFUSALS = {"untrained": "training_required", "ungranted": "access_not_granted"}


def client_factory(world):  # noqa: ANN001, ANN201
    def make(token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.AsyncClient(base_url=world.server.base_url, headers=headers, timeout=30, verify=SSL_CONTEXT)
        world.clients.append(c)  # closed with the world
        return c

    return make


async def gated_account(world, kind: str):  # noqa: ANN001, ANN201
    """An RTCC analyst (who could read everything) missing either training or the grant."""
    make = client_factory(world)
    return await make_user(world.admin, make(), make, f"{kind}1", ["rtcc"], trained=kind != "untrained",
                           granted=kind != "ungranted")


async def close_code(ws_url: str, headers: dict[str, str] | None = None, first_message: str | None = None) -> int:
    """Connect (which must succeed), optionally send a first message, and return the close code the server sends."""
    async with websockets.connect(ws_url, additional_headers=headers or {}) as ws:
        if first_message is not None:
            await ws.send(first_message)
        with pytest.raises(ConnectionClosed) as closed:
            msg = await asyncio.wait_for(ws.recv(), 10)
            pytest.fail(f"expected the socket to be closed, got {msg}")
        assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
        return closed.value.rcvd.code


@pytest.mark.parametrize("route", GATED_ROUTES)
@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_untrained_or_ungranted_account_is_refused_on_http(world, kind: str, route: str) -> None:
    """An account without training or without the Chief's grant gets 403 with the reason on every data route."""
    acct = await gated_account(world, kind)
    resp = await acct.client.get(route)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == REFUSALS[kind]
    assert resp.json()["detail"]


@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_untrained_or_ungranted_account_is_refused_on_the_websocket(world, kind: str) -> None:
    """The alert socket closes with 4403 for an account without training or grant, by header or first message."""
    acct = await gated_account(world, kind)
    assert await close_code(world.server.ws_url, headers=acct.headers) == 4403
    auth = json.dumps({"type": "auth", "token": acct.token})
    assert await close_code(world.server.ws_url, first_message=auth) == 4403


async def test_training_and_grant_open_access_without_new_sign_in(world) -> None:
    """Once training is recorded and access granted, the same token works at once."""
    acct = await gated_account(world, "untrained")
    assert (await acct.client.get("/api/v1/units")).status_code == 403
    resp = await world.admin.client.post(f"/api/v1/users/{acct.id}/training",
                                         json={"completed_at": "2024-01-15T09:00:00-09:00"})
    assert resp.status_code == 200, resp.text
    assert (await acct.client.get("/api/v1/units")).status_code == 200


async def test_withdrawn_grant_takes_effect_on_the_next_request(world) -> None:
    """When the Chief withdraws a grant, the officer's next request and next socket are refused, without re-login."""
    officer = world.officer
    assert (await officer.client.get("/api/v1/hits")).status_code == 200
    resp = await world.admin.client.post(f"/api/v1/users/{officer.id}/access-grant",
                                         json={"granted": False, "note": "reassigned pending review"})
    assert resp.status_code == 200, resp.text
    resp = await officer.client.get("/api/v1/hits")
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "access_not_granted"
    assert await close_code(world.server.ws_url, headers=officer.headers) == 4403
    # Granted again: the same token works again.
    await world.admin.client.post(f"/api/v1/users/{officer.id}/access-grant",
                                  json={"granted": True, "note": "review complete"})
    assert (await officer.client.get("/api/v1/hits")).status_code == 200


@pytest.mark.parametrize(("case", "headers", "first_message"), [
    ("garbage bearer token", {"Authorization": "Bearer not-a-token"}, None),
    ("non-bearer scheme", {"Authorization": "Basic dXNlcjpwYXNz"}, None),
    ("garbage token in auth message", None, json.dumps({"type": "auth", "token": "not-a-token"})),
    ("first message is not auth", None, json.dumps({"type": "ack", "event_id": "1-0"})),
    ("first message is not JSON", None, "hello?"),
    ("nothing sent", None, None),
])
async def test_bad_or_missing_token_on_the_websocket_closes_4401(database_url: str, redis_url: str, tmp_path: Path,
                                                                 case: str, headers: dict | None,
                                                                 first_message: str | None) -> None:
    """A socket without a valid token is closed with 4401 (sign in again), including one that never authenticates."""
    async with running_server(tmp_path, database_url, redis_url, ws_auth_timeout_seconds=0.5) as srv:
        assert await close_code(srv.ws_url, headers=headers, first_message=first_message) == 4401, case


async def test_browser_first_message_auth_works_without_a_header(world) -> None:
    """A browser that cannot set headers authenticates with a first {"type": "auth"} message and gets its hello."""
    async with websockets.connect(world.server.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": world.rtcc.token}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"
    assert hello["user"]["username"] == "rtcc1"


async def test_header_auth_socket_says_hello(world) -> None:
    """The control case: a trained, granted officer's socket opens and says hello."""
    async with AlertSocket.connect(world.server, world.officer.token) as sock:
        assert sock.hello["user"]["id"] == world.officer.id


async def test_camera_token_is_refused_on_the_websocket(world) -> None:
    """A dash camera's device token does not receive alerts: the socket closes with 4403."""
    headers = {"Authorization": world.camera.headers["Authorization"]}
    assert await close_code(world.server.ws_url, headers=headers) == 4403
    token = headers["Authorization"].split(" ", 1)[1]
    assert await close_code(world.server.ws_url, first_message=json.dumps({"type": "auth", "token": token})) == 4403


@pytest.mark.parametrize("route", GATED_ROUTES)
async def test_camera_token_is_refused_on_user_routes(world, route: str) -> None:
    """A dash camera's device token cannot read hits, the hot list or accounts: 403."""
    resp = await world.camera.get(route)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "forbidden"
