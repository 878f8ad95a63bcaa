"""JWT access, refresh and device tokens: expiry, issuer, audience and a token id on each."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
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

    LEEWAY = 5
    CACHE_SIZE = 10_000

    def __init__(self, key: str, issuer: str, audience: str) -> None:
        self._key, self._issuer, self._audience = key, issuer, audience
        # A camera sends the same token hundreds of times a minute; checking its signature costs more than
        # the rest of the request. The exact token string maps to its verified claims until it expires.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(self, typ: TokenType, subject: str, ttl_seconds: int, **claims: Any) -> IssuedToken:
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        payload = {"iss": self._issuer, "aud": self._audience, "sub": subject, "iat": now, "nbf": now,
                   "exp": now + ttl_seconds, "jti": jti, "typ": typ, **claims}
        return IssuedToken(jwt.encode(payload, self._key, algorithm=ALGORITHM), jti, ttl_seconds, now + ttl_seconds)

    def verify(self, token: str, expected: TokenType | tuple[TokenType, ...]) -> dict[str, Any]:
        """The claims of a valid token of the expected type(s), or TokenError saying what is wrong."""
        allowed = (expected,) if isinstance(expected, str) else expected
        claims = self._verified.get(token)
        if claims is None or claims["exp"] + self.LEEWAY <= time.time():
            claims = self._verify_signature(token)
        if claims.get("typ") not in allowed:
            raise TokenError(f"a {claims.get('typ')} token cannot be used here; a {' or '.join(allowed)} token is needed")
        return claims

    def _verify_signature(self, token: str) -> dict[str, Any]:
        self._verified.pop(token, None)
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=self._audience,
                                issuer=self._issuer, options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
                                leeway=self.LEEWAY)
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        self._verified[token] = claims
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims
