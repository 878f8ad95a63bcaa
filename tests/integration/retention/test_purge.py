"""The retention purge (policy G.1, G.2): expired reads go with their images, keys and hits; held ones stay until
their case closes; the daily ledger keeps the counts; a purged image's old blob cannot be decrypted."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support import World, make_user, now_iso, post_read, read

from server.common.crypto import CryptoError
from server.detections.evidence import open_blob
from server.detections.models import DataKey, Detection, DetectionImage
from server.hits.models import Hit

JPEG = b"\xff\xd8\xff\xe0" + b"old plate crop" * 20
OLD = timedelta(days=14, hours=23)  # 15 days old on the calendar; the oldest a camera may still send
REASON = "Suspect vehicle in the Spenard Road armed robbery"


async def count(world: World, model, *where) -> int:  # noqa: ANN001
    async with world.server.resources.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def purge(world: World) -> dict:
    resp = await world.admin.client.post("/api/v1/retention/run")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_expired_reads_are_purged_held_ones_stay_and_the_ledger_counts_them(world) -> None:
    """Reads 15 days old are gone (rows, images, keys, hits) after a run; a held one stays; the ledger counts all."""
    await world.add_entry("ABC1234")
    old_day = (datetime.now(UTC) - OLD).date()
    expired = [read("ABC1234", captured_at=now_iso(-OLD), images={"plate": base64.b64encode(JPEG).decode()}),
               read("XYZ9876", captured_at=now_iso(-OLD))]
    held = read("HLD1234", captured_at=now_iso(-OLD), images={"plate": base64.b64encode(JPEG).decode()})
    fresh = read("NEW1234", images={"plate": base64.b64encode(JPEG).decode()})
    for body in (*expired, held, fresh):
        await post_read(world.camera, body)
    assert await count(world, Hit) == 1
    async with world.server.resources.sessions() as session:
        backup = await session.get(DetectionImage, (expired[0]["id"], "plate"))  # what a backup would hold
        blob, key_id = bytes(backup.data), backup.key_id
    assert JPEG not in blob  # encrypted at rest

    rtcc = world.rtcc.client
    assert (await rtcc.post("/api/v1/cases", json={"case_number": "24-5555", "title": "Spenard robbery"})
            ).status_code == 201
    resp = await rtcc.post("/api/v1/cases/24-5555/detections", json={"detection_ids": [held["id"]], "reason": REASON})
    assert resp.status_code == 200 and resp.json()["held"] == [held["id"]]

    result = await purge(world)
    assert (result["purged"], result["held"], result["images"], result["hits"]) == (2, 1, 1, 1)
    ids = [b["id"] for b in expired]
    assert await count(world, Detection, Detection.id.in_(ids)) == 0
    assert await count(world, DetectionImage, DetectionImage.detection_id.in_(ids)) == 0
    assert await count(world, DataKey, DataKey.id == key_id) == 0
    assert await count(world, Hit) == 0
    assert await count(world, Detection, Detection.id.in_([held["id"], fresh["id"]])) == 2

    # Crypto-shredding: the backed-up blob opens with no key the system still has.
    keyring = world.server.resources.keyring
    with pytest.raises(CryptoError, match="shredded"):
        open_blob(keyring, None, expired[0]["id"], "plate", blob)
    async with world.server.resources.sessions() as session:
        for key in await session.scalars(select(DataKey)):
            with pytest.raises(CryptoError):
                open_blob(keyring, key, expired[0]["id"], "plate", blob)

    auditor = await make_user(world.admin, world.client(), world.client, "auditor1", ["auditor"])
    ledger = (await auditor.client.get("/api/v1/retention/ledger", params={"from": old_day.isoformat()})).json()
    by_day = {d["day"]: d for d in ledger["days"]}
    # Reads by capture day; the hit on the day it was raised (the camera sent the old read today).
    assert by_day[old_day.isoformat()]["reads"] == 3
    today = by_day[datetime.now(UTC).date().isoformat()]
    assert today["reads"] == 1 and today["hits"] == {"stolen_vehicle/pending": 1}
    purges = (await auditor.client.get("/api/v1/audit", params={"action": "retention_purge"})).json()["events"]
    assert purges[0]["details"]["purged"] == 2 and purges[0]["actor_name"] == "admin"

    # The held read is still there for the case; closing the case releases it to the next purge.
    view = await rtcc.get(f"/api/v1/detections/{held['id']}", params={
        "case_number": "24-5555", "purpose": "criminal_investigation", "purpose_detail": REASON})
    assert view.status_code == 200 and view.json()["held_by"] == ["24-5555"]
    assert (await rtcc.post("/api/v1/cases/24-5555/close", json={"reason": "x"})).status_code == 422
    sup = await make_user(world.admin, world.client(), world.client, "sup1", ["supervisor"])
    closed = await sup.client.post("/api/v1/cases/24-5555/close", json={"reason": "Charged; evidence exported"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (await purge(world))["purged"] == 1
    assert await count(world, Detection, Detection.id == held["id"]) == 0
    (day,) = (await auditor.client.get("/api/v1/retention/ledger", params={
        "from": old_day.isoformat(), "to": old_day.isoformat()})).json()["days"]
    assert day["reads"] == 3


async def test_hold_refuses_unknown_detections_whole(world) -> None:
    """A hold naming an unknown detection attaches none of them (404 naming it); a closed case takes no holds."""
    body = read("ABC1234")
    await post_read(world.camera, body)
    rtcc = world.rtcc.client
    await rtcc.post("/api/v1/cases", json={"case_number": "24-7", "title": "A burglary"})
    missing = "00000000-0000-4000-8000-000000000000"
    resp = await rtcc.post("/api/v1/cases/24-7/detections", json={"detection_ids": [body["id"], missing],
                                                                  "reason": REASON})
    assert resp.status_code == 404 and resp.json()["missing"] == [missing]
    assert (await rtcc.get("/api/v1/cases/24-7")).json()["held_detections"] == 0
    assert (await rtcc.post("/api/v1/cases", json={"case_number": "24-7", "title": "Again"})).status_code == 409
    assert (await rtcc.post("/api/v1/cases/24-7/close")).status_code == 200
    resp = await rtcc.post("/api/v1/cases/24-7/detections", json={"detection_ids": [body["id"]], "reason": REASON})
    assert resp.status_code == 409


async def test_purge_needs_admin_and_runs_from_the_command_line(world, monkeypatch, tmp_path) -> None:
    """Only an administrator runs the purge by API; `alpr retention run` does the same from a shell."""
    assert (await world.rtcc.client.post("/api/v1/retention/run")).status_code == 403
    await post_read(world.camera, read("ABC1234", captured_at=now_iso(-OLD)))
    settings = world.server.resources.settings
    monkeypatch.setenv("DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("ALPR_DATA_DIR", str(settings.data_dir))
    from server.cli import main

    result = await asyncio.to_thread(CliRunner().invoke, main, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert '"purged": 1' in result.output
