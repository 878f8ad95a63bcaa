"""Turning a bearer token into a principal, and the checks every route and socket applies."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Camera, User
from server.auth.principals import CameraPrincipal, UserPrincipal
from server.auth.tokens import TokenError, TokenService
from server.errors import ApiError

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


async def principal_from_token(session: AsyncSession, tokens: TokenService, token: str,
                               ) -> UserPrincipal | CameraPrincipal:
    """Verify a user access token or a device token and load who it belongs to."""
    try:
        claims = tokens.verify(token, "device" if _looks_like_device(tokens, token) else "access")
    except TokenError as exc:
        raise NotAuthorizedException(str(exc)) from exc
    if claims["typ"] == "device":
        camera = await session.get(Camera, claims["sub"])
        if camera is None:
            raise NotAuthorizedException("this camera is not registered")
        if not camera.enabled:
            raise ApiError(403, "camera_disabled", f"camera {camera.id} is disabled; ask an administrator")
        return CameraPrincipal(camera_id=camera.id, unit_id=camera.unit_id)
    user = await load_user(session, int(claims["sub"]))
    if user is None:
        raise NotAuthorizedException("this account does not exist or is deactivated")
    return user


def _looks_like_device(tokens: TokenService, token: str) -> bool:
    import jwt

    try:
        return jwt.decode(token, options={"verify_signature": False}).get("typ") == "device"
    except jwt.PyJWTError:
        return False


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
        res = connection.app.state.resources
        async with res.sessions() as session:
            principal = await principal_from_token(session, res.tokens, token)
        return AuthenticationResult(user=principal, auth=token)


def users(*roles: str):  # noqa: ANN201 - Litestar guard
    """Guard: a trained, granted person holding one of the roles (any role when none named)."""
    wanted = frozenset(roles)

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.user
        if not isinstance(user, UserPrincipal):
            raise ApiError(403, "forbidden", "this call is for user accounts, not dash cameras")
        require_alpr_access(user)
        if wanted and not (user.roles & wanted):
            raise ApiError(403, "forbidden", f"this call needs one of the roles: {', '.join(sorted(wanted))}")

    return guard


def cameras(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: a registered, enabled dash camera."""
    if not isinstance(connection.user, CameraPrincipal):
        raise ApiError(403, "forbidden", "only registered dash cameras post detections; use a device token")
