"""JWT access, refresh and device tokens: expiry, issuer, audience and a token id on each."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt

TokenType = Literal["access", "refresh", "device"]
ALGORITHM = "HS256"


class TokenError(Exception):
    """A token that must not be honoured; the message says why."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    expires_at: float


class TokenService:
    """Signs and checks tokens with one key, issuer and audience."""

    def __init__(self, key: str, issuer: str, audience: str) -> None:
        self._key, self._issuer, self._audience = key, issuer, audience

    def issue(self, typ: TokenType, subject: str, ttl_seconds: int, **claims: Any) -> IssuedToken:
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        payload = {"iss": self._issuer, "aud": self._audience, "sub": subject, "iat": now, "nbf": now,
                   "exp": now + ttl_seconds, "jti": jti, "typ": typ, **claims}
        return IssuedToken(jwt.encode(payload, self._key, algorithm=ALGORITHM), jti, ttl_seconds, now + ttl_seconds)

    def verify(self, token: str, expected: TokenType) -> dict[str, Any]:
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=self._audience,
                                issuer=self._issuer, options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
                                leeway=5)
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        if claims.get("typ") != expected:
            raise TokenError(f"a {claims.get('typ')} token cannot be used here; a {expected} token is needed")
        return claims
