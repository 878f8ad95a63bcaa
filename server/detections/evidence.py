"""Images at rest: sealed with a fresh data key each, opened for an authorised view, keys re-wrapped on rotation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.common.crypto import CryptoError, Keyring, decrypt, encrypt, new_data_key
from server.db import utcnow
from server.detections.models import DataKey, DetectionImage


def image_aad(detection_id: str, kind: str) -> bytes:
    """Binds a ciphertext to its detection and kind: a blob copied onto another row does not open."""
    return f"alpr-image:{detection_id}:{kind}".encode()


def seal_images(keyring: Keyring, images: list[tuple[str, str, str, bytes]],
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(image rows, data-key rows) for (detection id, kind, content type, plaintext) tuples; pure CPU, no I/O."""
    image_rows, key_rows = [], []
    now = utcnow()
    for detection_id, kind, content_type, data in images:
        key_id = uuid.uuid4().hex
        data_key = new_data_key()
        kek, wrapped = keyring.wrap(data_key, key_id)
        key_rows.append({"id": key_id, "kek_id": kek, "wrapped": wrapped, "created_at": now})
        image_rows.append({"detection_id": detection_id, "kind": kind, "content_type": content_type,
                           "data": encrypt(data_key, data, image_aad(detection_id, kind)), "key_id": key_id})
    return image_rows, key_rows


def open_blob(keyring: Keyring, key: DataKey | None, detection_id: str, kind: str, blob: bytes) -> bytes:
    """The plaintext of a stored blob; CryptoError when its data key is gone (shredded) or does not fit."""
    if key is None:
        raise CryptoError(f"the data key of {detection_id}/{kind} does not exist (purged: the image is shredded)")
    return decrypt(keyring.unwrap(key.kek_id, key.wrapped, key.id), blob, image_aad(detection_id, kind))


async def load_image(session: AsyncSession, keyring: Keyring, detection_id: str, kind: str,
                     ) -> tuple[str, bytes] | None:
    """(content type, plaintext) of one image, or None when the detection has no such image."""
    image = await session.get(DetectionImage, (detection_id, kind))
    if image is None:
        return None
    if image.key_id is None:  # stored before encryption at rest existed
        return image.content_type, bytes(image.data)
    key = await session.get(DataKey, image.key_id)
    return image.content_type, open_blob(keyring, key, detection_id, kind, bytes(image.data))


async def rotate_keys(session: AsyncSession, keyring: Keyring, batch: int = 1000) -> int:
    """Re-wrap every data key not under the current KEK (blobs untouched); the number re-wrapped."""
    done = 0
    while True:
        keys = list(await session.scalars(select(DataKey).where(DataKey.kek_id != keyring.current_id)
                                          .order_by(DataKey.id).limit(batch)))
        if not keys:
            return done
        for key in keys:
            kek, wrapped = keyring.rewrap(key.kek_id, bytes(key.wrapped), key.id)
            await session.execute(update(DataKey).where(DataKey.id == key.id, DataKey.kek_id == key.kek_id)
                                  .values(kek_id=kek, wrapped=wrapped))
        await session.commit()
        done += len(keys)
