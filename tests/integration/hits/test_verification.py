"""The verification steps of a hit (policy C.1-C.4, api-v1 "Hits and verification") through the real API and sockets."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support import Account, AlertSocket, World, make_user, post_read, read

APSIN_OK = {"confirmed": True, "reference": "APSIN-24-77812"}
APSIN_NOT_WANTED = {"confirmed": False, "reference": "APSIN-24-77813", "note": "Recovered by owner yesterday"}
VISUAL_OK = {"plate_matches": True, "state_matches": True, "vehicle_matches": True}
JUSTIFICATION = "Driver pointed a handgun at a passing motorist; immediate danger to the public."
SUBJECT = "Male, 34, 6 ft, tattoo on left forearm; warrant for armed robbery"


async def raise_hit(world: World, plate: str = "ABC1234", **entry_extra: Any) -> dict[str, Any]:
    """An entry and a read of it by the world's camera; the hit the read raised."""
    await world.add_entry(plate, **entry_extra)
    (hit,) = (await post_read(world.camera, read(plate)))["hits"]
    return hit


async def step(account: Account, hit_id: int, name: str, body: Any, expect: int = 200) -> dict[str, Any]:  # noqa: ANN401
    """Take one verification step; its status must be `expect`. The answer's body."""
    resp = await account.client.post(f"/api/v1/hits/{hit_id}/{name}", json=body)
    assert resp.status_code == expect, resp.text
    return resp.json()


async def detail(account: Account, hit_id: int) -> dict[str, Any]:
    resp = await account.client.get(f"/api/v1/hits/{hit_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def user(world: World, username: str, roles: list[str], unit_id: int | None = None) -> Account:
    return await make_user(world.admin, world.client(), world.client, username, roles, unit_id=unit_id)


async def next_each(socks: list[AlertSocket]) -> list[dict[str, Any]]:
    """The next message of every socket, waited for side by side."""
    return await asyncio.gather(*(s.next() for s in socks))


def refusal(body: dict[str, Any], error: str, missing: list[str] | None = None) -> None:
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if missing is not None:
        assert body["missing"] == missing, body


# --- the order of steps ----------------------------------------------------------------------------------------

async def test_action_before_both_confirmations_is_refused_naming_what_is_missing(world) -> None:
    """An enforcement action needs APSIN and visual confirmation; the 409 says which are missing, in words."""
    hit = await raise_hit(world)
    assert (hit["status"], hit["awaiting"]) == ("pending", ["apsin", "visual"])

    body = await step(world.officer, hit["id"], "action", {"action": "stop"}, 409)
    refusal(body, "verification_required", ["apsin", "visual"])
    assert body["hit_status"] == "pending"
    assert "APSIN" in body["detail"] and "visual match" in body["detail"]

    after = await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    assert (after["hit"]["status"], after["hit"]["awaiting"]) == ("apsin_confirmed", ["visual"])
    body = await step(world.officer, hit["id"], "action", {"action": "arrest"}, 409)
    refusal(body, "verification_required", ["visual"])
    assert "visual match" in body["detail"] and "APSIN" not in body["detail"]

    after = await step(world.officer, hit["id"], "visual", VISUAL_OK)
    assert (after["hit"]["status"], after["hit"]["awaiting"]) == ("verified", ["action"])
    after = await step(world.officer, hit["id"], "action", {"action": "vehicle_recovered"})
    assert after["hit"]["status"] == "action_taken" and after["hit"]["action"] == "vehicle_recovered"
    assert after["hit"]["exigent"] is False and after["hit"]["awaiting"] == ["close"]

    after = await step(world.officer, hit["id"], "close", {"outcome": "action_completed", "note": "Towed to lot"})
    h = after["hit"]
    assert (h["status"], h["outcome"], h["awaiting"]) == ("closed", "action_completed", [])
    assert h["closed_at"] is not None
    kinds = [e["kind"] for e in after["events"]]
    assert kinds == ["created", "apsin_confirmed", "visual_confirmed", "action", "closed"], "refusals leave no event"


async def test_confirmations_may_come_in_either_order(world) -> None:
    """The officer's visual match may come before dispatch's APSIN confirmation; both make the hit verified."""
    hit = await raise_hit(world)
    after = await step(world.officer, hit["id"], "visual", VISUAL_OK)
    assert (after["hit"]["status"], after["hit"]["awaiting"]) == ("visually_confirmed", ["apsin"])
    body = await step(world.officer, hit["id"], "action", {"action": "stop"}, 409)
    refusal(body, "verification_required", ["apsin"])
    assert body["hit_status"] == "visually_confirmed"
    after = await step(world.officer, hit["id"], "apsin", APSIN_OK)  # the officer's own terminal (C.4)
    assert (after["hit"]["status"], after["hit"]["awaiting"]) == ("verified", ["action"])
    assert after["hit"]["apsin_confirmed"] is True and after["hit"]["visual_confirmed"] is True


async def test_each_step_is_pushed_to_officer_dispatch_and_rtcc(world) -> None:
    """Every step reaches the unit's officer, dispatch and the RTCC as a hit_update naming the step."""
    await world.add_entry("ABC1234")
    async with AsyncExitStack() as stack:
        socks = [await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
                 for a in (world.officer, world.dispatcher, world.rtcc)]
        (hit,) = (await post_read(world.camera, read("ABC1234")))["hits"]
        assert [m["type"] for m in await next_each(socks)] == ["hit"] * 3
        for who, name, body, event, status in (
                (world.dispatcher, "apsin", APSIN_OK, "apsin_confirmed", "apsin_confirmed"),
                (world.officer, "visual", VISUAL_OK, "visual_confirmed", "verified"),
                (world.officer, "action", {"action": "stop"}, "action", "action_taken"),
                (world.officer, "close", {"outcome": "action_completed"}, "closed", "closed")):
            answer = await step(who, hit["id"], name, body)
            msgs = await next_each(socks)
            for msg in msgs:
                assert msg["type"] == "hit_update" and msg["step"] == event, msg
                assert msg["hit"]["id"] == hit["id"] and msg["hit"]["status"] == status
                assert msg["hit"] == answer["hit"], "the push shows the hit as the answer did"
            assert len({m["event_id"] for m in msgs}) == 1
        # A refused step changes nothing and pushes nothing.
        await step(world.officer, hit["id"], "apsin", APSIN_OK, 409)
        await asyncio.gather(*(s.nothing_within(0.3) for s in socks))


# --- person-linked entries: the driver step (C.3) -------------------------------------------------------------

async def test_person_linked_entry_also_needs_the_driver_step(world) -> None:
    """On a wanted person's car, an action also needs the driver matched to the subject (C.3)."""
    hit = await raise_hit(world, category="wanted_person", subject=SUBJECT)
    assert hit["requires_driver_check"] is True
    assert hit["awaiting"] == ["apsin", "visual", "driver"]
    body = await step(world.officer, hit["id"], "action", {"action": "arrest"}, 409)
    refusal(body, "verification_required", ["apsin", "visual", "driver"])
    assert "driver" in body["detail"]

    body = await step(world.officer, hit["id"], "driver", {"matched": True}, 409)
    refusal(body, "verification_required", ["apsin", "visual"])
    await step(world.rtcc, hit["id"], "apsin", APSIN_OK)
    after = await step(world.officer, hit["id"], "visual", VISUAL_OK)
    assert (after["hit"]["status"], after["hit"]["awaiting"]) == ("verified", ["driver"])
    body = await step(world.officer, hit["id"], "action", {"action": "arrest"}, 409)
    refusal(body, "verification_required", ["driver"])

    after = await step(world.officer, hit["id"], "driver", {"matched": True})
    assert after["hit"]["driver_result"] == "matched" and after["hit"]["awaiting"] == ["action"]
    event = after["events"][-1]
    assert event["kind"] == "driver_matched" and event["actor_role"] == "officer"
    assert event["data"]["subject"] == SUBJECT, "the subject description the officer compared is recorded"
    body = await step(world.officer, hit["id"], "driver", {"matched": True}, 409)
    refusal(body, "already_done")
    after = await step(world.officer, hit["id"], "action", {"action": "arrest"})
    assert after["hit"]["status"] == "action_taken" and after["hit"]["exigent"] is False


async def test_driver_not_matched_blocks_a_stop_until_another_legal_basis_is_stated(world) -> None:
    """A driver who is not the subject is recorded; a stop then needs another legal basis, written out."""
    hit = await raise_hit(world, category="missing_person", source="MANUAL", subject="Woman, 81, dementia")
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    after = await step(world.officer, hit["id"], "driver", {"matched": False, "other_legal_basis": "speeding"})
    assert after["hit"]["driver_result"] == "not_matched" and after["hit"]["awaiting"] == ["driver"]
    assert after["events"][-1]["kind"] == "driver_not_matched"
    body = await step(world.officer, hit["id"], "action", {"action": "stop"}, 409)
    refusal(body, "verification_required", ["driver"])
    assert "did not match" in body["detail"]

    basis = "Driver ran a red light at 5th and Gambell, observed by me"
    after = await step(world.officer, hit["id"], "driver", {"matched": False, "other_legal_basis": basis})
    assert after["hit"]["driver_result"] == "other_legal_basis"
    assert after["events"][-1]["data"]["other_legal_basis"] == basis
    assert (await step(world.officer, hit["id"], "action", {"action": "stop"}))["hit"]["status"] == "action_taken"


async def test_driver_step_on_a_vehicle_entry_is_not_applicable(world) -> None:
    """A stolen car's hit has no driver step: 409 not_applicable, before or after verification."""
    hit = await raise_hit(world)
    assert hit["requires_driver_check"] is False
    refusal(await step(world.officer, hit["id"], "driver", {"matched": True}, 409), "not_applicable")
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    refusal(await step(world.officer, hit["id"], "driver", {"matched": True}, 409), "not_applicable")
    assert (await detail(world.officer, hit["id"]))["hit"]["driver_result"] is None


# --- exigent override ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("justification", [
    pytest.param("", id="empty"),
    pytest.param("        \n    ", id="whitespace"),
    pytest.param("urgent!", id="too-short"),
    pytest.param("   shots fired   ", id="short-once-trimmed"),
])
async def test_exigent_override_without_a_real_justification_is_refused(world, justification: str) -> None:
    """Exigent circumstances need a written justification of a sentence; less is 409, and nothing changes."""
    hit = await raise_hit(world)
    body = await step(world.officer, hit["id"], "action",
                      {"action": "stop", "exigent": {"justification": justification}}, 409)
    refusal(body, "verification_required", ["apsin", "visual"])
    assert "justification" in body["detail"]
    got = await detail(world.officer, hit["id"])
    assert got["hit"]["status"] == "pending" and got["hit"]["exigent"] is False
    assert [e["kind"] for e in got["events"]] == ["created"]


async def test_exigent_override_with_justification_acts_and_alerts_a_supervisor(world) -> None:
    """A justified exigent action succeeds before the confirmations, is marked exigent, and a supervisor hears of it."""
    supervisor = await user(world, "sgt1", ["supervisor"])
    hit = await raise_hit(world)
    async with AsyncExitStack() as stack:
        sup, officer, dispatch, rtcc = [await stack.enter_async_context(AlertSocket.connect(world.server, a.token))
                                        for a in (supervisor, world.officer, world.dispatcher, world.rtcc)]
        # The refused attempt alerts no one.
        await step(world.officer, hit["id"], "action", {"action": "stop", "exigent": {"justification": "go"}}, 409)
        answer = await step(world.officer, hit["id"], "action",
                            {"action": "stop", "exigent": {"justification": f"  {JUSTIFICATION}  "}})
        h = answer["hit"]
        assert (h["status"], h["action"], h["exigent"]) == ("action_taken", "stop", True)
        assert h["apsin_confirmed"] is False and h["visual_confirmed"] is False

        alert = await sup.next()
        assert alert["type"] == "supervisor_alert", alert
        assert alert["reason"] == "exigent_override" and alert["justification"] == JUSTIFICATION
        assert alert["officer"] == world.officer.username and alert["skipped"] == ["apsin", "visual"]
        assert alert["hit"]["id"] == hit["id"] and alert["hit"]["exigent"] is True
        for sock in (officer, dispatch):
            msg = await sock.next()
            assert msg["type"] == "hit_update" and msg["step"] == "exigent_override" and msg["hit"]["exigent"] is True
        got = sorted([await rtcc.next(), await rtcc.next()], key=lambda m: m["type"])
        assert [m["type"] for m in got] == ["hit_update", "supervisor_alert"], "the RTCC watches overrides too"
        await asyncio.gather(*(s.nothing_within(0.3) for s in (sup, officer, dispatch, rtcc)))

    event = (await detail(supervisor, hit["id"]))["events"][-1]
    assert event["kind"] == "exigent_override" and event["actor_id"] == world.officer.id
    assert event["actor_role"] == "officer"
    assert event["data"]["exigent"] == {"justification": JUSTIFICATION}
    assert event["data"]["skipped"] == ["apsin", "visual"] and event["data"]["action"] == "stop"


async def test_exigent_override_on_a_person_linked_entry_names_the_skipped_driver_step(world) -> None:
    """On a person-linked hit, an exigent action after both confirmations skips only the driver step."""
    supervisor = await user(world, "sgt1", ["supervisor"])
    hit = await raise_hit(world, category="violent_crime", subject=SUBJECT)
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    async with AlertSocket.connect(world.server, supervisor.token) as sup:
        answer = await step(world.officer, hit["id"], "action",
                            {"action": "arrest", "exigent": {"justification": JUSTIFICATION}})
        assert answer["hit"]["exigent"] is True and answer["hit"]["driver_result"] is None
        alert = await sup.next()
        assert alert["type"] == "supervisor_alert" and alert["skipped"] == ["driver"]


async def test_exigent_declared_once_verified_is_a_plain_action(world) -> None:
    """When nothing is missing, an exigent declaration is not an override: no flag, no supervisor alert."""
    supervisor = await user(world, "sgt1", ["supervisor"])
    hit = await raise_hit(world)
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    async with AlertSocket.connect(world.server, supervisor.token) as sup:
        answer = await step(world.officer, hit["id"], "action",
                            {"action": "stop", "exigent": {"justification": JUSTIFICATION}})
        assert answer["hit"]["exigent"] is False and answer["events"][-1]["kind"] == "action"
        await sup.nothing_within(0.3)


async def test_action_none_needs_no_confirmation(world) -> None:
    """Deciding to do nothing is allowed at once, and the hit can then be closed."""
    hit = await raise_hit(world)
    after = await step(world.officer, hit["id"], "action", {"action": "none"})
    assert (after["hit"]["status"], after["hit"]["action"], after["hit"]["exigent"]) == ("action_taken", "none", False)
    after = await step(world.officer, hit["id"], "close", {"outcome": "action_completed"})
    assert after["hit"]["outcome"] == "action_completed"


# --- failed confirmations close the hit ------------------------------------------------------------------------

async def test_apsin_not_confirmed_closes_as_no_longer_wanted(world) -> None:
    """APSIN saying the plate is no longer wanted closes the hit, and nothing more can be done with it."""
    hit = await raise_hit(world)
    after = await step(world.rtcc, hit["id"], "apsin", APSIN_NOT_WANTED)
    h = after["hit"]
    assert (h["status"], h["outcome"], h["apsin_confirmed"], h["awaiting"]) == ("closed", "no_longer_wanted", False, [])
    assert h["closed_at"] is not None
    event = after["events"][-1]
    assert event["kind"] == "apsin_not_confirmed" and event["actor_role"] == "rtcc" and event["actor_id"] == world.rtcc.id
    assert event["data"]["reference"] == "APSIN-24-77813" and event["data"]["note"] == "Recovered by owner yesterday"

    for who, name, body in ((world.dispatcher, "apsin", APSIN_OK), (world.officer, "visual", VISUAL_OK),
                            (world.officer, "driver", {"matched": True}), (world.officer, "action", {"action": "stop"}),
                            (world.officer, "action", {"action": "stop", "exigent": {"justification": JUSTIFICATION}}),
                            (world.officer, "close", {"outcome": "misread"})):
        refused = await step(who, hit["id"], name, body, 409)
        refusal(refused, "hit_closed")
        assert "no_longer_wanted" in refused["detail"]
    assert len((await detail(world.officer, hit["id"]))["events"]) == 2


@pytest.mark.parametrize(("seen", "outcome"), [
    pytest.param({"plate_matches": False, "state_matches": True, "vehicle_matches": True}, "misread", id="plate"),
    pytest.param({"plate_matches": True, "state_matches": False, "vehicle_matches": True}, "state_mismatch",
                 id="state"),
    pytest.param({"plate_matches": True, "state_matches": True, "vehicle_matches": False}, "vehicle_mismatch",
                 id="vehicle"),
    pytest.param({"plate_matches": False, "state_matches": False, "vehicle_matches": False}, "misread",
                 id="all-plate-first"),
])
async def test_visual_mismatch_closes_with_its_reason(world, seen: dict[str, bool], outcome: str) -> None:
    """A visual mismatch closes the hit as misread, state mismatch or vehicle mismatch, and is pushed."""
    hit = await raise_hit(world)
    async with AlertSocket.connect(world.server, world.dispatcher.token) as dispatch:
        after = await step(world.officer, hit["id"], "visual", seen | {"note": "Plate reads ABC1284 up close"})
        h = after["hit"]
        assert (h["status"], h["outcome"], h["visual_confirmed"]) == ("closed", outcome, False)
        event = next(e for e in after["events"] if e["kind"] == "visual_not_matched")
        assert event["data"]["outcome"] == outcome and event["data"]["note"] == "Plate reads ABC1284 up close"
        assert {k: event["data"][k] for k in seen} == seen
        msg = await dispatch.next()
        assert msg["type"] == "hit_update" and msg["step"] == "visual_not_matched"
        assert msg["hit"]["outcome"] == outcome
    refusal(await step(world.dispatcher, hit["id"], "apsin", APSIN_OK, 409), "hit_closed")


async def test_close_as_action_completed_needs_an_action(world) -> None:
    """Closing as 'action completed' before any action is recorded is refused, naming the action step."""
    hit = await raise_hit(world)
    body = await step(world.officer, hit["id"], "close", {"outcome": "action_completed"}, 409)
    refusal(body, "verification_required", ["action"])
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    refusal(await step(world.officer, hit["id"], "close", {"outcome": "action_completed"}, 409),
            "verification_required", ["action"])
    after = await step(world.dispatcher, hit["id"], "close", {"outcome": "vehicle_mismatch", "note": "Wrong model"})
    assert after["hit"]["outcome"] == "vehicle_mismatch"
    assert after["events"][-1]["actor_role"] == "dispatcher"
    refusal(await step(world.officer, hit["id"], "close", {"outcome": "misread"}, 409), "hit_closed")


async def test_a_step_taken_twice_is_already_done(world) -> None:
    """Confirming again, or recording a second action, is 409 already_done and adds no event."""
    hit = await raise_hit(world)
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK)
    refusal(await step(world.rtcc, hit["id"], "apsin", APSIN_OK, 409), "already_done")
    refusal(await step(world.rtcc, hit["id"], "apsin", APSIN_NOT_WANTED, 409), "already_done")
    await step(world.officer, hit["id"], "visual", VISUAL_OK)
    refusal(await step(world.officer, hit["id"], "visual", VISUAL_OK, 409), "already_done")
    refusal(await step(world.officer, hit["id"], "visual", VISUAL_OK | {"plate_matches": False}, 409), "already_done")
    await step(world.officer, hit["id"], "action", {"action": "stop"})
    body = await step(world.officer, hit["id"], "action", {"action": "arrest"}, 409)
    refusal(body, "already_done")
    assert body["hit_status"] == "action_taken"
    got = await detail(world.officer, hit["id"])
    assert got["hit"]["action"] == "stop" and got["hit"]["status"] == "action_taken"
    assert [e["kind"] for e in got["events"]] == ["created", "apsin_confirmed", "visual_confirmed", "action"]


# --- who may take which step -----------------------------------------------------------------------------------

async def test_roles_for_each_step(world) -> None:
    """Dispatch and RTCC confirm APSIN; only the unit's officer matches, checks the driver and acts (403 otherwise)."""
    supervisor = await user(world, "sgt1", ["supervisor"])
    hit = await raise_hit(world, category="wanted_person", subject=SUBJECT)
    hid = hit["id"]
    forbidden = [
        (world.dispatcher, "visual", VISUAL_OK), (world.rtcc, "visual", VISUAL_OK),
        (supervisor, "visual", VISUAL_OK), (world.dispatcher, "driver", {"matched": True}),
        (world.rtcc, "driver", {"matched": True}), (world.dispatcher, "action", {"action": "stop"}),
        (world.rtcc, "action", {"action": "stop", "exigent": {"justification": JUSTIFICATION}}),
        (supervisor, "action", {"action": "none"}), (supervisor, "apsin", APSIN_OK),
    ]
    for who, name, body in forbidden:
        refused = await step(who, hid, name, body, 403)
        assert refused["error"] == "forbidden" and refused["detail"], (who.username, name, refused)

    after = await step(world.rtcc, hid, "apsin", APSIN_OK)
    assert after["events"][-1]["actor_role"] == "rtcc" and after["events"][-1]["actor_id"] == world.rtcc.id
    await step(world.officer, hid, "visual", VISUAL_OK)
    await step(world.officer, hid, "driver", {"matched": True})
    await step(world.officer, hid, "action", {"action": "arrest"})
    after = await step(supervisor, hid, "close", {"outcome": "action_completed"})
    assert after["events"][-1]["actor_role"] == "supervisor"


async def test_officer_of_another_unit_may_not_touch_this_units_hit(world) -> None:
    """An officer of another unit gets 403 on every step of this unit's hit, and the hit is unchanged."""
    _, _, officer2 = await world.add_unit()
    hit = await raise_hit(world)
    for name, body in (("apsin", APSIN_OK), ("visual", VISUAL_OK), ("driver", {"matched": True}),
                       ("action", {"action": "stop", "exigent": {"justification": JUSTIFICATION}}),
                       ("close", {"outcome": "misread"})):
        refused = await step(officer2, hit["id"], name, body, 403)
        assert refused["error"] == "forbidden" and "unit" in refused["detail"], refused
    got = await detail(world.officer, hit["id"])
    assert got["hit"]["status"] == "pending" and [e["kind"] for e in got["events"]] == ["created"]
    assert (await world.rtcc.client.get("/api/v1/suppressions")).json()["count"] == 0, "their misread suppresses nothing"


async def test_steps_need_a_signed_in_trained_user(world) -> None:
    """No token is 401; a dash camera's token, or a person without ALPR access, is refused."""
    hit = await raise_hit(world)
    resp = await world.client().post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK)
    assert resp.status_code == 401, resp.text
    resp = await world.camera.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK)
    assert resp.status_code in (401, 403), resp.text
    untrained = await make_user(world.admin, world.client(), world.client, "rookie", ["dispatcher"], trained=False)
    resp = await untrained.client.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK)
    assert resp.status_code == 403, resp.text
    assert (await detail(world.officer, hit["id"]))["hit"]["status"] == "pending"


# --- bad input -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "body", "field"), [
    pytest.param("action", {"action": "shoot"}, "action", id="unknown-action"),
    pytest.param("action", {}, "action", id="missing-action"),
    pytest.param("action", {"action": "stop", "exigent": {}}, "justification", id="exigent-without-justification"),
    pytest.param("action", {"action": "stop", "exigent": {"justification": "Shots fired\x00at officers nearby"}},
                 "justification", id="nul-in-justification"),
    pytest.param("apsin", {"confirmed": True}, "reference", id="missing-reference"),
    pytest.param("apsin", {"confirmed": True, "reference": ""}, "reference", id="empty-reference"),
    pytest.param("apsin", {"confirmed": True, "reference": "R" * 65}, "reference", id="long-reference"),
    pytest.param("apsin", {"confirmed": True, "reference": "APSIN\x00123"}, "reference", id="nul-in-reference"),
    pytest.param("apsin", {"confirmed": True, "reference": "APSIN\n123"}, "reference", id="newline-in-reference"),
    pytest.param("apsin", {"confirmed": "yes", "reference": "APSIN-1"}, "confirmed", id="confirmed-not-bool"),
    pytest.param("apsin", {"confirmed": True, "reference": "APSIN-1", "note": "bell\x07"}, "note", id="bel-in-note"),
    pytest.param("apsin", {"confirmed": True, "reference": "APSIN-1", "by": "me"}, "by", id="unknown-field"),
    pytest.param("visual", {"plate_matches": True, "state_matches": True}, "vehicle_matches", id="missing-vehicle"),
    pytest.param("visual", VISUAL_OK | {"note": "x" * 2001}, "note", id="long-note"),
    pytest.param("driver", {"matched": False, "other_legal_basis": "Ran a red\x1b light at 5th Ave"},
                 "other_legal_basis", id="escape-in-basis"),
    pytest.param("close", {"outcome": "bored"}, "outcome", id="unknown-outcome"),
    pytest.param("close", {"note": "done"}, "outcome", id="missing-outcome"),
])
async def test_bad_step_bodies_are_422_naming_the_field(world, name: str, body: dict[str, Any], field: str) -> None:
    """A malformed step is 422 validation_error whose detail names the field, and the hit is untouched."""
    hit = await raise_hit(world, category="wanted_person", subject=SUBJECT)
    resp = await world.officer.client.post(f"/api/v1/hits/{hit['id']}/{name}", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"
    assert field in resp.json()["detail"], resp.text
    got = await detail(world.officer, hit["id"])
    assert got["hit"]["status"] == "pending" and [e["kind"] for e in got["events"]] == ["created"]


async def test_a_body_that_is_not_json_is_a_4xx(world) -> None:
    """Truncated JSON or a JSON array is refused with a 4xx, never a 500."""
    hit = await raise_hit(world)
    for content in (b'{"confirmed": true, "reference": "A', b"[]", b"null", b""):
        resp = await world.dispatcher.client.post(f"/api/v1/hits/{hit['id']}/apsin", content=content,
                                                  headers={"Content-Type": "application/json"})
        assert 400 <= resp.status_code < 500, (content, resp.status_code, resp.text)
        assert resp.json()["error"] and resp.json()["detail"]


async def test_unknown_hit_is_404(world) -> None:
    """Every step and the detail of a hit that does not exist answer 404 not_found."""
    for name, body in (("apsin", APSIN_OK), ("visual", VISUAL_OK), ("driver", {"matched": True}),
                       ("action", {"action": "stop"}), ("close", {"outcome": "misread"})):
        refused = await step(world.officer, 987654, name, body, 404)
        assert refused["error"] == "not_found" and "987654" in refused["detail"]
    resp = await world.officer.client.get("/api/v1/hits/987654")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"


# --- the record of what was done and seen ------------------------------------------------------------------------

async def test_history_records_who_when_in_which_role_and_what_was_seen(world) -> None:
    """Each event has the actor, their role and the time; the visual step keeps the read and entry shown."""
    await world.add_entry("ABC1234", vehicle={"year": 2016, "make": "TOYT", "model": "TAC", "color": "BLK",
                                              "type": "PK"})
    started = datetime.now(UTC)
    body = read("ABC1234", "WA", vehicle={"make": "TOYT", "color": "WHI", "type": "PK"})
    (hit,) = (await post_read(world.camera, body))["hits"]
    await step(world.dispatcher, hit["id"], "apsin", APSIN_OK | {"note": "Still listed, 24-001234"})
    await step(world.officer, hit["id"], "visual", VISUAL_OK | {"note": "Repainted; VIN plate matches"})
    got = await detail(world.rtcc, hit["id"])
    created, apsin, visual = got["events"]
    assert created["kind"] == "created" and created["actor_id"] is None and created["actor_role"] is None
    assert created["data"] == {"detection_id": body["id"], "match_kind": "plate_only"}

    assert (apsin["kind"], apsin["actor_id"], apsin["actor_role"]) == ("apsin_confirmed", world.dispatcher.id,
                                                                       "dispatcher")
    assert apsin["data"] == {"confirmed": True, "reference": "APSIN-24-77812", "note": "Still listed, 24-001234"}
    assert (visual["kind"], visual["actor_id"], visual["actor_role"]) == ("visual_confirmed", world.officer.id,
                                                                          "officer")
    times = [datetime.fromisoformat(e["at"]) for e in got["events"]]
    assert all(started - timedelta(seconds=1) <= t <= datetime.now(UTC) for t in times)
    assert times == sorted(times)

    data = visual["data"]
    assert data["plate_matches"] is True and data["note"] == "Repainted; VIN plate matches"
    shown = data["shown"]
    assert shown["read"]["plate"] == "ABC1234" and shown["read"]["state"] == "WA"
    assert shown["read"]["vehicle"]["color"] == "WHI" and shown["read"]["images"] == []
    assert shown["entry"]["plate"] == "ABC1234" and shown["entry"]["state"] == "AK"
    assert shown["entry"]["vehicle"] == {"year": 2016, "make": "TOYT", "model": "TAC", "color": "BLK", "type": "PK"}
    assert shown["match_kind"] == "plate_only" and shown["state_mismatch"] is True
    assert shown["descriptor_mismatches"] == [{"field": "color", "entry": "BLK", "read": "WHI"}]


# --- races -----------------------------------------------------------------------------------------------------

async def test_two_apsin_confirmations_at_once_one_wins(world) -> None:
    """Dispatch and the RTCC confirming the same hit at the same moment: one 200, one 409, never a 500."""
    for n in range(3):
        hit = await raise_hit(world, f"RCE{n}000")
        first, second = await asyncio.gather(
            world.dispatcher.client.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK),
            world.rtcc.client.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK | {"reference": "RTCC-9"}))
        codes = sorted((first.status_code, second.status_code))
        assert codes == [200, 409], (first.text, second.text)
        loser = first if first.status_code == 409 else second
        assert loser.json()["error"] in ("already_done", "changed_meanwhile"), loser.text
        got = await detail(world.officer, hit["id"])
        assert [e["kind"] for e in got["events"]] == ["created", "apsin_confirmed"]
        assert got["hit"]["status"] == "apsin_confirmed"


async def test_different_steps_at_once_leave_a_consistent_hit(world) -> None:
    """APSIN and visual confirmation racing: each succeeds or is told to retry, and the hit shows exactly the winners."""
    hit = await raise_hit(world)
    apsin, visual = await asyncio.gather(
        world.dispatcher.client.post(f"/api/v1/hits/{hit['id']}/apsin", json=APSIN_OK),
        world.officer.client.post(f"/api/v1/hits/{hit['id']}/visual", json=VISUAL_OK))
    for resp in (apsin, visual):
        assert resp.status_code in (200, 409), resp.text
        if resp.status_code == 409:
            assert resp.json()["error"] == "changed_meanwhile", resp.text
    assert 200 in (apsin.status_code, visual.status_code)
    got = (await detail(world.officer, hit["id"]))["hit"]
    assert got["apsin_confirmed"] is (apsin.status_code == 200)
    assert got["visual_confirmed"] is (visual.status_code == 200)


# --- dispatch's queue ------------------------------------------------------------------------------------------

async def test_confirmed_hit_leaves_the_pending_queue(world) -> None:
    """Dispatch's pending queue is most urgent first, then oldest; a hit leaves it once APSIN is confirmed."""
    await world.add_entry("VEH4444")
    await world.add_entry("AMB1111", category="amber_alert", source="AMBER", subject="Girl, 6, red hoodie")
    await world.add_entry("VEH4445")
    hits = {}
    for plate in ("VEH4444", "AMB1111", "VEH4445"):
        (hits[plate],) = (await post_read(world.camera, read(plate)))["hits"]

    async def queue(status: str) -> list[str]:
        resp = await world.dispatcher.client.get("/api/v1/hits", params={"status": status})
        assert resp.status_code == 200, resp.text
        assert resp.json()["count"] == len(resp.json()["hits"])
        return [h["entry"]["plate"] for h in resp.json()["hits"]]

    assert await queue("pending") == ["AMB1111", "VEH4444", "VEH4445"]
    await step(world.dispatcher, hits["VEH4444"]["id"], "apsin", APSIN_OK)
    assert await queue("pending") == ["AMB1111", "VEH4445"]
    assert await queue("apsin_confirmed") == ["VEH4444"]
    await step(world.officer, hits["AMB1111"]["id"], "visual", VISUAL_OK)
    assert await queue("pending") == ["VEH4445"]
    assert await queue("visually_confirmed") == ["AMB1111"]
    await step(world.rtcc, hits["VEH4445"]["id"], "apsin", APSIN_NOT_WANTED)
    assert await queue("pending") == []
    assert await queue("closed") == ["VEH4445"]
