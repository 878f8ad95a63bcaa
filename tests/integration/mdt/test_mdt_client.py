"""The reference MDT client (clients/mdt) against a real server: alerts, verification, a lost network, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from asyncapi_check import CLIENT_SENDS, errors_of, record_server_message
from rich.console import Console
from support import PASSWORD, SSL_CONTEXT, World, make_user, post_read, read

from clients.mdt.session import Alert, MdtSession, ResumeCursor, SignInError, event_order, open_hits_of
from clients.mdt.ui import (
    Command,
    CommandError,
    MdtApp,
    describe_alert,
    describe_result,
    parse_command,
    render_board,
)


class Inbox:
    """What the MDT handed its UI, in order, with a way to wait for the next of a kind."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._changed = asyncio.Event()
        self.spec = SpecCheck()

    def show(self, alert: Alert) -> None:
        self.alerts.append(alert)
        self._changed.set()

    async def wait_for(self, check, timeout: float = 5.0) -> Any:  # noqa: ANN001
        """The first alert (from the start) for which check(alert) is true."""
        deadline = time.monotonic() + timeout
        while True:
            for alert in self.alerts:
                if check(alert):
                    return alert
            self._changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such alert within {timeout} s; got {[(a.type, a.hit['id']) for a in self.alerts]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def until(self, condition, timeout: float = 10.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"not reached within {timeout} s ({len(self.alerts)} alerts)"
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.05)


OPENAPI = Path(__file__).resolve().parents[3] / "clients" / "mobile_api_spec" / "openapi.json"


class SpecCheck:
    """The MDT's trace hook: what it receives and sends on the socket, and each HTTP call, against the spec."""

    def __init__(self) -> None:
        self.client_errors: list[str] = []
        self.calls: set[tuple[str, str]] = set()

    def __call__(self, direction: str, msg: dict[str, Any]) -> None:
        if direction == "in":
            record_server_message(msg)  # a message asyncapi.yaml does not describe fails the test (conftest)
        elif direction == "out":
            self.client_errors += [f"{msg.get('type')}: {e}" for e in errors_of(msg, CLIENT_SENDS)]
        else:
            self.calls.add((msg["method"].lower(), re.sub(r"/\d+(?=/|$)", "/{hit_id}", msg["path"])))

    def assert_documented(self) -> None:
        assert not self.client_errors, self.client_errors
        paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
        undocumented = sorted(c for c in self.calls if c[0] not in paths.get(c[1], {}))
        assert self.calls and not undocumented, f"calls openapi.json does not describe: {undocumented}"


def mdt_for(world: World, inbox: Inbox, username: str = "officer1", **options: Any) -> MdtSession:
    inbox.spec = SpecCheck()
    return MdtSession(world.server.base_url, username, PASSWORD, on_alert=inbox.show, ssl_context=SSL_CONTEXT,
                      trace=inbox.spec, **options)


def screen(hits: list[dict[str, Any]], **kw: Any) -> str:
    console = Console(record=True, width=220, force_terminal=False, color_system=None)
    console.print(render_board(open_hits_of(hits), **kw))
    return console.export_text()


async def poll(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_mdt_receives_a_hit_and_completes_the_verification_flow(world) -> None:
    """The officer's MDT shows a hit with priority, match kind and mismatches, is refused an early stop, and verifies it."""
    await world.add_entry("ABC1234", "AK", vehicle={"make": "TOYT", "color": "BLK", "type": "PK"})
    inbox = Inbox()
    async with mdt_for(world, inbox) as mdt:
        await mdt.start()
        await mdt.wait_connected()
        (raised,) = (await post_read(world.camera, read("ABC1234", "WA", vehicle={"make": "TOYT", "color": "WHI"})))["hits"]
        hit_id = raised["id"]
        alert = await inbox.wait_for(lambda a: a.type == "hit")
        hit = alert.hit
        assert alert.new_hit and hit["id"] == hit_id and not alert.replayed
        assert (hit["priority"], hit["match_kind"], hit["state_mismatch"]) == (4, "plate_only", True)
        assert hit["descriptor_mismatches"] == [{"field": "color", "entry": "BLK", "read": "WHI"}]
        assert hit["awaiting"] == ["apsin", "visual"]
        board = screen(list(mdt.hits.values()), who="Officer1", state="connected")
        for shown in ("#" + str(hit_id), "P4", "STOLEN VEHICLE", "plate only", "STATE: read WA ≠ listed AK",
                      "COLOR: listed BLK ≠ seen WHI", "next: apsin · visual"):
            assert shown in board, f"{shown!r} not on the board:\n{board}"
        assert "NEW HIT" in describe_alert(alert).plain

        # A stop before the confirmations is refused, and the MDT says what is missing.
        refused = await mdt.action(hit_id, "stop")
        assert (refused.ok, refused.status, refused.error) == (False, 409, "verification_required")
        assert refused.missing == ["apsin", "visual"]
        assert "(missing: apsin, visual)" in describe_result(hit_id, "action", refused).plain

        # Dispatch confirms through APSIN from its own console; the MDT hears of it.
        resp = await world.dispatcher.client.post(f"/api/v1/hits/{hit_id}/apsin",
                                                  json={"confirmed": True, "reference": "APSIN Q-24-5531"})
        assert resp.status_code == 200, resp.text
        update = await inbox.wait_for(lambda a: a.type == "hit_update" and a.extra.get("step") == "apsin_confirmed")
        assert update.hit["status"] == "apsin_confirmed" and not update.new_hit
        assert mdt.hits[hit_id]["awaiting"] == ["visual"]

        visual = await mdt.visual(hit_id, plate_matches=True, state_matches=True, vehicle_matches=True,
                                  note="Alaska plate; the camera misread the state. Repainted white.")
        assert visual.ok and visual.hit["status"] == "verified" and visual.hit["awaiting"] == ["action"]
        acted = await mdt.action(hit_id, "vehicle_recovered")
        assert acted.ok and acted.hit["status"] == "action_taken" and acted.hit["awaiting"] == ["close"]
        closed = await mdt.close_hit(hit_id, "action_completed")
        assert closed.ok and closed.hit["status"] == "closed" and closed.hit["outcome"] == "action_completed"
        assert [e["kind"] for e in closed.events][-4:] == ["apsin_confirmed", "visual_confirmed", "action", "closed"]
        await inbox.wait_for(lambda a: a.type == "hit_update" and a.extra.get("step") == "closed")
        assert mdt.open_hits() == [] and "No open hits" in screen(list(mdt.hits.values()))

        # Every event was shown once and acknowledged: nothing waits on the server to be re-sent or escalated.
        assert Counter(a.event_id for a in inbox.alerts).most_common(1)[0][1] == 1
        redis = world.server.resources.redis

        async def nothing_unacked() -> bool:
            return await redis.zcard("alpr:unacked") == 0

        await poll(nothing_unacked)
    inbox.spec.assert_documented()


async def test_mdt_command_line_runs_the_steps_and_shows_the_answers(world) -> None:
    """Typed commands (not keystrokes) go through the app to the server; answers and refusals land in its log."""
    await world.add_entry("GRL2024", category="amber_alert", subject="Adult male, 30s; child 6, pink jacket")
    console = Console(record=True, width=200, force_terminal=False, color_system=None)
    inbox = Inbox()
    async with mdt_for(world, inbox) as mdt:
        app = MdtApp(mdt, console, interactive=False)
        await mdt.start()
        await mdt.wait_connected()
        (hit,) = (await post_read(world.camera, read("GRL2024", None)))["hits"]
        n = hit["id"]
        await inbox.until(lambda: n in mdt.hits)  # the app, not the inbox, is handed the alerts here
        for line in (f"x {n} stop", f"a {n} APSIN-Q-77", f"v {n} y y y", f"x {n} arrest", f"d {n} y", f"x {n} arrest",
                     f"c {n} action", f"s {n}", "v nine y y y"):
            await app.execute(line)
        board = console.export_text()
        for shown in (f"NEW HIT #{n} P1 AMBER ALERT GRL2024 (AK) — plate only", "STATE: not read (listed AK)",
                      "match driver to subject: Adult male", f"#{n} action: REFUSED 409 verification_required",
                      "(missing: apsin, visual, driver)", f"#{n} apsin: recorded → apsin_confirmed; next: visual",
                      f"#{n} visual: recorded → verified; next: driver", "(missing: driver)",
                      f"#{n} driver: recorded → verified; next: action", f"#{n} action: recorded → action_taken",
                      f"#{n} close: recorded → closed (action_completed)", "driver_matched by officer",
                      "'nine' is not a hit number"):
            assert shown in board, f"{shown!r} not in the MDT's output:\n{board}"
        assert mdt.open_hits() == [] and n not in app.fresh
    inbox.spec.assert_documented()


async def hot_plates(world: World, count: int, prefix: str = "HK") -> list[str]:
    """Hot-list plates no two of which are OCR-equivalent (H and K are in no confusion class)."""
    plates = [f"{prefix}{n:04d}" for n in range(count)]
    for plate in plates:
        await world.add_entry(plate)
    return plates


async def ingest(world: World, plates: list[str]) -> list[int]:
    ids = []
    for plate in plates:
        (hit,) = (await post_read(world.camera, read(plate)))["hits"]
        ids.append(hit["id"])
    return ids


async def test_mdt_survives_a_dropped_network_and_shows_every_hit_once(world) -> None:
    """Two lost connections, one mid-burst: back-off, reconnect and resume bring every hit exactly once."""
    plates = await hot_plates(world, 30)
    inbox = Inbox()
    async with mdt_for(world, inbox, backoff_initial=0.4, backoff_max=5.0) as mdt:
        await mdt.start()
        await mdt.wait_connected()
        burst = asyncio.create_task(ingest(world, plates[:15]))
        await inbox.until(lambda: len(inbox.alerts) >= 3)
        mdt.websocket.transport.abort()  # RST, no close frame: the cruiser drove out of coverage
        await inbox.until(lambda: mdt.state == "reconnecting")
        # Out of coverage: more hits are raised (as many as the back-off leaves time for), and the burst goes on.
        offline, later = [], []
        for plate in plates[15:20]:
            raised_now = await ingest(world, [plate])
            (offline if mdt.connections == 1 else later).extend(raised_now)
        assert offline, "the back-off should leave time for a read while out of coverage"
        await mdt.wait_connected()
        assert mdt.connections == 2
        # Lost again at once: the next wait is longer (exponential), within its jittered bounds.
        mdt.websocket.transport.abort()
        await inbox.until(lambda: mdt.state == "reconnecting")
        await mdt.wait_connected()
        live = await ingest(world, plates[20:])
        raised = [*await asyncio.wait_for(burst, 30), *offline, *later, *live]
        await inbox.until(lambda: {a.hit["id"] for a in inbox.alerts} >= set(raised))
        await asyncio.sleep(0.3)  # anything sent twice would arrive by now

    shown = Counter(a.hit["id"] for a in inbox.alerts if a.type == "hit")
    assert set(shown) == set(raised) and set(shown.values()) == {1}, shown
    assert all(a.new_hit for a in inbox.alerts)
    assert any(a.replayed for a in inbox.alerts if a.hit["id"] in offline), "hits raised offline come as a replay"
    assert mdt.connections == 3
    first, second = mdt.reconnect_delays[:2]
    assert 0.2 <= first <= 0.4 and 0.4 <= second <= 0.8, mdt.reconnect_delays
    inbox.spec.assert_documented()


async def test_older_hits_overtaken_by_an_amber_alert_and_lost_with_the_link_come_back(world) -> None:
    """Stolen-vehicle hits queued behind a newer Amber alert and lost with the connection are replayed on reconnect."""
    stolen = await hot_plates(world, 3)
    await world.add_entry("HX0001", category="amber_alert")
    inbox = Inbox()
    lost: list[str] = []

    def show(alert: Alert) -> None:
        if alert.hit["category"] == "stolen_vehicle" and len(lost) < len(stolen):
            lost.append(alert.event_id)  # never on the screen, so never acked: as if lost in transit
            raise ConnectionError("the link died before this alert reached the screen")
        inbox.show(alert)

    async with mdt_for(world, inbox, backoff_initial=0.05) as mdt:
        mdt.on_alert = show
        await mdt.start()
        await mdt.wait_connected()
        # One batch: the server queues all four at once and sends the most urgent (and newest) first.
        resp = await world.camera.post("/api/v1/detections",
                                       json={"detections": [read(p) for p in stolen] + [read("HX0001")]})
        assert resp.status_code in (200, 201), resp.text
        amber = await inbox.wait_for(lambda a: a.hit["category"] == "amber_alert")
        mark = f"alpr:ackmark:{world.officer.id}"

        async def amber_acked_and_rest_lost() -> bool:
            return len(lost) == 3 and await world.server.resources.redis.get(mark) == amber.event_id.encode()

        await poll(amber_acked_and_rest_lost)
        assert all(event_order(e) < event_order(amber.event_id) for e in lost), "the lost hits are older than the Amber"
        mdt.websocket.transport.abort()
        await inbox.until(lambda: len(inbox.alerts) == 4)
        await asyncio.sleep(0.3)
    back = [a for a in inbox.alerts if a.hit["category"] == "stolen_vehicle"]
    assert sorted(a.event_id for a in back) == sorted(lost) and all(a.replayed for a in back)
    assert len(inbox.alerts) == 4
    inbox.spec.assert_documented()


async def test_token_refresh_keeps_the_socket_open_past_the_first_tokens_expiry(world) -> None:
    """The MDT refreshes before its access token runs out and sends the new one on the socket, which stays open."""
    inbox = Inbox()
    async with mdt_for(world, inbox) as mdt:
        await mdt.login()
        # No setting issues an access token under a minute; one from the server's own key plays its last seconds.
        short = world.server.resources.tokens.issue("access", str(world.officer.id), 3, roles=["officer"],
                                                    unit_id=world.unit_id).token
        mdt.set_tokens(short, 3)
        used_refresh_token = mdt._refresh_token
        started = time.monotonic()
        await mdt.start(load_open_hits=False)
        await mdt.wait_connected()
        await inbox.until(lambda: mdt.refreshes >= 1, timeout=3)
        assert mdt.access_token != short
        await asyncio.sleep(max(0.0, started + 3.5 - time.monotonic()))  # past the first token's expiry
        assert (mdt.state, mdt.connections, mdt.reconnect_delays, mdt.errors) == ("connected", 1, [], [])
        # Still receiving on the same socket, and the HTTP calls use the new token.
        await world.add_entry("TKN1234")
        (hit,) = (await post_read(world.camera, read("TKN1234")))["hits"]
        await inbox.wait_for(lambda a: a.hit["id"] == hit["id"])
        assert (await mdt.get_hit(hit["id"])).ok
        assert mdt.connections == 1
    # It traded its refresh token, which the server then no longer honours (rotation).
    resp = await world.client().post("/api/v1/auth/refresh", json={"refresh_token": used_refresh_token})
    assert resp.status_code == 401
    inbox.spec.assert_documented()


async def test_mdt_refreshes_and_reconnects_when_the_socket_is_closed_4401(world) -> None:
    """A token the server has stopped honouring gets 4401; the MDT refreshes it and is connected again."""
    inbox = Inbox()
    async with mdt_for(world, inbox, backoff_initial=0.05) as mdt:
        await mdt.login()
        expired = world.server.resources.tokens.issue("access", str(world.officer.id), -60, roles=["officer"],
                                                      unit_id=world.unit_id).token
        mdt.set_tokens(expired, 900)  # the MDT believes it is good
        await mdt.start(load_open_hits=False)
        await mdt.wait_connected()
        assert mdt.refreshes == 1 and mdt.connections == 1 and mdt.access_token != expired
        assert mdt.reconnect_delays == [0.0], "a refreshed token is tried at once"
    inbox.spec.assert_documented()


async def test_mdt_without_a_grant_is_refused_4403_and_does_not_retry(world) -> None:
    """4403 (no access grant) stops the MDT with the reason; a wrong password is refused at sign-in."""
    await make_user(world.admin, world.client(), world.client, "officer9", ["officer"], unit_id=world.unit_id,
                    granted=False)
    inbox = Inbox()
    async with mdt_for(world, inbox, username="officer9", backoff_initial=0.01) as mdt:
        await mdt.start(load_open_hits=False)
        await inbox.until(lambda: mdt.state == "refused", timeout=5)
        await asyncio.sleep(0.2)
        assert mdt.state == "refused" and mdt.reconnect_delays == [] and mdt.connections == 0
        assert "grant" in mdt.state_detail or "access" in mdt.state_detail, mdt.state_detail
    wrong = MdtSession(world.server.base_url, "officer1", "not-the-password", ssl_context=SSL_CONTEXT)
    async with wrong:
        with pytest.raises(SignInError) as refused:
            await wrong.start()
    assert refused.value.status == 401


async def test_mdt_started_out_of_reach_keeps_trying_with_back_off() -> None:
    """An MDT started where the server cannot be reached does not give up: it retries, waiting longer each time."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    states: list[tuple[str, str]] = []  # every state it passed through: it alternates retrying and waiting
    async with MdtSession(f"http://127.0.0.1:{port}", "officer1", PASSWORD, on_alert=inbox.show,
                          on_status=lambda state, detail: states.append((state, detail)),
                          backoff_initial=0.02, backoff_max=0.08) as mdt:
        await mdt.start()
        await inbox.until(lambda: len(mdt.reconnect_delays) >= 4, timeout=5)
        waits = [detail for state, detail in states if state == "reconnecting"]
        assert len(waits) >= 4 and all("cannot reach the server" in d for d in waits), states
        assert mdt.state in ("reconnecting", "signing_in"), mdt.state
        d = mdt.reconnect_delays
        assert 0.01 <= d[0] <= 0.02 and 0.02 <= d[1] <= 0.04 and all(0.04 <= x <= 0.08 for x in d[3:]), d


def test_resume_cursor_never_skips_an_event_queued_behind_a_more_urgent_one() -> None:
    """The id a reconnect resumes after moves up only when the server's queue was known to be empty."""
    cursor = ResumeCursor()
    assert cursor.connected("100-0") is None  # first connection: the server replays from its own ack record
    cursor.received("105-0")  # an Amber alert overtook the older stolen vehicle 103-0, then the link dropped
    assert cursor.connected("105-0") == "100-0"  # not 105-0: 103-0 comes back in the replay
    cursor.received("103-0")
    assert cursor.replay_done(truncated=False) is None  # the server's own replay (it has an ack mark)
    assert cursor.checkpoint == "100-0"
    assert cursor.replay_done(truncated=True) == "100-0"  # ours, cut short: ask again from the same place
    assert cursor.replay_done(truncated=False) is None
    assert cursor.checkpoint == "105-0"
    cursor.received("110-0")
    cursor.drained()  # a ping: nothing was queued
    assert cursor.checkpoint == "110-0"


@pytest.mark.parametrize(("line", "expected"), [
    ("a 12 APSIN Q-24-5531", Command("apsin", 12, {"reference": "APSIN Q-24-5531", "confirmed": True})),
    ("a #12 Q-1 n", Command("apsin", 12, {"reference": "Q-1", "confirmed": False})),
    ("v 12 y y n", Command("visual", 12, {"plate_matches": True, "state_matches": True, "vehicle_matches": False,
                                          "note": None})),
    ("d 12 y", Command("driver", 12, {"matched": True, "other_legal_basis": None})),
    ("d 12 driving with a revoked licence, seen on the dash video",
     Command("driver", 12, {"matched": False, "other_legal_basis": "driving with a revoked licence, seen on the dash video"})),
    ("x 12 veh", Command("action", 12, {"action": "vehicle_recovered", "exigent_justification": None})),
    ("x 12 stop child seen in the back seat crying for help",
     Command("action", 12, {"action": "stop", "exigent_justification": "child seen in the back seat crying for help"})),
    ("c 12 misread", Command("close", 12, {"outcome": "misread", "note": None})),
    ("q", Command("quit")),
])
def test_mdt_commands_parse(line: str, expected: Command) -> None:
    """The MDT's command line maps to the verification calls."""
    assert parse_command(line) == expected


@pytest.mark.parametrize("line", ["", "z 1", "a", "a 12", "v 12 y y", "v 12 y maybe y", "x 12 fly", "c 12 bogus",
                                  "a twelve Q-1"])
def test_mdt_commands_refused_with_a_reason(line: str) -> None:
    """A command the MDT cannot run says why instead of sending anything."""
    with pytest.raises(CommandError):
        parse_command(line)


def test_board_puts_the_most_urgent_hit_first_and_highlights_what_to_check() -> None:
    """The board lists open hits by priority and shows match kind, state and descriptor mismatches, and the driver check."""
    def hit(hit_id: int, priority: int, category: str, **extra: Any) -> dict[str, Any]:
        return {"id": hit_id, "priority": priority, "category": category, "status": "pending",
                "awaiting": ["apsin", "visual"], "match_kind": "exact", "state_mismatch": False,
                "descriptor_mismatches": [], "requires_driver_check": False, "read_count": 1,
                "created_at": "2025-01-01T00:00:00+00:00",
                "detection": {"plate": "GRL2024", "state": "AK", "vehicle": {}},
                "entry": {"plate": "GRL2024", "state": "AK", "category": category, "source": "AMBER",
                          "case_number": "AMB-1", "vehicle": {}}, **extra}

    stolen = hit(1, 4, "stolen_vehicle", match_kind="ocr_equivalent",
                 descriptor_mismatches=[{"field": "type", "entry": "MC", "read": "SUV"}])
    amber = hit(2, 1, "amber_alert", match_kind="plate_only", requires_driver_check=True,
                detection={"plate": "GRL2024", "state": None, "vehicle": {"color": "SIL"}})
    done = hit(3, 1, "amber_alert", status="closed")
    text = screen([stolen, amber, done], fresh={2})
    assert text.index("#2 NEW") < text.index("#1") and "#3" not in text
    for shown in ("P1", "AMBER ALERT", "plate only", "STATE: not read (listed AK)", "match driver to subject",
                  "P4", "OCR-equivalent", "TYPE: listed MC ≠ seen SUV", "2 open hits"):
        assert shown in text, f"{shown!r} not on the board:\n{text}"
