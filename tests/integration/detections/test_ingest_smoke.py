"""First end-to-end checks of ingest and alerting."""

from support import AlertSocket, read


async def test_hit_reaches_officer(world) -> None:
    """A read of a listed plate is answered with its hit and pushed to the unit's officer."""
    await world.add_entry("ABC1234")
    async with AlertSocket.connect(world.server, world.officer.token) as officer:
        resp = await world.camera.post("/api/v1/detections", json=read("ABC1234"))
        assert resp.status_code == 201, resp.text
        msg = await officer.next()
        assert msg["type"] == "hit"
        assert msg["hit"]["match_kind"] == "exact"
