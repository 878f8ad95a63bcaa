"""The match index's layout in a real Redis: one hash per version, a field per OCR key holding its entries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis

from server.hotlist.index import BUILDING, CURRENT, LEGACY_CURRENT, PREFIX, HotlistIndex, IndexedEntry, entries_key
from server.hotlist.matching import ocr_key
from server.hotlist.models import HotlistEntry


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    redis = aredis.Redis.from_url(redis_url)
    await redis.set(CURRENT, 1)
    yield redis
    await redis.aclose()


def entry(entry_id: int, plate: str, state: str | None = "MO", priority: int = 4,
          subject: str | None = None) -> IndexedEntry:
    return IndexedEntry(entry_id, plate, state, "stolen_vehicle", "NCIC", f"V{entry_id:09d}", priority, None, None,
                        None, None, None, None, subject)


async def candidates(index: HotlistIndex, plate: str, state: str | None = "MO") -> list[IndexedEntry]:
    (found,) = await index.match_many([(plate, state)], session=None)  # type: ignore[arg-type]  # index is built
    return [c.entry for c in found]


async def test_entries_sharing_an_ocr_key_all_match_and_leave_one_by_one(client: aredis.Redis) -> None:
    """Plates with one OCR key share a field; each is a candidate until removed, and the field goes with the last."""
    index = HotlistIndex(client)
    assert ocr_key("ABC1234") == ocr_key("A8C1234")
    await index.put_many([entry(1, "ABC1234"), entry(2, "A8C1234"), entry(3, "ABC1234", "KS",
                                                                                 subject="DOE, JOHN\nLINE TWO")])
    assert sorted(e.id for e in await candidates(index, "ABC1234")) == [1, 2, 3]
    assert [e.subject for e in await candidates(index, "ABC1234") if e.id == 3] == ["DOE, JOHN\nLINE TWO"]
    await index.remove_many([(2, "A8C1234")])
    assert sorted(e.id for e in await candidates(index, "ABC1234")) == [1, 3]
    await index.remove_many([(1, "ABC1234"), (3, "ABC1234")])
    assert await candidates(index, "ABC1234") == []
    assert not await client.hexists(entries_key(1), ocr_key("ABC1234"))


async def test_putting_an_indexed_entry_again_replaces_it(client: aredis.Redis) -> None:
    """An entry written twice (its priority changed) is one candidate, as last written; its neighbours stay."""
    index = HotlistIndex(client)
    await index.put_many([entry(10, "XYZ9876", priority=4), entry(11, "XYZ9876", "KS")])
    await index.put_many([entry(10, "XYZ9876", priority=1)])
    found = {e.id: e.priority for e in await candidates(index, "XYZ9876")}
    assert found == {10: 1, 11: 4}


async def test_one_entry_id_is_not_confused_with_a_longer_one(client: aredis.Redis) -> None:
    """Removing entry 7 leaves entry 70 on the same key (documents are told apart by their whole id)."""
    index = HotlistIndex(client)
    await index.put_many([entry(7, "JKL5555"), entry(70, "JKL5555", "KS")])
    await index.remove_many([(7, "JKL5555")])
    assert [e.id for e in await candidates(index, "JKL5555")] == [70]


async def test_single_writes_reach_the_live_and_the_building_version(client: aredis.Redis) -> None:
    """An entry added or removed while a rebuild runs is written to both versions, so the swap loses nothing."""
    await client.set(BUILDING, 2)
    index = HotlistIndex(client)
    model = HotlistEntry(id=5, plate="QRS4321", state="MO", category="stolen_vehicle", source="MANUAL",
                         case_number="C5", justification="test", priority=4)
    key = ocr_key("QRS4321")
    await index.add([model])
    assert await client.hexists(entries_key(1), key) and await client.hexists(entries_key(2), key)
    await index.remove(model)
    assert not await client.hexists(entries_key(1), key) and not await client.hexists(entries_key(2), key)


async def test_a_batch_of_more_keys_than_one_hmget_takes_finds_each_at_its_place(client: aredis.Redis) -> None:
    """A lookup of 2,500 keys (several HMGETs in the script) returns the entries of exactly the keys listed."""
    index = HotlistIndex(client)
    plates = [f"T{n:06d}" for n in range(2500)]
    listed = {0: 100, 1500: 101, 2499: 102}
    await index.put_many([entry(entry_id, plates[pos]) for pos, entry_id in listed.items()])
    found = await index.lookup([ocr_key(p) for p in plates])
    assert found is not None
    assert {key: docs.split(b",")[0] for key, docs in found.items()} == {
        ocr_key(plates[pos]): b"[%d" % entry_id for pos, entry_id in listed.items()}


async def test_rebuild_drops_an_index_of_the_earlier_layout(world, redis_url: str) -> None:
    """A rebuild deletes the keys of the earlier layout (a hash per OCR key), which matching no longer reads."""
    client = aredis.Redis.from_url(redis_url)
    try:
        await client.set(LEGACY_CURRENT, 9999)
        await client.hset(f"{PREFIX}9999:ABC1234", "1", "[1]")
        await world.add_entry("ABC1234")
        res = world.server.resources
        async with res.sessions() as session:
            await res.index.rebuild(session)
        assert not await client.exists(LEGACY_CURRENT, f"{PREFIX}9999:ABC1234")
        assert await client.exists(entries_key(int(await client.get(CURRENT))))
    finally:
        await client.aclose()
