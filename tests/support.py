"""Test helpers: a real server in the test's event loop, and clients that speak its API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from asyncapi_check import record_server_message

from server.app import create_app
from server.settings import load_settings

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-123"
# Building an SSL context costs ~60 ms per client; tests speak plain HTTP, so share one.
SSL_CONTEXT = ssl.create_default_context()
PASSWORD = "correct-horse-battery"


@dataclass
class RunningServer:
    base_url: str
    ws_url: str
    app: Any

    @property
    def resources(self):  # noqa: ANN201
        return self.app.state.resources


@contextlib.asynccontextmanager
async def running_server(data_dir: Path, database_url: str, redis_url: str, *, send_buffer: int | None = None,
                         **settings: Any) -> AsyncIterator[RunningServer]:
    """A real server on a free port; send_buffer pins the kernel send buffer its connections inherit."""
    cfg = load_settings({}, data_dir=data_dir, database_url=database_url, redis_url=redis_url,
                        bootstrap_admin=f"{ADMIN}:{ADMIN_PASSWORD}", log_level="WARNING",
                        password_hash_profile="fast-tests-only", **settings)
    app = create_app(cfg)
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it every
    # response waits ~40 ms for a delayed ACK (Nagle), and alerts sit behind unacknowledged segments.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error here
        await asyncio.sleep(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/alerts", app)
    finally:
        server.should_exit = True
        await task
        sock.close()


def now_iso(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat()


def read(plate: str, state: str | None = "AK", **extra: Any) -> dict[str, Any]:
    """A valid detection as a dash camera sends it."""
    body = {"id": str(uuid.uuid4()), "plate": plate, "state": state, "confidence": 0.93,
            "captured_at": now_iso(), "location": {"lat": 61.2176, "lon": -149.8997, "heading": 270}}
    body.update(extra)
    return body


def entry(plate: str, state: str | None = "AK", category: str = "stolen_vehicle", **extra: Any) -> dict[str, Any]:
    body = {"plate": plate, "state": state, "category": category, "source": "NCIC", "case_number": "24-001234",
            "justification": "Reported stolen from a driveway on 5th Avenue"}
    body.update(extra)
    return body


@dataclass
class Account:
    id: int
    username: str
    token: str
    client: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """The people and devices most tests need, each with an authenticated client."""

    server: RunningServer
    admin: Account
    unit_id: int
    camera_id: str
    camera_secret: str
    camera: httpx.AsyncClient
    officer: Account
    rtcc: Account
    dispatcher: Account
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def create(cls, server: RunningServer) -> AsyncIterator[World]:
        clients: list[httpx.AsyncClient] = []

        def client(token: str | None = None) -> httpx.AsyncClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            c = httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30, verify=SSL_CONTEXT)
            clients.append(c)
            return c

        try:
            anon = client()
            admin = await login(anon, ADMIN, ADMIN_PASSWORD, client)
            unit = (await admin.client.post("/api/v1/units", json={"call_sign": "1A12"})).json()
            cam = (await admin.client.post("/api/v1/cameras", json={"unit_id": unit["id"], "label": "dash"})).json()
            tok = (await anon.post("/api/v1/auth/device-token",
                                   json={"camera_id": cam["camera_id"], "secret": cam["secret"]})).json()
            officer = await make_user(admin, anon, client, "officer1", ["officer"], unit_id=unit["id"])
            rtcc = await make_user(admin, anon, client, "rtcc1", ["rtcc"])
            dispatcher = await make_user(admin, anon, client, "dispatch1", ["dispatcher"])
            yield cls(server, admin, unit["id"], cam["camera_id"], cam["secret"], client(tok["access_token"]),
                      officer, rtcc, dispatcher, clients)
        finally:
            for c in clients:
                await c.aclose()

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """Another HTTP client of this server, closed with the world."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        c = httpx.AsyncClient(base_url=self.server.base_url, headers=headers, timeout=30, verify=SSL_CONTEXT)
        self.clients.append(c)
        return c

    async def add_unit(self, call_sign: str = "2B07", officer: str = "officer2",
                       ) -> tuple[int, httpx.AsyncClient, Account]:
        """Another patrol unit with its own dash camera (an authenticated client) and officer."""
        unit = (await self.admin.client.post("/api/v1/units", json={"call_sign": call_sign})).json()
        cam = (await self.admin.client.post("/api/v1/cameras", json={"unit_id": unit["id"], "label": "dash"})).json()
        anon = self.client()
        tok = (await anon.post("/api/v1/auth/device-token",
                               json={"camera_id": cam["camera_id"], "secret": cam["secret"]})).json()
        acct = await make_user(self.admin, anon, self.client, officer, ["officer"], unit_id=unit["id"])
        return unit["id"], self.client(tok["access_token"]), acct

    async def add_entry(self, plate: str, state: str | None = "AK", **extra: Any) -> dict[str, Any]:
        resp = await self.admin.client.post("/api/v1/hotlist/entries", json=entry(plate, state, **extra))
        assert resp.status_code == 201, resp.text
        return resp.json()


async def post_read(camera: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Post one read as a camera; it must be stored (201)."""
    resp = await camera.post("/api/v1/detections", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def login(anon: httpx.AsyncClient, username: str, password: str, client_factory) -> Account:  # noqa: ANN001
    resp = await anon.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    me = await client_factory(token).get("/api/v1/users/me")
    user_id = me.json()["id"] if me.status_code == 200 else -1
    return Account(user_id, username, token, client_factory(token))


async def make_user(admin: Account, anon: httpx.AsyncClient, client_factory, username: str, roles: list[str],  # noqa: ANN001
                    *, unit_id: int | None = None, trained: bool = True, granted: bool = True) -> Account:
    resp = await admin.client.post("/api/v1/users", json={
        "username": username, "password": PASSWORD, "display_name": username.title(), "roles": roles,
        "unit_id": unit_id})
    assert resp.status_code == 201, resp.text
    uid = resp.json()["id"]
    if trained:
        r = await admin.client.post(f"/api/v1/users/{uid}/training", json={"completed_at": now_iso(-timedelta(days=3))})
        assert r.status_code == 200, r.text
    if granted:
        r = await admin.client.post(f"/api/v1/users/{uid}/access-grant",
                                    json={"granted": True, "note": "RTCC staffing, approved by the Chief"})
        assert r.status_code == 200, r.text
    acct = await login(anon, username, PASSWORD, client_factory)
    acct.id = uid
    return acct


class AlertSocket:
    """A websocket client of /ws/alerts that collects what the server sends."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.hello: dict[str, Any] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, server: RunningServer, token: str) -> AsyncIterator[AlertSocket]:
        async with websockets.connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            sock = cls(ws)
            sock.hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            record_server_message(sock.hello)  # every received message is checked against the AsyncAPI spec
            assert sock.hello["type"] == "hello", sock.hello
            yield sock

    async def next(self, timeout: float = 5.0, skip_pings: bool = True) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            record_server_message(msg)
            if not (skip_pings and msg.get("type") == "ping"):
                return msg

    async def nothing_within(self, seconds: float) -> bool:
        try:
            msg = await self.next(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected no message, got {msg}")
