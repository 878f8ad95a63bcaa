"""Turning a bearer token into a principal, and the checks every route and socket applies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.principals import CameraPrincipal, UserPrincipal
from server.auth.tokens import TokenError
from server.errors import ApiError

if TYPE_CHECKING:
    from server.resources import Resources

PUBLIC_PATHS = {"/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/device-token", "/healthz", "/readyz",
                "/metrics", "/ws/alerts"}


def bearer_token(header: str | None) -> str:
    if not header:
        raise NotAuthorizedException("send Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def load_user(session: AsyncSession, user_id: int) -> UserPrincipal | None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return UserPrincipal(id=user.id, username=user.username, display_name=user.display_name,
                         roles=frozenset(user.role_list), unit_id=user.unit_id,
                         trained=user.training_completed_at is not None, granted=user.access_granted)


async def principal_from_token(res: Resources, token: str) -> UserPrincipal | CameraPrincipal:
    """Verify a user access token or a device token and load who it belongs to, as of now."""
    try:
        claims = res.tokens.verify(token, ("access", "device"))
    except TokenError as exc:
        raise NotAuthorizedException(str(exc)) from exc
    if claims["typ"] == "device":
        status = await res.cameras.status(claims["sub"])
        if status is None:
            raise NotAuthorizedException("this camera is not registered")
        enabled, unit_id = status
        if not enabled:
            raise ApiError(403, "camera_disabled", f"camera {claims['sub']} is disabled; ask an administrator")
        return CameraPrincipal(camera_id=claims["sub"], unit_id=unit_id)
    async with res.sessions() as session:
        user = await load_user(session, int(claims["sub"]))
    if user is None:
        raise NotAuthorizedException("this account does not exist or is deactivated")
    return user


def require_alpr_access(user: UserPrincipal) -> None:
    """Policy A.3 (training) and F.5 (the Chief's grant), checked on every request and socket."""
    if not user.trained:
        raise ApiError(403, "training_required",
                       f"{user.username} has no recorded ALPR training (policy A.3); ask an administrator to record it")
    if not user.granted:
        raise ApiError(403, "access_not_granted",
                       f"{user.username} has no ALPR access grant from the Chief or designee (policy F.5)")


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """Loads the principal for every HTTP request outside the public paths."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        token = bearer_token(connection.headers.get("authorization"))
        principal = await principal_from_token(connection.app.state.resources, token)
        return AuthenticationResult(user=principal, auth=token)


def users(*roles: str):  # noqa: ANN201 - Litestar guard
    """Guard: a trained, granted person holding one of the roles (any role when none named)."""
    wanted = frozenset(roles)

    # Async on purpose: Litestar runs a sync guard in a worker thread, two thread hops per request.
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, UserPrincipal):
            raise ApiError(403, "forbidden", "this call is for user accounts, not dash cameras")
        require_alpr_access(user)
        if wanted and not (user.roles & wanted):
            raise ApiError(403, "forbidden", f"this call needs one of the roles: {', '.join(sorted(wanted))}")

    return guard


def require_camera(principal: object) -> None:
    """Only a registered, enabled dash camera posts detections (the token check already loaded it)."""
    if not isinstance(principal, CameraPrincipal):
        raise ApiError(403, "forbidden", "only registered dash cameras post detections; use a device token")
