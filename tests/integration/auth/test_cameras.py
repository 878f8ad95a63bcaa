"""Policy F.3: only registered, enabled dash cameras post detections, each with its own secret."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from support import SSL_CONTEXT, read

from server.auth.models import Camera
from server.detections.models import Detection


def anon_client(world) -> httpx.AsyncClient:  # noqa: ANN001
    c = httpx.AsyncClient(base_url=world.server.base_url, timeout=30, verify=SSL_CONTEXT)
    world.clients.append(c)  # closed with the world
    return c


async def stored_detections(world, *ids: str) -> int:  # noqa: ANN001
    async with world.server.resources.sessions() as session:
        query = select(func.count()).select_from(Detection)
        if ids:
            query = query.where(Detection.id.in_(ids))
        return await session.scalar(query)


async def new_camera(world) -> dict:  # noqa: ANN001
    resp = await world.admin.client.post("/api/v1/cameras", json={"unit_id": world.unit_id, "label": "rear dash"})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_camera_secret_is_shown_once_and_stored_hashed(world) -> None:
    """The secret appears only in the registration answer; later answers and the database do not hold it."""
    cam = await new_camera(world)
    assert cam["secret"] and cam["unit_id"] == world.unit_id and cam["label"] == "rear dash"
    secret = cam["secret"]
    for enabled in (False, True):
        resp = await world.admin.client.patch(f"/api/v1/cameras/{cam['camera_id']}", json={"enabled": enabled})
        assert resp.status_code == 200, resp.text
        assert "secret" not in resp.json()
        assert secret not in resp.text
        assert resp.json()["enabled"] is enabled
    async with world.server.resources.sessions() as session:
        row = await session.get(Camera, cam["camera_id"])
    assert row is not None and secret not in row.secret_hash


async def test_each_camera_gets_its_own_secret(world) -> None:
    """Two cameras of one unit have different ids and secrets; one camera's secret does not open the other."""
    a, b = await new_camera(world), await new_camera(world)
    assert a["camera_id"] != b["camera_id"] and a["secret"] != b["secret"]
    resp = await anon_client(world).post("/api/v1/auth/device-token",
                                         json={"camera_id": a["camera_id"], "secret": b["secret"]})
    assert resp.status_code == 401


async def test_device_token_with_wrong_secret_or_unknown_camera_is_401(world) -> None:
    """A wrong secret and an unknown camera id get the same 401; the right secret gets a device token."""
    anon = anon_client(world)
    wrong = await anon.post("/api/v1/auth/device-token", json={"camera_id": world.camera_id, "secret": "guess"})
    unknown = await anon.post("/api/v1/auth/device-token", json={"camera_id": "cam-nope", "secret": "guess"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_credentials"
    ok = await anon.post("/api/v1/auth/device-token",
                         json={"camera_id": world.camera_id, "secret": world.camera_secret})
    assert ok.status_code == 200, ok.text
    assert ok.json()["access_token"] and ok.json()["expires_in"] > 0


async def test_disabled_camera_cannot_post_and_nothing_is_stored(world) -> None:
    """A disabled camera's reads are refused 403 camera_disabled and none of them is stored."""
    before = read("ABC1234")
    assert (await world.camera.post("/api/v1/detections", json=before)).status_code == 201
    resp = await world.admin.client.patch(f"/api/v1/cameras/{world.camera_id}", json={"enabled": False})
    assert resp.status_code == 200 and resp.json()["enabled"] is False

    one, batch = read("XYZ7890"), [read("XYZ7891"), read("XYZ7892")]
    for body in (one, {"detections": batch}):
        resp = await world.camera.post("/api/v1/detections", json=body)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"] == "camera_disabled"
    assert await stored_detections(world, one["id"], *(d["id"] for d in batch)) == 0
    assert await stored_detections(world) == 1  # only the read from before it was disabled


async def test_disabled_camera_cannot_obtain_a_new_device_token(world) -> None:
    """A disabled camera with the right secret is refused a token; re-enabled, it gets one and posts again."""
    anon = anon_client(world)
    creds = {"camera_id": world.camera_id, "secret": world.camera_secret}
    await world.admin.client.patch(f"/api/v1/cameras/{world.camera_id}", json={"enabled": False})
    resp = await anon.post("/api/v1/auth/device-token", json=creds)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "camera_disabled"

    await world.admin.client.patch(f"/api/v1/cameras/{world.camera_id}", json={"enabled": True})
    resp = await anon.post("/api/v1/auth/device-token", json=creds)
    assert resp.status_code == 200, resp.text
    assert (await world.camera.post("/api/v1/detections", json=read("ABC1234"))).status_code == 201


async def test_user_token_cannot_post_detections(world) -> None:
    """An officer's or admin's own token cannot post detections: only registered cameras do (403), nothing stored."""
    for acct in (world.officer, world.admin, world.rtcc):
        body = read("ABC1234")
        resp = await acct.client.post("/api/v1/detections", json=body)
        assert resp.status_code == 403, (acct.username, resp.text)
        assert resp.json()["error"] == "forbidden"
        assert await stored_detections(world, body["id"]) == 0


async def test_unregistered_camera_token_is_401(world) -> None:
    """Without a token, or with a device token for a camera that is not registered, a post is 401 and not stored."""
    import time

    import jwt

    s = world.server.resources.settings
    now = int(time.time())
    forged = jwt.encode({"iss": s.token_issuer, "aud": s.token_audience, "sub": "cam-ghost", "iat": now,
                         "exp": now + 600, "jti": "g", "typ": "device", "unit_id": world.unit_id},
                        s.signing_key(), algorithm="HS256")
    for headers in ({}, {"Authorization": f"Bearer {forged}"}):
        body = read("ABC1234")
        resp = await anon_client(world).post("/api/v1/detections", json=body, headers=headers)
        assert resp.status_code == 401, resp.text
        assert await stored_detections(world, body["id"]) == 0


async def test_patch_unknown_camera_is_404(world) -> None:
    """Disabling a camera id that does not exist answers 404, and only an admin may disable a camera."""
    resp = await world.admin.client.patch("/api/v1/cameras/cam-nope", json={"enabled": False})
    assert resp.status_code == 404, resp.text
    resp = await world.officer.client.patch(f"/api/v1/cameras/{world.camera_id}", json={"enabled": False})
    assert resp.status_code == 403, resp.text
