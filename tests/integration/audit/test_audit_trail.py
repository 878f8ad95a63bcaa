"""The audit trail end to end: every access recorded, the hash chain verified, tampering named, PostgreSQL refusing
edits, concurrent writers never forking the chain, and auditors querying and exporting it."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select, text
from support import ADMIN, ADMIN_PASSWORD, PASSWORD, Account, World, make_user, post_read, read, running_server

from server.audit.models import AuditEvent

WHY = {"case_number": "24-001234", "purpose": "criminal_investigation",
       "purpose_detail": "Vehicle seen at the Spenard Road armed robbery scene"}


async def auditor(world: World) -> Account:
    return await make_user(world.admin, world.client(), world.client, "auditor1", ["auditor"])


async def actions(world: World) -> list[str]:
    async with world.server.resources.sessions() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def tamper(world: World, sql: str) -> None:
    """What an intruder with database access would do (on PostgreSQL the trigger must be disabled first)."""
    async with world.server.resources.engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            await conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete"))
        await conn.execute(text(sql))
        if pg:
            await conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete"))


async def test_accesses_are_recorded_and_the_chain_verifies(world) -> None:
    """Logins, grants, hot-list changes, searches and hit steps are in the trail, and verify says ok."""
    aud = await auditor(world)
    entry = await world.add_entry("ABC1234")
    (hit,) = (await post_read(world.camera, read("ABC1234")))["hits"]
    resp = await world.dispatcher.client.post(f"/api/v1/hits/{hit['id']}/apsin",
                                              json={"confirmed": True, "reference": "APSIN-1"})
    assert resp.status_code == 200, resp.text
    assert (await world.rtcc.client.post("/api/v1/search", json={**WHY, "plate": "ABC1234"})).status_code == 200
    resp = await world.rtcc.client.request("DELETE", f"/api/v1/hotlist/entries/{entry['id']}",
                                           json={"reason": "Recovered by the owner"})
    assert resp.status_code == 200, resp.text
    got = await actions(world)
    for action in ("login", "access_grant", "hotlist_add", "hit_step", "search", "hotlist_remove"):
        assert action in got, (action, got)
    assert "detection_ingest" not in got  # a camera posting reads is not a look at the data
    verdict = (await aud.client.get("/api/v1/audit/verify")).json()
    assert verdict["ok"] is True and verdict["events"] == len(got) and verdict.get("first_bad_event") is None


@pytest.mark.parametrize("sql", [
    "UPDATE audit_event SET case_number = '99-999' WHERE id = 3",
    "UPDATE audit_event SET actor_name = 'someone', action = 'login' WHERE id = 3",
    "DELETE FROM audit_event WHERE id = 3",
])
async def test_tampering_with_one_row_is_detected_and_named(world, sql: str) -> None:
    """Changing or deleting one audit row makes verify fail and name that event (or, deleted, the one after)."""
    aud = await auditor(world)
    assert (await aud.client.get("/api/v1/audit/verify")).json()["ok"] is True
    await tamper(world, sql)
    verdict = (await aud.client.get("/api/v1/audit/verify")).json()
    assert verdict["ok"] is False
    assert verdict["first_bad_event"]["id"] == (4 if sql.startswith("DELETE") else 3), verdict


async def test_events_cut_off_the_end_are_detected(world) -> None:
    """Deleting the newest events leaves a well-linked chain, but the head anchored outside the database notices."""
    aud = await auditor(world)
    await aud.client.get("/api/v1/audit/verify")  # another event at the end
    await tamper(world, "DELETE FROM audit_event WHERE id = (SELECT MAX(id) FROM audit_event)")
    verdict = (await aud.client.get("/api/v1/audit/verify")).json()
    assert verdict["ok"] is False and "removed from the end" in verdict["first_bad_event"]["problem"]


async def test_concurrent_writers_never_fork_the_chain(world) -> None:
    """Forty searches and logins at once, from two server processes' worth of writers, leave one unbroken chain."""
    anon = world.client()

    async def one(i: int) -> int:
        if i % 2:
            return (await anon.post("/api/v1/auth/token", json={"username": "rtcc1", "password": PASSWORD})).status_code
        return (await world.rtcc.client.post("/api/v1/search", json={**WHY, "plate": f"AB{i:03d}"})).status_code

    assert set(await asyncio.gather(*(one(i) for i in range(40)))) == {200}
    async with world.server.resources.sessions() as session:
        ids = list(await session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
    assert ids == list(range(1, len(ids) + 1))
    verdict = (await (await auditor(world)).client.get("/api/v1/audit/verify")).json()
    assert verdict["ok"] is True


async def test_two_servers_on_one_database_share_one_chain(world, database_url: str, redis_url: str,
                                                           tmp_path: Path) -> None:
    """A second server process on the same database appends to the same chain without forking it."""
    async with running_server(tmp_path / "second", database_url, redis_url) as other:
        c = world.client()
        c2 = world.client()
        c2.base_url = other.base_url

        async def log_in(client) -> int:  # noqa: ANN001
            return (await client.post("/api/v1/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD})
                    ).status_code

        assert set(await asyncio.gather(*(log_in(c if i % 2 else c2) for i in range(30)))) == {200}
    verdict = (await (await auditor(world)).client.get("/api/v1/audit/verify")).json()
    assert verdict["ok"] is True, verdict


async def test_auditors_query_and_export(world) -> None:
    """Auditors filter the trail by actor and action and export it as CSV and JSON; others are refused."""
    aud = await auditor(world)
    await world.rtcc.client.post("/api/v1/search", json={**WHY, "plate": "ABC1234"})
    found = (await aud.client.get("/api/v1/audit", params={"actor": "rtcc1", "action": "search"})).json()
    assert found["count"] == 1 and found["events"][0]["details"]["query"]["plate"] == "ABC1234"
    at = datetime.fromisoformat(found["events"][0]["at"])
    window = {"action": "search", "from": (at - timedelta(seconds=1)).isoformat(),
              "to": (at + timedelta(seconds=1)).isoformat()}
    assert (await aud.client.get("/api/v1/audit", params=window)).json()["count"] == 1
    later = {"action": "search", "from": (at + timedelta(seconds=1)).isoformat()}
    assert (await aud.client.get("/api/v1/audit", params=later)).json()["count"] == 0
    assert (await aud.client.get("/api/v1/audit", params={"to": "0.5"})).status_code == 422
    as_json = await aud.client.get("/api/v1/audit/export", params={"format": "json", "action": "search"})
    assert as_json.status_code == 200 and as_json.json()[0]["case_number"] == "24-001234"
    as_csv = await aud.client.get("/api/v1/audit/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and {"login", "search"} <= {r["action"] for r in rows}
    assert all(len(r["hash"]) == 64 for r in rows)
    assert (await world.rtcc.client.get("/api/v1/audit")).status_code == 403
    assert (await world.rtcc.client.get("/api/v1/audit/verify")).status_code == 403


async def test_failed_login_is_recorded(world) -> None:
    """A wrong password is recorded under the name tried, with the client address."""
    resp = await world.client().post("/api/v1/auth/token", json={"username": "rtcc1", "password": "wrong-password"})
    assert resp.status_code == 401
    async with world.server.resources.sessions() as session:
        ev = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "login_failed"))).one()
    assert (ev.actor_name, ev.client_address) == ("rtcc1", "127.0.0.1")


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event",
                                       "TRUNCATE audit_event"])
async def test_postgresql_refuses_update_and_delete_on_the_audit_table(postgres_url: str, redis_url: str,
                                                                       tmp_path: Path, statement: str) -> None:
    """On PostgreSQL a trigger refuses UPDATE, DELETE (and TRUNCATE) on audit_event, even to the table's owner."""
    async with running_server(tmp_path, postgres_url, redis_url) as srv, httpx.AsyncClient(base_url=srv.base_url) as c:
        resp = await c.post("/api/v1/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert resp.status_code == 200  # the login is an audit event
    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_event") > 0
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM audit_event WHERE action = 'nothing'") == 0
    finally:
        await conn.close()
