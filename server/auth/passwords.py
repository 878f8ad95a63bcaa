"""Password and device-secret hashing with argon2id."""

from __future__ import annotations

import asyncio
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HashProfile = Literal["strong", "fast-tests-only"]


class SecretHasher:
    """argon2id with the library's recommended cost, or a cheap one that only test runs may choose."""

    def __init__(self, profile: HashProfile = "strong") -> None:
        self._hasher = PasswordHasher() if profile == "strong" else PasswordHasher(time_cost=1, memory_cost=1024,
                                                                                    parallelism=1)
        # Verifying against this when the account does not exist keeps the timing of both answers alike.
        self._dummy = self._hasher.hash("timing-equaliser")

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, secret) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def hash_async(self, secret: str) -> str:
        """argon2 is deliberately slow: keep it off the event loop."""
        return await asyncio.to_thread(self.hash, secret)

    async def verify_async(self, stored_hash: str | None, secret: str) -> bool:
        return await asyncio.to_thread(self.verify, stored_hash, secret)
