"""Unit tests for server.auth.tokens: signed access, refresh and device tokens."""

from __future__ import annotations

import time

import jwt
import pytest

from server.auth.tokens import ALGORITHM, TokenError, TokenService

KEY = "k" * 48
SERVICE = TokenService(KEY, "alpr", "alpr-api")


@pytest.mark.parametrize("typ", ["access", "refresh", "device"])
def test_issue_verify_round_trip(typ: str) -> None:
    """A token verifies as its own type and carries subject, extra claims, expiry and a unique id."""
    issued = SERVICE.issue(typ, "42", 600, roles=["officer"], unit_id=7)
    claims = SERVICE.verify(issued.token, typ)
    assert claims["sub"] == "42" and claims["typ"] == typ
    assert claims["roles"] == ["officer"] and claims["unit_id"] == 7
    assert (claims["iss"], claims["aud"]) == ("alpr", "alpr-api")
    assert claims["jti"] == issued.jti
    assert claims["exp"] - claims["iat"] == 600 == issued.expires_in
    assert abs(issued.expires_at - (time.time() + 600)) < 5


def test_each_token_has_its_own_id() -> None:
    """Two tokens issued at once for the same subject differ (rotation can revoke one)."""
    a, b = SERVICE.issue("refresh", "1", 60), SERVICE.issue("refresh", "1", 60)
    assert a.jti != b.jti and a.token != b.token


@pytest.mark.parametrize(("issued", "expected"), [
    ("access", "refresh"), ("refresh", "access"), ("device", "access"), ("access", "device"), ("refresh", "device"),
])
def test_wrong_type_is_refused(issued: str, expected: str) -> None:
    """A token of one type is refused where another is needed (a refresh token never opens the API)."""
    token = SERVICE.issue(issued, "1", 600).token
    with pytest.raises(TokenError, match=expected):
        SERVICE.verify(token, expected)


def test_expired_token_is_refused() -> None:
    """A token past its expiry (beyond the small clock leeway) is refused as expired."""
    token = SERVICE.issue("access", "1", -60).token
    with pytest.raises(TokenError, match="expired"):
        SERVICE.verify(token, "access")


def test_token_within_leeway_is_accepted() -> None:
    """A token that expired a second ago still verifies: small clock differences are tolerated."""
    token = SERVICE.issue("access", "1", -1).token
    assert SERVICE.verify(token, "access")["sub"] == "1"


@pytest.mark.parametrize(("other", "what"), [
    (TokenService(KEY, "alpr", "another-api"), "audience"),
    (TokenService(KEY, "someone-else", "alpr-api"), "issuer"),
    (TokenService("x" * 48, "alpr", "alpr-api"), "key"),
])
def test_token_from_another_service_is_refused(other: TokenService, what: str) -> None:
    """A token minted for another audience, by another issuer, or with another key is refused."""
    token = other.issue("access", "1", 600).token
    with pytest.raises(TokenError, match="invalid token"):
        SERVICE.verify(token, "access")


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_token_missing_a_required_claim_is_refused(missing: str) -> None:
    """A correctly signed token without expiry, issue time, issuer, audience, subject or id is refused."""
    now = int(time.time())
    claims = {"iss": "alpr", "aud": "alpr-api", "sub": "1", "iat": now, "exp": now + 600, "jti": "j", "typ": "access"}
    del claims[missing]
    token = jwt.encode(claims, KEY, algorithm=ALGORITHM)
    with pytest.raises(TokenError):
        SERVICE.verify(token, "access")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."])
def test_malformed_token_is_refused(token: str) -> None:
    """Garbage and unsigned ('alg: none') tokens are refused with TokenError, never another exception."""
    with pytest.raises(TokenError):
        SERVICE.verify(token, "access")


def test_unsigned_token_with_valid_claims_is_refused() -> None:
    """A token with every right claim but algorithm 'none' is refused."""
    now = int(time.time())
    claims = {"iss": "alpr", "aud": "alpr-api", "sub": "1", "iat": now, "exp": now + 600, "jti": "j", "typ": "access"}
    token = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(TokenError):
        SERVICE.verify(token, "access")


def test_token_not_yet_valid_is_refused() -> None:
    """A token whose not-before lies in the future (beyond leeway) is refused."""
    now = int(time.time())
    claims = {"iss": "alpr", "aud": "alpr-api", "sub": "1", "iat": now, "nbf": now + 600, "exp": now + 1200,
              "jti": "j", "typ": "access"}
    with pytest.raises(TokenError):
        SERVICE.verify(jwt.encode(claims, KEY, algorithm=ALGORITHM), "access")
