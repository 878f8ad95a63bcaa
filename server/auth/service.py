"""Sign-in, token refresh, device tokens, accounts, training, grants, units and cameras."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.alerts.service import CAMERA_CHANGED, USER_CHANGED, control_event
from server.audit.service import Actor
from server.auth.models import Camera, RefreshToken, Unit, User
from server.auth.principals import UserPrincipal
from server.auth.schemas import (
    AccessGrant,
    CameraCreate,
    CameraCreated,
    CameraPublic,
    DeviceTokenResponse,
    TokenResponse,
    TrainingRecord,
    UnitCreate,
    UnitPublic,
    UserCreate,
    UserPublic,
)
from server.auth.tokens import TokenError
from server.common.text import has_control_characters
from server.db import as_utc, utcnow
from server.errors import ApiError, conflict, in_utc, not_found

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)


def user_public(u: User) -> UserPublic:
    return UserPublic(id=u.id, username=u.username, display_name=u.display_name, badge_number=u.badge_number,
                      roles=u.role_list, unit_id=u.unit_id, is_active=u.is_active,
                      training_completed_at=as_utc(u.training_completed_at), access_granted=u.access_granted)


def _primary(roles: list[str]) -> str:
    return UserPrincipal(0, "", "", frozenset(roles), None, False, False).primary_role


def _bad_login() -> ApiError:
    # The same answer for an unknown name and a wrong password: no account enumeration.
    return ApiError(401, "invalid_credentials", "wrong username or password")


class AuthService:
    def __init__(self, session: AsyncSession, res: Resources) -> None:
        self.session, self.res = session, res
        self.tokens, self.settings, self.hasher = res.tokens, res.settings, res.hasher

    async def _issue_pair(self, user: User) -> TokenResponse:
        s = self.settings
        access = self.tokens.issue("access", str(user.id), s.access_token_minutes * 60, roles=user.role_list,
                                   unit_id=user.unit_id)
        refresh = self.tokens.issue("refresh", str(user.id), s.refresh_token_hours * 3600)
        self.session.add(RefreshToken(jti=refresh.jti, user_id=user.id,
                                      expires_at=utcnow() + timedelta(hours=s.refresh_token_hours)))
        await self.session.commit()
        return TokenResponse(access_token=access.token, expires_in=access.expires_in, refresh_token=refresh.token)

    async def login(self, username: str, password: str, address: str | None = None) -> TokenResponse:
        user = (await self.session.scalars(select(User).where(User.username == username))).first()
        if not await self.hasher.verify_async(user.password_hash if user else None, password) or user is None:
            await self.res.audit.record(Actor(None, username, "none", address), "login_failed")
            raise _bad_login()
        if not user.is_active:
            raise ApiError(403, "account_disabled", f"{username} is deactivated")
        pair = await self._issue_pair(user)
        await self.res.audit.record(Actor(user.id, user.username, _primary(user.role_list), address), "login")
        return pair

    async def refresh(self, token: str) -> TokenResponse:
        try:
            claims = self.tokens.verify(token, "refresh")
        except TokenError as exc:
            raise ApiError(401, "invalid_token", str(exc)) from exc
        # Rotation: each refresh token works once. Revoking it is one conditional UPDATE, so of two requests
        # racing with the same token (a stolen copy and its owner) exactly one wins.
        revoked = await self.session.execute(
            update(RefreshToken).where(RefreshToken.jti == claims["jti"], RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        if revoked.rowcount != 1:
            await self.session.rollback()
            raise ApiError(401, "invalid_token", "this refresh token was already used or revoked; sign in again")
        stored = await self.session.get(RefreshToken, claims["jti"])
        user = await self.session.get(User, stored.user_id) if stored else None
        if user is None or not user.is_active:
            await self.session.rollback()
            raise ApiError(401, "invalid_token", "the account is deactivated")
        return await self._issue_pair(user)  # commits the revocation with the new pair

    async def device_token(self, camera_id: str, secret: str) -> DeviceTokenResponse:
        camera = await self.session.get(Camera, camera_id)
        if not await self.hasher.verify_async(camera.secret_hash if camera else None, secret) or camera is None:
            raise ApiError(401, "invalid_credentials", "unknown camera or wrong secret")
        if not camera.enabled:
            raise ApiError(403, "camera_disabled", f"camera {camera_id} is disabled; ask an administrator")
        issued = self.tokens.issue("device", camera.id, self.settings.device_token_hours * 3600, unit_id=camera.unit_id)
        return DeviceTokenResponse(access_token=issued.token, expires_in=issued.expires_in)

    async def create_user(self, data: UserCreate) -> UserPublic:
        if data.unit_id is not None and await self.session.get(Unit, data.unit_id) is None:
            raise not_found(f"unit {data.unit_id}")
        if "officer" in data.roles and data.unit_id is None:
            raise ApiError(422, "validation_error", "an officer needs a unit_id: alerts go to the unit's officers")
        user = User(username=data.username, password_hash=await self.hasher.hash_async(data.password),
                    display_name=data.display_name, badge_number=data.badge_number,
                    roles=",".join(dict.fromkeys(data.roles)), unit_id=data.unit_id)
        self.session.add(user)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise conflict("username_taken", f"the username {data.username!r} is taken") from exc
        return user_public(user)

    async def _user(self, user_id: int) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise not_found(f"user {user_id}")
        return user

    async def get_user(self, user_id: int) -> UserPublic:
        return user_public(await self._user(user_id))

    async def record_training(self, user_id: int, data: TrainingRecord, actor: UserPrincipal) -> UserPublic:
        completed_at = in_utc(data.completed_at, "completed_at")
        if completed_at > utcnow() + timedelta(minutes=5):
            raise ApiError(422, "validation_error", "completed_at is in the future")
        user = await self._user(user_id)
        user.training_completed_at, user.training_recorded_by = completed_at, actor.id
        await self.session.commit()
        await self._user_changed(user)
        return user_public(user)

    async def set_access_grant(self, user_id: int, data: AccessGrant, actor: UserPrincipal,
                               address: str | None = None) -> UserPublic:
        user = await self._user(user_id)
        user.access_granted, user.access_grant_note = data.granted, data.note
        user.access_granted_by, user.access_granted_at = actor.id, utcnow()
        await self.session.commit()
        await self.res.audit.record(Actor(actor.id, actor.username, "chief", address), "access_grant",
                                    subject=f"user:{user.id}", details={"user": user.username,
                                                                        "granted": data.granted, "note": data.note})
        await self._user_changed(user)
        return user_public(user)

    async def _user_changed(self, user: User) -> None:
        """Open alert sockets of this person re-check their access before anything else reaches them."""
        await self.res.delivery.publish([control_event(USER_CHANGED, user.id)])

    async def create_unit(self, data: UnitCreate) -> UnitPublic:
        unit = Unit(call_sign=data.call_sign.upper())
        self.session.add(unit)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise conflict("call_sign_taken", f"a unit with call sign {unit.call_sign} exists") from exc
        return UnitPublic(id=unit.id, call_sign=unit.call_sign)

    async def list_units(self) -> list[UnitPublic]:
        return [UnitPublic(id=u.id, call_sign=u.call_sign) for u in await self.session.scalars(select(Unit))]

    async def create_camera(self, data: CameraCreate) -> CameraCreated:
        if await self.session.get(Unit, data.unit_id) is None:
            raise not_found(f"unit {data.unit_id}")
        secret = secrets.token_urlsafe(32)
        camera = Camera(id="cam-" + secrets.token_hex(6), unit_id=data.unit_id, label=data.label,
                        secret_hash=await self.hasher.hash_async(secret))
        self.session.add(camera)
        await self.session.commit()
        await self._announce(camera)
        return CameraCreated(camera_id=camera.id, secret=secret, unit_id=camera.unit_id, label=camera.label)

    async def _announce(self, camera: Camera) -> None:
        await self.res.cameras.changed(camera)
        await self.res.delivery.publish([control_event(CAMERA_CHANGED, camera.id)])

    async def set_camera_enabled(self, camera_id: str, enabled: bool) -> CameraPublic:
        if len(camera_id) > 32 or has_control_characters(camera_id):
            raise not_found(f"camera {camera_id[:40]!r}")  # no camera has such an id; do not ask the database
        camera = await self.session.get(Camera, camera_id)
        if camera is None:
            raise not_found(f"camera {camera_id}")
        camera.enabled = enabled
        await self.session.commit()
        await self._announce(camera)
        return CameraPublic(camera_id=camera.id, unit_id=camera.unit_id, label=camera.label, enabled=camera.enabled)


async def bootstrap_admin(res: Resources) -> None:
    """ALPR_BOOTSTRAP_ADMIN=name:password creates the first account (admin and chief, trained, granted) if missing."""
    spec = res.settings.bootstrap_admin
    if not spec:
        return
    name, _, password = spec.partition(":")
    async with res.sessions() as session:
        if (await session.scalars(select(User).where(User.username == name))).first():
            return
        now = utcnow()
        session.add(User(username=name, password_hash=await res.hasher.hash_async(password), display_name=name,
                         roles="admin,chief", training_completed_at=now, access_granted=True, access_granted_at=now,
                         access_grant_note="bootstrap administrator of a new installation"))
        try:
            await session.commit()
            log.info("bootstrap administrator %s created", name)
        except IntegrityError:
            await session.rollback()  # another process created it first
