"""Idempotent ingest: a camera's resend (same client id) is never a second read, a second hit or a second alert."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from support import AlertSocket, read

from server.detections.models import Detection
from server.hits.models import Hit


async def count(world, model, *ids: str) -> int:  # noqa: ANN001
    async with world.server.resources.sessions() as session:
        query = select(func.count()).select_from(model)
        if ids:
            query = query.where(Detection.id.in_(ids))
        return await session.scalar(query)


async def test_resend_answers_200_with_the_same_hits_and_no_second_alert(world) -> None:
    """A resend of a known id answers 200 duplicate with the same hits, stores nothing and pushes no alert."""
    await world.add_entry("ABC1234")
    body = read("ABC1234")
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        first = await world.camera.post("/api/v1/detections", json=body)
        assert first.status_code == 201, first.text
        assert first.json()["duplicate"] is False
        hits = first.json()["hits"]
        assert len(hits) == 1
        alert = await officer.next()
        assert alert["type"] == "hit" and alert["hit"]["id"] == hits[0]["id"]

        again = await world.camera.post("/api/v1/detections", json=body)
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True
        assert again.json()["id"] == body["id"]
        assert [h["id"] for h in again.json()["hits"]] == [h["id"] for h in hits]
        assert again.json()["hits"] == hits  # the same answer, not merely the same ids
        assert await officer.nothing_within(0.5)
    assert await count(world, Detection) == 1
    assert await count(world, Hit) == 1


async def test_resend_of_a_read_without_hits_is_a_duplicate_with_no_hits(world) -> None:
    """A resend of a read that matched nothing answers 200 duplicate with no hits and stores nothing."""
    body = read("NOHIT1")
    assert (await world.camera.post("/api/v1/detections", json=body)).status_code == 201
    again = await world.camera.post("/api/v1/detections", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == {"id": body["id"], "hits": [], "duplicate": True}
    assert await count(world, Detection) == 1


async def test_resend_with_changed_content_keeps_the_first_read(world) -> None:
    """A resend under a known id with other content does not overwrite what was stored first."""
    body = read("ABC1234")
    assert (await world.camera.post("/api/v1/detections", json=body)).status_code == 201
    changed = {**body, "plate": "XYZ999", "confidence": 0.5}
    again = await world.camera.post("/api/v1/detections", json=changed)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    async with world.server.resources.sessions() as session:
        row = await session.get(Detection, body["id"])
    assert (row.plate, row.confidence) == ("ABC1234", 0.93)


async def test_batch_with_known_and_new_ids_stores_only_the_new(world) -> None:
    """A batch mixing stored and new reads stores only the new ones and reports created and duplicates."""
    await world.add_entry("ABC1234")
    old = [read("ABC1234"), read("OLD0002")]
    resp = await world.camera.post("/api/v1/detections", json={"detections": old})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["created"], resp.json()["duplicates"]) == (2, 0)
    first_hits = {r["id"]: r["hits"] for r in resp.json()["results"]}

    new = [read("NEW0001"), read("NEW0002"), read("NEW0003")]
    batch = [new[0], old[0], new[1], old[1], new[2]]
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        resp = await world.camera.post("/api/v1/detections", json={"detections": batch})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert (body["created"], body["duplicates"]) == (3, 2)
        assert [r["id"] for r in body["results"]] == [d["id"] for d in batch]
        assert [r["duplicate"] for r in body["results"]] == [False, True, False, True, False]
        by_id = {r["id"]: r for r in body["results"]}
        assert by_id[old[0]["id"]]["hits"] == first_hits[old[0]["id"]]
        assert await officer.nothing_within(0.5)  # the old hit is not alerted again
    assert await count(world, Detection) == 5
    assert await count(world, Hit) == 1


async def test_same_id_twice_in_one_batch_is_stored_once(world) -> None:
    """A batch that carries the same read twice stores it once, raises one hit, and answers each item in order."""
    await world.add_entry("ABC1234")
    twin, other = read("ABC1234"), read("OTHER01")
    resp = await world.camera.post("/api/v1/detections", json={"detections": [twin, other, twin]})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["created"] == 2
    assert [r["id"] for r in body["results"]] == [twin["id"], other["id"], twin["id"]]
    assert [r["duplicate"] for r in body["results"]] == [False, False, True]
    assert body["results"][2]["hits"] == body["results"][0]["hits"] and body["results"][0]["hits"]
    assert body["duplicates"] == 1
    assert await count(world, Detection, twin["id"]) == 1
    assert await count(world, Detection) == 2
    assert await count(world, Hit) == 1


async def test_concurrent_posts_of_one_id_store_one_read_and_one_hit(world) -> None:
    """Two cameras' retries racing with the same id store one read and raise one hit; both get an answer."""
    await world.add_entry("ABC1234")
    for _ in range(3):
        body = read("ABC1234")
        answers = await asyncio.gather(*(world.camera.post("/api/v1/detections", json=body) for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
        hit_ids = [[h["id"] for h in a.json()["hits"]] for a in answers]
        assert hit_ids[0] == hit_ids[1] and len(hit_ids[0]) == 1
        assert await count(world, Detection, body["id"]) == 1
    # Three reads of one plate by one unit fold into one hit.
    assert await count(world, Hit) == 1


async def test_concurrent_batches_sharing_ids_store_each_once(world) -> None:
    """Two overlapping batches sent at once store every read exactly once."""
    shared = [read(f"SHR{i}00") for i in range(5)]
    a = shared + [read("ONLYA01")]
    b = [read("ONLYB01")] + shared
    answers = await asyncio.gather(world.camera.post("/api/v1/detections", json={"detections": a}),
                                   world.camera.post("/api/v1/detections", json={"detections": b}))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    assert sum(r.json()["created"] for r in answers) == 7
    assert await count(world, Detection) == 7
