"""Manual hot-list entries: what one must carry, who may add or remove one, and that removal and expiry bite at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from support import entry, now_iso, read


async def post_read(world, plate: str, state: str | None = "AK") -> list[dict[str, Any]]:  # noqa: ANN001
    resp = await world.camera.post("/api/v1/detections", json=read(plate, state))
    assert resp.status_code == 201, resp.text
    return resp.json()["hits"]


async def remove(client, entry_id: int, reason: str | None = "vehicle recovered by owner"):  # noqa: ANN001, ANN201
    body = {"reason": reason} if reason is not None else {}
    return await client.request("DELETE", f"/api/v1/hotlist/entries/{entry_id}", json=body)


MISSING = [
    ("no case number", {"case_number": None}, "case_number"),
    ("empty case number", {"case_number": ""}, "case_number"),
    ("blank case number", {"case_number": "   "}, "case_number"),
    ("no justification", {"justification": None}, "justification"),
    ("empty justification", {"justification": ""}, "justification"),
    ("blank justification", {"justification": " " * 20}, "justification"),
    ("too-short justification", {"justification": "stolen"}, "justification"),
    ("no category", {"category": None}, "category"),
    ("no source", {"source": None}, "source"),
    ("unknown source", {"source": "FACEBOOK"}, "source"),
    ("no plate", {"plate": None}, "plate"),
    ("bad plate", {"plate": "AB$12"}, "plate"),
    ("plate too long", {"plate": "ABCDEFGHJ"}, "plate"),
    ("unknown state", {"state": "ZZ"}, "state"),
    ("priority out of range", {"priority": 0}, "priority"),
    ("expires_at in the past", {"expires_at": now_iso(-timedelta(minutes=1))}, "expires_at"),
    ("expires_at without offset", {"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
    ("unknown field", {"race": "any"}, "race"),
    ("NUL in the subject", {"subject": "white male\u0000"}, "subject"),
    ("line break in the case number", {"case_number": "24-001234\n"}, "case_number"),
    ("NUL in the vehicle make", {"vehicle": {"make": "TO\u0000YT"}}, "vehicle.make"),
]


@pytest.mark.parametrize(("case", "change", "field"), MISSING, ids=[c[0] for c in MISSING])
async def test_entry_without_what_policy_requires_is_422(world, case: str, change: dict[str, Any],
                                                         field: str) -> None:
    """An entry without a real case number, justification, listed category or valid plate is a 422 naming the field."""
    body = {k: v for k, v in {**entry("ABC1234"), **change}.items() if v is not None}
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"
    assert field in resp.json()["detail"], resp.json()["detail"]
    listed = await world.rtcc.client.get("/api/v1/hotlist/entries")
    assert listed.json()["count"] == 0


@pytest.mark.parametrize("category", ["immigration_violation", "protest", "religion", "political_affiliation",
                                      "race", "gang_affiliation", "STOLEN_VEHICLE", ""])
async def test_category_outside_the_eight_listed_is_422(world, category: str) -> None:
    """No entry can be made for any category but the eight listed (policy D.3, D.5): others are 422."""
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234", category=category))
    assert resp.status_code == 422, resp.text
    assert "category" in resp.json()["detail"]


@pytest.mark.parametrize("category", ["stolen_vehicle", "stolen_plate", "wanted_person", "missing_person",
                                      "amber_alert", "silver_alert", "violent_crime", "drug_distribution"])
async def test_each_listed_category_is_accepted(world, category: str) -> None:
    """Each of the eight listed categories makes an entry with its default priority."""
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234", category=category))
    assert resp.status_code == 201, resp.text
    assert resp.json()["category"] == category
    assert 1 <= resp.json()["priority"] <= 9


@pytest.mark.parametrize(("plate", "state", "want_plate", "want_state"), [
    ("abc-1234", "ak", "ABC1234", "AK"),
    (" abc 1234 ", "Alaska", "ABC1234", "AK"),
    ("ABC·1234", "British Columbia", "ABC1234", "BC"),
    ("abc1234", None, "ABC1234", None),
    ("abc1234", "UNK", "ABC1234", None),
])
async def test_plate_and_state_are_normalised(world, plate: str, state: str | None, want_plate: str,
                                              want_state: str | None) -> None:
    """The plate is stored upper-case without separators and the state as its code, so reads match it."""
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry(plate, state))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["plate"], resp.json()["state"]) == (want_plate, want_state)
    assert resp.json()["case_number"] == "24-001234"
    hits = await post_read(world, "ABC1234", "AK")
    assert [h["entry"]["id"] for h in hits] == [resp.json()["id"]]


@pytest.mark.parametrize("who", ["officer", "dispatcher", "camera"])
async def test_officer_dispatcher_and_camera_cannot_add_entries(world, who: str) -> None:
    """Only rtcc, supervisors and the chief edit the hot list: an officer, dispatcher or camera gets 403."""
    client = world.camera if who == "camera" else getattr(world, who).client
    resp = await client.post("/api/v1/hotlist/entries", json=entry("ABC1234"))
    assert resp.status_code == 403, resp.text
    assert (await world.rtcc.client.get("/api/v1/hotlist/entries")).json()["count"] == 0


async def test_rtcc_adds_an_entry_and_it_matches(world) -> None:
    """An RTCC analyst's entry is stored as sent and the next read of the plate raises a hit."""
    body = entry("ABC1234", priority=2, vehicle={"year": 2012, "make": "TOYT", "model": "TAC", "color": "BLK"},
                 expires_at=now_iso(timedelta(days=30)))
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["priority"] == 2 and created["vehicle"]["make"] == "TOYT"
    assert created["justification"] == body["justification"]
    assert created["expires_at"] is not None and created["removed_at"] is None
    hits = await post_read(world, "ABC1234")
    assert len(hits) == 1 and hits[0]["match_kind"] == "exact"


async def test_lookup_by_plate_uses_the_normalised_query(world) -> None:
    """GET ?plate= finds an entry whatever the case or separators typed, and officers may look up."""
    made = (await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234"))).json()
    await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("XYZ9876"))
    for query in ("ABC1234", "abc-1234", "abc 1234"):
        for acct in (world.rtcc, world.officer, world.dispatcher):
            resp = await acct.client.get("/api/v1/hotlist/entries", params={"plate": query})
            assert resp.status_code == 200, resp.text
            assert [e["id"] for e in resp.json()["entries"]] == [made["id"]], (query, acct.username)
    for nothing in ("NOPE1", "AB$1", "ABCDEFGHJK", "ABC\u00001234"):
        resp = await world.rtcc.client.get("/api/v1/hotlist/entries", params={"plate": nothing})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"entries": [], "count": 0}


async def test_removed_entry_stops_matching_at_once(world) -> None:
    """DELETE with a reason removes the entry; the very next read raises no hit and a lookup no longer lists it."""
    made = (await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234"))).json()
    assert len(await post_read(world, "ABC1234")) == 1
    resp = await remove(world.rtcc.client, made["id"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["removed_at"] is not None
    assert resp.json()["removed_reason"] == "vehicle recovered by owner"
    assert await post_read(world, "ABC1234") == []
    assert await post_read(world, "ABC1234", None) == []  # nor plate-only
    assert await post_read(world, "A8C1234") == []  # nor OCR-equivalent
    listed = (await world.rtcc.client.get("/api/v1/hotlist/entries", params={"plate": "ABC1234"})).json()
    assert listed["count"] == 0
    history = (await world.rtcc.client.get("/api/v1/hotlist/entries",
                                           params={"plate": "ABC1234", "include_removed": "true"})).json()
    assert [e["id"] for e in history["entries"]] == [made["id"]]


async def test_remove_needs_a_reason_and_an_editor(world) -> None:
    """Removing without a reason is 422, by an officer is 403, and an unknown id is 404; the entry keeps matching."""
    made = (await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234"))).json()
    assert (await remove(world.rtcc.client, made["id"], reason=None)).status_code == 422
    assert (await remove(world.rtcc.client, made["id"], reason="")).status_code == 422
    assert (await remove(world.rtcc.client, made["id"], reason="    ")).status_code == 422
    assert (await remove(world.officer.client, made["id"])).status_code == 403
    assert (await remove(world.rtcc.client, 999999)).status_code == 404
    assert len(await post_read(world, "ABC1234")) == 1


async def test_delete_twice_is_409(world) -> None:
    """Removing an entry that is already removed answers 409 and keeps the first removal's reason."""
    made = (await world.rtcc.client.post("/api/v1/hotlist/entries", json=entry("ABC1234"))).json()
    assert (await remove(world.rtcc.client, made["id"], "recovered")).status_code == 200
    again = await remove(world.rtcc.client, made["id"], "second attempt")
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "already_removed"
    history = (await world.rtcc.client.get("/api/v1/hotlist/entries",
                                           params={"plate": "ABC1234", "include_removed": "true"})).json()
    assert history["entries"][0]["removed_reason"] == "recovered"


async def test_entry_stops_matching_when_it_expires(world) -> None:
    """An entry that expires in 2 s raises a hit before and none after, with no cleanup job in between."""
    body = entry("ABC1234", expires_at=now_iso(timedelta(seconds=2)))
    resp = await world.rtcc.client.post("/api/v1/hotlist/entries", json=body)
    assert resp.status_code == 201, resp.text
    assert len(await post_read(world, "ABC1234")) == 1
    await asyncio.sleep(2.5)
    assert await post_read(world, "ABC1234") == []
    assert await post_read(world, "ABC1234", None) == []
