"""Sign-in, token refresh and expiry, the bootstrap account, and who may administer accounts and devices."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from support import ADMIN, ADMIN_PASSWORD, PASSWORD, SSL_CONTEXT, make_user, now_iso


def anon_client(world) -> httpx.AsyncClient:  # noqa: ANN001
    c = httpx.AsyncClient(base_url=world.server.base_url, timeout=30, verify=SSL_CONTEXT)
    world.clients.append(c)  # closed with the world
    return c


def client_factory(world):  # noqa: ANN001, ANN201
    def make(token: str | None = None) -> httpx.AsyncClient:
        c = anon_client(world)
        if token:
            c.headers["Authorization"] = f"Bearer {token}"
        return c

    return make


def mint(world, **overrides: Any) -> str:  # noqa: ANN001
    """An access token for the officer signed with the server's own key, with some claims changed."""
    s = world.server.resources.settings
    now = int(time.time())
    claims = {"iss": s.token_issuer, "aud": s.token_audience, "sub": str(world.officer.id), "iat": now, "nbf": now,
              "exp": now + 600, "jti": "t-" + str(now), "typ": "access", "roles": ["officer"],
              "unit_id": world.unit_id}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, s.signing_key(), algorithm="HS256")


async def test_login_answers_a_bearer_token_pair(world) -> None:
    """A correct name and password yield an access token that works and a refresh token."""
    anon = anon_client(world)
    resp = await anon.post("/api/v1/auth/token", json={"username": "officer1", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == world.server.resources.settings.access_token_minutes * 60
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    me = await anon.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "officer1"


async def test_wrong_password_and_unknown_user_get_the_same_answer(world) -> None:
    """A wrong password and an unknown name both answer the same 401, so accounts cannot be enumerated."""
    anon = anon_client(world)
    wrong = await anon.post("/api/v1/auth/token", json={"username": "officer1", "password": "not-the-password"})
    unknown = await anon.post("/api/v1/auth/token", json={"username": "nobody-here", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_credentials"


async def test_refresh_rotates_and_an_old_refresh_token_works_once(world) -> None:
    """A refresh gives a working new pair; replaying the spent refresh token is refused."""
    anon = anon_client(world)
    first = (await anon.post("/api/v1/auth/token", json={"username": "rtcc1", "password": PASSWORD})).json()
    second = await anon.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    me = await anon.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "rtcc1"

    replay = await anon.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401, replay.text
    assert replay.json()["error"] == "invalid_token"

    third = await anon.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert third.status_code == 200, third.text


async def test_concurrent_replay_of_one_refresh_token_succeeds_once(world) -> None:
    """A refresh token presented twice at the same moment (a stolen copy racing the owner) yields one new pair only."""
    anon = anon_client(world)
    for _ in range(3):
        pair = (await anon.post("/api/v1/auth/token", json={"username": "rtcc1", "password": PASSWORD})).json()
        body = {"refresh_token": pair["refresh_token"]}
        answers = await asyncio.gather(*(anon.post("/api/v1/auth/refresh", json=body) for _ in range(4)))
        assert sorted(a.status_code for a in answers) == [200, 401, 401, 401], [a.text for a in answers]


async def test_access_token_is_not_a_refresh_token(world) -> None:
    """An access token sent to the refresh call is refused, and a refresh token does not open API calls."""
    anon = anon_client(world)
    pair = (await anon.post("/api/v1/auth/token", json={"username": "rtcc1", "password": PASSWORD})).json()
    resp = await anon.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert resp.status_code == 401
    resp = await anon.get("/api/v1/users/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert resp.status_code == 401


@pytest.mark.parametrize(("case", "claims"), [
    ("wrong audience", {"aud": "some-other-api"}),
    ("wrong issuer", {"iss": "someone-else"}),
    ("expired", {"iat": int(time.time()) - 3600, "nbf": int(time.time()) - 3600, "exp": int(time.time()) - 60}),
    ("no expiry", {"exp": None}),
    ("device type", {"typ": "device"}),
    ("refresh type", {"typ": "refresh"}),
])
async def test_forged_or_stale_access_tokens_are_refused(world, case: str, claims: dict[str, Any]) -> None:
    """An access token for another audience or issuer, expired, or of the wrong type answers 401."""
    token = mint(world, **claims)
    resp = await anon_client(world).get("/api/v1/units", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401, (case, resp.text)
    assert resp.json()["error"] == "unauthorized"
    assert resp.json()["detail"]


async def test_token_signed_with_another_key_is_refused(world) -> None:
    """A well-formed token signed with a key other than the server's answers 401."""
    now = int(time.time())
    s = world.server.resources.settings
    token = jwt.encode({"iss": s.token_issuer, "aud": s.token_audience, "sub": str(world.officer.id), "iat": now,
                        "exp": now + 600, "jti": "x", "typ": "access"}, "not-the-server-key-" * 3, algorithm="HS256")
    resp = await anon_client(world).get("/api/v1/units", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


async def test_minted_token_with_right_claims_is_accepted(world) -> None:
    """The control case: a token with the server's key, issuer and audience is honoured."""
    resp = await anon_client(world).get("/api/v1/users/me", headers={"Authorization": f"Bearer {mint(world)}"})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
async def test_missing_or_malformed_authorization_is_401(world, header: str | None) -> None:
    """A call without a usable bearer token answers 401 in the error shape."""
    headers = {"Authorization": header} if header else {}
    resp = await anon_client(world).get("/api/v1/units", headers=headers)
    assert resp.status_code == 401, resp.text
    assert set(resp.json()) >= {"error", "detail"}


async def test_bootstrap_admin_is_admin_and_chief_trained_and_granted(world) -> None:
    """ALPR_BOOTSTRAP_ADMIN creates the first account with roles admin and chief, trained and granted."""
    anon = anon_client(world)
    tok = await anon.post("/api/v1/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert tok.status_code == 200, tok.text
    me = (await anon.get("/api/v1/users/me",
                         headers={"Authorization": f"Bearer {tok.json()['access_token']}"})).json()
    assert me["username"] == ADMIN
    assert set(me["roles"]) == {"admin", "chief"}
    assert me["training_completed_at"] is not None
    assert me["access_granted"] is True


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/users", {"username": "newbie", "password": PASSWORD, "display_name": "Newbie",
                       "roles": ["dispatcher"]}),
    ("/api/v1/units", {"call_sign": "2B22"}),
    ("/api/v1/cameras", {"unit_id": "UNIT", "label": "rear"}),
])
async def test_only_admin_creates_users_units_and_cameras(world, path: str, body: dict[str, Any]) -> None:
    """An officer, RTCC analyst or dispatcher who tries to create an account, unit or camera gets 403."""
    body = {k: (world.unit_id if v == "UNIT" else v) for k, v in body.items()}
    for acct in (world.officer, world.rtcc, world.dispatcher):
        resp = await acct.client.post(path, json=body)
        assert resp.status_code == 403, (acct.username, resp.text)
        assert resp.json()["error"] == "forbidden"
    resp = await world.admin.client.post(path, json=body)
    assert resp.status_code == 201, resp.text


async def test_only_chief_grants_access(world) -> None:
    """An admin who is not chief cannot grant or withdraw ALPR access; the chief can."""
    make = client_factory(world)
    anon = anon_client(world)
    plain_admin = await make_user(world.admin, anon, make, "itadmin", ["admin"])
    target = (await world.admin.client.post("/api/v1/users", json={
        "username": "newdispatch", "password": PASSWORD, "display_name": "New Dispatch",
        "roles": ["dispatcher"]})).json()
    grant = {"granted": True, "note": "dispatch staffing"}
    resp = await plain_admin.client.post(f"/api/v1/users/{target['id']}/access-grant", json=grant)
    assert resp.status_code == 403, resp.text
    resp = await world.officer.client.post(f"/api/v1/users/{target['id']}/access-grant", json=grant)
    assert resp.status_code == 403, resp.text
    # The chief (the bootstrap account) can; and the admin-only account could still record training.
    resp = await world.admin.client.post(f"/api/v1/users/{target['id']}/access-grant", json=grant)
    assert resp.status_code == 200 and resp.json()["access_granted"] is True
    resp = await plain_admin.client.post(f"/api/v1/users/{target['id']}/training",
                                         json={"completed_at": now_iso(-timedelta(days=1))})
    assert resp.status_code == 200, resp.text


async def test_officer_without_unit_is_refused(world) -> None:
    """An officer account needs a unit (alerts go to the unit's officers): without one it is 422."""
    resp = await world.admin.client.post("/api/v1/users", json={
        "username": "floater", "password": PASSWORD, "display_name": "Floater", "roles": ["officer"]})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"
    assert "unit_id" in resp.json()["detail"]


async def test_user_in_unknown_unit_is_404(world) -> None:
    """An account naming a unit that does not exist is refused and not created."""
    resp = await world.admin.client.post("/api/v1/users", json={
        "username": "lost", "password": PASSWORD, "display_name": "Lost", "roles": ["officer"], "unit_id": 99999})
    assert resp.status_code == 404, resp.text
    login = await anon_client(world).post("/api/v1/auth/token", json={"username": "lost", "password": PASSWORD})
    assert login.status_code == 401


async def test_duplicate_username_is_409(world) -> None:
    """Creating a second account with a taken username answers 409 and keeps the first account's password."""
    resp = await world.admin.client.post("/api/v1/users", json={
        "username": "rtcc1", "password": "a-different-password", "display_name": "Impostor", "roles": ["rtcc"]})
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "username_taken"
    login = await anon_client(world).post("/api/v1/auth/token", json={"username": "rtcc1", "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(("field", "body"), [
    ("password", {"username": "shorty", "password": "short", "display_name": "S", "roles": ["rtcc"]}),
    ("roles", {"username": "norole", "password": PASSWORD, "display_name": "N", "roles": []}),
    ("roles", {"username": "badrole", "password": PASSWORD, "display_name": "B", "roles": ["superuser"]}),
    ("username", {"username": "has space", "password": PASSWORD, "display_name": "H", "roles": ["rtcc"]}),
    ("username", {"username": "rtcc1\n", "password": PASSWORD, "display_name": "Twin", "roles": ["rtcc"]}),
])
async def test_bad_account_fields_are_422_naming_the_field(world, field: str, body: dict[str, Any]) -> None:
    """A short password, no or unknown role, or a bad username is refused with a 422 that names the field."""
    resp = await world.admin.client.post("/api/v1/users", json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["detail"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/users", {"username": "ctl", "password": PASSWORD, "display_name": "Jo\u0000hn", "roles": ["rtcc"]},
     "display_name"),
    ("/api/v1/users", {"username": "ctl", "password": PASSWORD, "display_name": "John", "roles": ["rtcc"],
                       "badge_number": "12\u001b34"}, "badge_number"),
    ("/api/v1/cameras", {"unit_id": "UNIT", "label": "dash\u0000"}, "label"),
    ("/api/v1/users/RTCC/access-grant", {"granted": False, "note": "bye\u0000"}, "note"),
    ("/api/v1/auth/token", {"username": "rtcc1\u0000", "password": PASSWORD}, "username"),
    ("/api/v1/auth/device-token", {"camera_id": "cam-\u0000", "secret": "x"}, "camera_id"),
])
async def test_control_characters_are_refused_not_a_500(world, path: str, body: dict[str, Any], field: str) -> None:
    """A NUL or other control character in a name, label, note or id is a 422 naming the field, on every database."""
    path = path.replace("RTCC", str(world.rtcc.id))
    body = {k: (world.unit_id if v == "UNIT" else v) for k, v in body.items()}
    resp = await world.admin.client.post(path, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"
    assert field in resp.json()["detail"] and "control characters" in resp.json()["detail"]
    me = await world.rtcc.client.get("/api/v1/users/me")
    assert me.json()["access_granted"] is True  # nothing was changed


async def test_patch_camera_with_control_characters_in_the_id_is_404(world) -> None:
    """A camera id that no camera can have (a NUL byte, far too long) answers 404, not a database error."""
    for bad in ("cam-%00", "cam-" + "a" * 40):
        resp = await world.admin.client.patch(f"/api/v1/cameras/{bad}", json={"enabled": False})
        assert resp.status_code == 404, resp.text


async def test_duplicate_call_sign_is_409_and_camera_needs_a_real_unit(world) -> None:
    """A call sign is unique whatever its case (409), and a camera cannot be registered to a missing unit (404)."""
    resp = await world.admin.client.post("/api/v1/units", json={"call_sign": "1a12"})
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "call_sign_taken"
    resp = await world.admin.client.post("/api/v1/units", json={"call_sign": "1A12\n"})
    assert resp.status_code == 422, resp.text
    resp = await world.admin.client.post("/api/v1/cameras", json={"unit_id": 99999, "label": "dash"})
    assert resp.status_code == 404, resp.text
    units = (await world.officer.client.get("/api/v1/units")).json()
    assert [u["call_sign"] for u in units] == ["1A12"]
