"""Unit tests for server.common.crypto: AES-256-GCM envelope encryption, KEK parsing, wrapping and rotation."""

from __future__ import annotations

import base64

import pytest

from server.common.crypto import CryptoError, Keyring, decrypt, encrypt, generate_kek, kek_id, new_data_key, parse_kek


def test_round_trip_and_binding() -> None:
    """A blob opens with its key and associated data, and with nothing else."""
    key = new_data_key()
    blob = encrypt(key, b"plate crop", b"det-1:plate")
    assert decrypt(key, blob, b"det-1:plate") == b"plate crop"
    with pytest.raises(CryptoError):
        decrypt(key, blob, b"det-2:plate")  # moved to another row
    with pytest.raises(CryptoError):
        decrypt(new_data_key(), blob, b"det-1:plate")
    with pytest.raises(CryptoError):
        decrypt(key, blob[:-1] + bytes([blob[-1] ^ 1]), b"det-1:plate")
    assert encrypt(key, b"x", b"a") != encrypt(key, b"x", b"a")  # a fresh nonce each time


@pytest.mark.parametrize(("text", "ok"), [
    (generate_kek(), True), (base64.b64encode(b"k" * 32).decode(), True), ("  " + generate_kek() + "\n", True),
    (base64.b64encode(b"k" * 16).decode(), False), ("not base64!", False), ("", False),
])
def test_parse_kek(text: str, ok: bool) -> None:
    """A KEK is base64 (standard or URL-safe) of exactly 32 bytes."""
    if ok:
        assert len(parse_kek(text)) == 32
    else:
        with pytest.raises(CryptoError):
            parse_kek(text)


def test_wrap_unwrap_and_rotation() -> None:
    """A data key wrapped under the old KEK opens after rotation once re-wrapped; without the old KEK it does not."""
    old, new = generate_kek(), generate_kek()
    dk = new_data_key()
    kid, wrapped = Keyring(old).wrap(dk, "key-1")
    assert kid == kek_id(parse_kek(old))
    with pytest.raises(CryptoError, match="not configured"):
        Keyring(new).unwrap(kid, wrapped, "key-1")
    ring = Keyring(new, [old])
    assert ring.unwrap(kid, wrapped, "key-1") == dk
    kid2, wrapped2 = ring.rewrap(kid, wrapped, "key-1")
    assert kid2 == ring.current_id and Keyring(new).unwrap(kid2, wrapped2, "key-1") == dk
    with pytest.raises(CryptoError):
        ring.unwrap(kid, wrapped, "key-2")  # a wrapped key cannot be passed off as another's
