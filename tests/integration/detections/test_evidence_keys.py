"""Images are encrypted at rest with a data key per image; rotating the key-encryption key re-wraps the data keys,
after which the old KEK is no longer needed."""

from __future__ import annotations

import base64

from sqlalchemy import select
from support import World, post_read, read, running_server

from server.common.crypto import Keyring, generate_kek
from server.detections.evidence import load_image, rotate_keys
from server.detections.models import DataKey, DetectionImage

JPEG = b"\xff\xd8\xff\xe0" + b"evidence" * 40
WHY = {"case_number": "24-9", "purpose": "stolen_vehicle",
       "purpose_detail": "Plate crop needed to confirm the stolen Tacoma's plate"}


async def test_images_are_stored_encrypted_each_under_its_own_key(world) -> None:
    """The stored blob is not the image; each image has its own wrapped data key; the view decrypts it."""
    bodies = [read("ABC1234", images={"plate": base64.b64encode(JPEG).decode()}) for _ in range(2)]
    for b in bodies:
        await post_read(world.camera, b)
    async with world.server.resources.sessions() as session:
        images = list(await session.scalars(select(DetectionImage)))
        keys = list(await session.scalars(select(DataKey)))
    assert len(images) == 2 and all(JPEG not in bytes(i.data) for i in images)
    assert len({i.key_id for i in images}) == 2 and {k.id for k in keys} == {i.key_id for i in images}
    assert all(JPEG[:8] not in bytes(k.wrapped) for k in keys)
    got = await world.rtcc.client.get(f"/api/v1/detections/{bodies[0]['id']}/images/plate", params=WHY)
    assert got.content == JPEG


async def test_key_rotation_rewraps_data_keys(tmp_path, database_url: str, redis_url: str) -> None:
    """Images sealed under KEK A open under KEK B with A retired; after rotation they open under B alone."""
    kek_a, kek_b = generate_kek(), generate_kek()
    body = read("ABC1234", images={"plate": base64.b64encode(JPEG).decode()})
    async with running_server(tmp_path, database_url, redis_url, kek=kek_a) as srv, World.create(srv) as world:
        await post_read(world.camera, body)
    async with running_server(tmp_path, database_url, redis_url, kek=kek_b, retired_keks=kek_a) as srv:
        res = srv.resources
        async with res.sessions() as session:
            assert await load_image(session, res.keyring, body["id"], "plate") == ("image/jpeg", JPEG)
            assert await rotate_keys(session, res.keyring) == 1
            assert await rotate_keys(session, res.keyring) == 0
    async with running_server(tmp_path, database_url, redis_url, kek=kek_b) as srv:
        res = srv.resources
        async with res.sessions() as session:
            assert {k.kek_id for k in await session.scalars(select(DataKey))} == {Keyring(kek_b).current_id}
            assert await load_image(session, res.keyring, body["id"], "plate") == ("image/jpeg", JPEG)
