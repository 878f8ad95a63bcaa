"""Envelope encryption of evidence: AES-256-GCM with a data key per object, wrapped by a key-encryption key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["CryptoError", "Keyring", "decrypt", "encrypt", "generate_kek", "kek_id", "new_data_key", "parse_kek"]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per message, never reused under one key


class CryptoError(ValueError):
    """A key is malformed or unknown, or a ciphertext does not authenticate under the key given."""


def generate_kek() -> str:
    """A new key-encryption key, as ALPR_KEK takes it (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_kek(text: str) -> bytes:
    """The 32 bytes of a KEK given as standard or URL-safe base64."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/") + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("a key-encryption key is base64 of 32 random bytes (alpr keys generate)") from exc
    if len(key) != KEY_BYTES:
        raise CryptoError(f"a key-encryption key is 32 bytes (AES-256); this one is {len(key)}")
    return key


def kek_id(kek: bytes) -> str:
    """A short public name for a KEK, stored with each data key so rotation knows which KEK wrapped it."""
    return hashlib.sha256(b"alpr-kek-id:" + kek).hexdigest()[:16]


def new_data_key() -> bytes:
    return os.urandom(KEY_BYTES)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext+tag. The associated data binds the blob to where it belongs (a moved blob fails)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise CryptoError("ciphertext too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise CryptoError("ciphertext does not authenticate under this key") from exc


class Keyring:
    """The current KEK (wraps new data keys) and retired ones (still unwrap until rotation re-wraps)."""

    def __init__(self, current: str, retired: Iterable[str] = ()) -> None:
        self.current = parse_kek(current)
        self.current_id = kek_id(self.current)
        self._keks = {kek_id(k): k for k in (parse_kek(r) for r in retired)}
        self._keks[self.current_id] = self.current

    def wrap(self, data_key: bytes, key_id: str) -> tuple[str, bytes]:
        """(KEK id, wrapped key); the data key's own id is authenticated with it, so keys cannot be swapped."""
        return self.current_id, encrypt(self.current, data_key, b"alpr-dek:" + key_id.encode())

    def unwrap(self, kek_name: str, wrapped: bytes, key_id: str) -> bytes:
        kek = self._keks.get(kek_name)
        if kek is None:
            raise CryptoError(f"data key {key_id} is wrapped by KEK {kek_name}, which is not configured "
                              "(add it to ALPR_RETIRED_KEKS)")
        return decrypt(kek, wrapped, b"alpr-dek:" + key_id.encode())

    def rewrap(self, kek_name: str, wrapped: bytes, key_id: str) -> tuple[str, bytes]:
        """The same data key wrapped under the current KEK (rotation: the blobs themselves are untouched)."""
        return self.wrap(self.unwrap(kek_name, wrapped, key_id), key_id)
