"""A server that is shutting down refuses new reads with 503 instead of leaving cameras waiting."""

from sqlalchemy import func, select
from support import read

from server.detections.models import Detection


async def test_read_after_writer_stopped_is_503_and_not_stored(world) -> None:
    """Once the ingest writer has drained and stopped, a read is answered 503 shutting_down and nothing is stored."""
    res = world.server.resources
    before = (await world.camera.post("/api/v1/detections", json=read("ABC1234"))).status_code
    await res.ingest_writer.stop()
    resp = await world.camera.post("/api/v1/detections", json=read("XYZ9876"))
    assert before == 201
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"] == "shutting_down"
    async with res.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Detection)) == 1
