"""A fuzzer for /ws/alerts: malformed, oversized and out-of-order messages never take the server down, and another
officer's alerts keep arriving on time meanwhile.

Hypothesis generates the cases (deterministically, so CI runs the same ones; ALPR_FUZZ_SEED picks another set and
ALPR_FUZZ_CASES another count). Each case is one connection: a way of signing in (good, bad, or none), then frames
sent without waiting for answers (malformed JSON, wrong types, unknown types, server-only types, binary frames,
invalid UTF-8, 1-4 MB frames, JSON nested thousands deep, acks and resumes with bad, boundary, future or unseen ids,
auth with garbage, expired or another person's token), sometimes repeated as a flood. The oracle is the spec
(clients/mobile_api_spec/asyncapi.yaml): what each frame must be answered with (an error code, a replay_done, or
nothing) or which close code ends the socket. Every message the server sends is also validated against the spec.
Meanwhile a well-behaved officer of another unit is sent a hit every few tens of milliseconds and must receive each
one, with its latency compared with the same officer's before the fuzzing began.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncapi_check
import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from support import AlertSocket, World, make_user, post_read, read, running_server
from websockets.exceptions import ConnectionClosed

CASES = int(os.environ.get("ALPR_FUZZ_CASES", "400"))
MIN_CASES = min(CASES, 350)  # hypothesis may draw a few duplicates; far fewer means the generator broke
FUZZ_SEED = os.environ.get("ALPR_FUZZ_SEED")
CONCURRENCY = 4  # connections fuzzing at once
AUTH_TIMEOUT = 0.5  # the server's wait for a browser's first auth frame (5 s by default)
MAX_PART = 2**64 - 1  # a Redis stream id is two unsigned 64-bit numbers
FAR_MARK = "10000000000000-0"  # preset ack mark of every fuzzing account: each connect replays, once, unasked
SENTINEL = "99999999999999-0"  # a resume after this replays nothing: its replay_done ends a case
SPEC_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # the spec's EventId pattern, as ECMA 262 reads it (ASCII)
ATTACKERS = ("officer", "rtcc", "dispatcher")
ALERTS = ("hit", "hit_update", "supervisor_alert", "escalation")
MB = 1 << 20


def spec_valid_id(text: str) -> bool:
    """An event id the spec says the server must take: its pattern, each part within 64 bits, and not the very
    last possible id (nothing can follow it, so nothing can be resumed or acked after it)."""
    if not SPEC_ID.fullmatch(text):
        return False
    parts = tuple(int(p) for p in text.split("-"))
    return max(parts) <= MAX_PART and parts != (MAX_PART, MAX_PART)


# --- what a case is -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One frame to send: `op` says how to build it once the accounts exist, `arg` what with."""

    op: str
    arg: Any = None  # noqa: ANN401

    def __repr__(self) -> str:
        arg = repr(self.arg)
        return f"{self.op}({arg[:80] + '...' if len(arg) > 80 else arg})"


@dataclass(frozen=True)
class Case:
    who: str  # one of ATTACKERS
    auth: str  # header, first-frame, or bad:<how>
    frames: tuple[Frame, ...] = ()
    flood: int = 1  # the frames, sent this many times over without reading
    compression: bool = True

    @property
    def kind(self) -> str:
        if self.auth.startswith("bad:"):
            return "bad-auth"
        if any(f.op == "huge" for f in self.frames):
            return "huge"
        return "flood" if self.flood > 1 else "session"


id_part = st.one_of(st.integers(0, MAX_PART), st.sampled_from([0, 1, 2**53 + 1, 2**63, MAX_PART - 1, MAX_PART]))
ascii_id = st.builds(lambda a, b: f"{a}-{b}", id_part, id_part)
event_ids = st.one_of(
    ascii_id,
    st.sampled_from(["0-0", "recent", "1-0\n", "\u0661-\u0660", "\uff11-0", " 1-0", "1-0 ", "-1-0", "1-2-3", "",
                     "1_0", "0x1-0", f"{MAX_PART + 1}-0", f"{MAX_PART}-{MAX_PART}", "1" * 21 + "-0"]),
    st.from_regex(r"^\d{1,20}-\d{1,20}$"),  # \d is any Unicode digit, and $ allows a trailing newline
    st.text(max_size=24),
)
printable = st.characters(exclude_categories=("Cs",))  # a lone surrogate cannot even be sent as UTF-8
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=3)), max_leaves=6)
client_types = ("ack", "resume", "auth", "pong")
server_types = ("hello", "hit", "hit_update", "supervisor_alert", "escalation", "replay_done", "ping", "error")

valid_message = st.one_of(
    st.builds(lambda i: {"type": "ack", "event_id": i}, event_ids),
    st.builds(lambda i: {"type": "resume", "after": i}, event_ids),
    st.just({"type": "pong"}),
)
# Members the server does not know are ignored: a message with them is the message without them.
with_extras = st.builds(lambda m, extra: {**extra, **m}, valid_message,
                        st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("type", "event_id", "after")),
                                        json_values, max_size=2))
wrong_types = st.one_of(
    st.builds(lambda v: {"type": "ack", "event_id": v}, json_values.filter(lambda v: not isinstance(v, str))),
    st.builds(lambda v: {"type": "resume", "after": v}, json_values.filter(lambda v: not isinstance(v, str))),
    st.builds(lambda v: {"type": "auth", "token": v}, json_values.filter(lambda v: not isinstance(v, str))),
    st.builds(lambda v: {"type": v}, json_values.filter(lambda v: v not in client_types)),
    st.builds(lambda t: {"type": t}, st.sampled_from(["ack", "resume", "auth"])),  # a required member missing
    st.builds(lambda t, extra: {"type": t, **extra}, st.sampled_from(server_types), st.dictionaries(
        st.text(max_size=8), json_values, max_size=2)),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), json_values, max_size=3),
    st.builds(lambda v: v, json_values.filter(lambda v: not isinstance(v, dict))),
)
frames = st.one_of(
    st.builds(lambda m: Frame("json", m), with_extras),
    st.builds(lambda m: Frame("json", m), wrong_types),
    st.builds(lambda t: Frame("text", t), st.text(printable, max_size=60).filter(lambda t: not t.lstrip().startswith("{"))),
    st.builds(lambda m, cut: Frame("truncated", (m, cut)), valid_message, st.floats(0, 0.999)),
    st.builds(lambda b: Frame("binary", b), st.binary(max_size=64)),
    st.builds(lambda d: Frame("nested", d), st.sampled_from([1, 20, 200, 2_000, 20_000])),
    st.builds(lambda t: Frame("auth", t), st.sampled_from(["self", "other", "expired", "refresh", "camera",
                                                            "ungranted", "garbage"])),
    st.builds(lambda t: Frame("auth", f"garbage:{t}"), st.text(min_size=1, max_size=40)),
)
huge_frames = st.builds(lambda kind, size: Frame("huge", (kind, size)),
                        st.sampled_from(["garbage", "ack-id", "type", "token", "pong-padding", "nested", "binary"]),
                        st.sampled_from([MB, 3 * MB // 2, 2 * MB, 4 * MB]))
cheap_frames = st.one_of(
    st.builds(lambda i: Frame("json", {"type": "ack", "event_id": i}), event_ids),
    st.just(Frame("json", {"type": "pong"})),
    st.builds(lambda t: Frame("text", t), st.text(printable, max_size=30).filter(lambda t: not t.lstrip().startswith("{"))),
    st.builds(lambda b: Frame("binary", b), st.binary(max_size=16)),
    st.sampled_from([Frame("auth", "self"), Frame("auth", "garbage"), Frame("auth", "other")]),
)
ending = st.sampled_from([None, None, None, Frame("bad-utf8", b"\xff\xfe{}"), Frame("bad-utf8", b'{"type":"\xc3"}')])

sessions = st.builds(lambda who, auth, fs, end, comp: Case(who, auth, tuple(fs) + ((end,) if end else ()),
                                                           compression=comp),
                     st.sampled_from(ATTACKERS), st.sampled_from(["header", "first-frame"]),
                     st.lists(frames, min_size=1, max_size=6), ending, st.booleans())
floods = st.builds(lambda who, fs, n: Case(who, "header", tuple(fs), flood=n),
                   st.sampled_from(ATTACKERS), st.lists(cheap_frames, min_size=1, max_size=3), st.integers(20, 150))
huge = st.builds(lambda who, auth, big, fs, comp: Case(who, auth, (big, *fs), compression=comp),
                 st.sampled_from(ATTACKERS), st.sampled_from(["header", "first-frame"]), huge_frames,
                 st.lists(frames, max_size=2), st.booleans())
bad_auth = st.builds(lambda who, how: Case(who, f"bad:{how}"), st.sampled_from(ATTACKERS), st.sampled_from([
    "header-garbage", "header-basic", "header-expired", "header-refresh", "header-camera", "header-ungranted",
    "first-garbage", "first-binary", "first-ack", "first-resume", "first-pong", "first-auth-garbage",
    "first-auth-expired", "first-auth-camera", "first-auth-ungranted", "first-huge", "first-nested", "first-bad-utf8",
    "silent"]))
cases = st.one_of(sessions, sessions, sessions, floods, bad_auth, bad_auth, huge)


def generate_cases(count: int) -> list[Case]:
    """`count` cases from hypothesis: derandomized (the same every run) unless ALPR_FUZZ_SEED is set."""
    drawn: list[Case] = []

    @settings(max_examples=count, derandomize=FUZZ_SEED is None, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(cases)
    def collect(case: Case) -> None:
        drawn.append(case)

    if FUZZ_SEED is not None:
        collect = seed(int(FUZZ_SEED))(collect)
    collect()
    return drawn


# --- running a case against the server --------------------------------------------------------------------------

@dataclass
class Context:
    world: World
    tokens: dict[str, str]  # who -> a valid access token; also "camera", "ungranted", "expired:<who>", "refresh:<who>"
    newest: str = "0-0"  # the newest event id the observer received


@dataclass
class Outcome:
    sent: int = 0
    bytes: int = 0
    received: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


BAD_AUTH_CLOSE = {"header-garbage": 4401, "header-basic": 4401, "header-expired": 4401, "header-refresh": 4401,
                  "header-camera": 4403, "header-ungranted": 4403, "first-garbage": 4401, "first-binary": 4401,
                  "first-ack": 4401, "first-resume": 4401, "first-pong": 4401, "first-auth-garbage": 4401,
                  "first-auth-expired": 4401, "first-auth-camera": 4403, "first-auth-ungranted": 4403,
                  "first-huge": 4401, "first-nested": 4401, "first-bad-utf8": 1007, "silent": 4401}


def _nested(depth: int) -> str:
    return '{"type":"pong","x":' + "[" * depth + "]" * depth + "}"


def _huge(kind: str, size: int) -> tuple[str | bytes, str | None]:
    """A frame of about `size` bytes, and the error it must get (None: accepted, no answer)."""
    blob = base64.b64encode(os.urandom(size * 3 // 4)).decode()  # incompressible, so deflate cannot hide it
    match kind:
        case "garbage":
            return blob, "bad_message"
        case "ack-id":
            return json.dumps({"type": "ack", "event_id": "1" * size}), "bad_message"
        case "type":
            return json.dumps({"type": blob}), "bad_message"
        case "token":
            return json.dumps({"type": "auth", "token": blob}), "unauthorized"
        case "pong-padding":
            return json.dumps({"type": "pong", "padding": blob}), None
        case "nested":
            return _nested(size // 2), "bad_message"
        case "binary":
            return os.urandom(size), "bad_message"
    raise ValueError(kind)


def build(frame: Frame, ctx: Context, who: str) -> tuple[str | bytes, bool, str | None]:
    """(data, send as text, what the server must answer: an error code, "replay_done", or None)."""
    match frame.op:
        case "json":
            msg = frame.arg
            data = json.dumps(msg)
            if not isinstance(msg, dict) or msg.get("type") not in client_types:
                return data, True, "bad_message"
            if msg["type"] == "pong":
                return data, True, None
            if msg["type"] == "auth":
                return data, True, "bad_message" if not isinstance(msg.get("token"), str) else "unauthorized"
            member = "event_id" if msg["type"] == "ack" else "after"
            value = msg.get(member)
            if value == "recent":
                value = ctx.newest
                data = json.dumps({**msg, member: value})
            if not isinstance(value, str) or not spec_valid_id(value):
                return data, True, "bad_message"
            if msg["type"] == "resume":
                return data, True, "replay_done"
            # An ack is of an event sent on this connection: the observer's newest hit may have been (to the RTCC
            # and dispatch); any other id was not.
            return data, True, "maybe:unknown_event" if value == ctx.newest and who != "officer" else "unknown_event"
        case "text":
            return frame.arg, True, "bad_message"
        case "truncated":
            msg, cut = frame.arg
            if msg.get("after") == "recent" or msg.get("event_id") == "recent":
                msg = {k: ctx.newest if v == "recent" else v for k, v in msg.items()}
            full = json.dumps(msg)
            return full[:int(len(full) * cut)], True, "bad_message"
        case "binary":
            return frame.arg, False, "bad_message"
        case "nested":
            return _nested(frame.arg), True, None if frame.arg <= 200 else "bad_message"
        case "auth":
            token_of = {"self": ctx.tokens[who], "other": ctx.tokens["rtcc" if who != "rtcc" else "officer"],
                        "expired": ctx.tokens[f"expired:{who}"], "refresh": ctx.tokens[f"refresh:{who}"],
                        "camera": ctx.tokens["camera"], "ungranted": ctx.tokens["ungranted"],
                        "garbage": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}
            token = token_of.get(frame.arg) or frame.arg.removeprefix("garbage:")
            expect = {"self": None, "other": "forbidden"}.get(frame.arg, "unauthorized")
            return json.dumps({"type": "auth", "token": token}), True, expect
        case "huge":
            data, expect = _huge(*frame.arg)
            return data, isinstance(data, str), expect
        case "bad-utf8":
            return frame.arg, True, "close"
    raise ValueError(frame.op)


def _bad_auth_opening(how: str, ctx: Context, who: str) -> tuple[dict[str, str], list[tuple[str | bytes, bool]]]:
    """The handshake headers and first frames of a sign-in that must fail."""
    bearer = {"header-garbage": "Bearer not-a-token", "header-basic": f"Basic {ctx.tokens[who]}",
              "header-expired": f"Bearer {ctx.tokens[f'expired:{who}']}",
              "header-refresh": f"Bearer {ctx.tokens[f'refresh:{who}']}",
              "header-camera": f"Bearer {ctx.tokens['camera']}", "header-ungranted": f"Bearer {ctx.tokens['ungranted']}"}
    if how in bearer:
        return {"Authorization": bearer[how]}, []
    first: dict[str, tuple[str | bytes, bool]] = {
        "first-garbage": ("hello?", True), "first-binary": (b"\x00\x01auth", False),
        "first-ack": ('{"type":"ack","event_id":"1-0"}', True), "first-resume": ('{"type":"resume","after":"0-0"}', True),
        "first-pong": ('{"type":"pong"}', True), "first-auth-garbage": ('{"type":"auth","token":"x.y.z"}', True),
        "first-auth-expired": (json.dumps({"type": "auth", "token": ctx.tokens[f"expired:{who}"]}), True),
        "first-auth-camera": (json.dumps({"type": "auth", "token": ctx.tokens["camera"]}), True),
        "first-auth-ungranted": (json.dumps({"type": "auth", "token": ctx.tokens["ungranted"]}), True),
        "first-huge": (json.dumps({"type": "auth", "token": "t" * (2 * MB)}), True),
        "first-nested": (_nested(50_000), True), "first-bad-utf8": (b'{"type":"auth","token":"\xff"}', True)}
    return {}, [first[how]] if how in first else []


class Reader:
    """What one fuzzing socket received, each message checked against the spec (each distinct text once)."""

    checked: set[int] = set()

    def __init__(self, ws: websockets.ClientConnection, outcome: Outcome) -> None:
        self.ws, self.outcome = ws, outcome
        self.acks = 0
        self.errors: Counter[str] = Counter()
        self.replays = 0
        self.first: str | None = None

    async def one(self, timeout: float) -> None:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            self.outcome.problems.append(f"a binary frame from the server: {raw[:60]!r}")
            return
        key = hash(raw)
        msg = json.loads(raw)
        if key not in Reader.checked:
            Reader.checked.add(key)
            asyncapi_check.record_server_message(msg)
            if problems := asyncapi_check.errors_of(msg):
                self.outcome.problems.append(f"off-spec {raw[:200]}: {problems[:3]}")
        kind = msg.get("type", "?") if isinstance(msg, dict) else "?"
        self.first = self.first or kind
        self.outcome.received[kind] += 1
        if kind == "error":
            self.errors[msg["error"]] += 1
        elif kind == "replay_done":
            self.replays += 1
        elif kind in ALERTS:  # acked like a real client would: no error may answer it
            await self.ws.send(json.dumps({"type": "ack", "event_id": msg["event_id"]}))
            self.acks += 1


async def run_case(case: Case, ctx: Context, url: str) -> Outcome:
    out = Outcome()
    who = case.who
    if case.auth.startswith("bad:"):
        headers, opening = _bad_auth_opening(case.auth[4:], ctx, who)
    elif case.auth == "header":
        headers, opening = {"Authorization": f"Bearer {ctx.tokens[who]}"}, []
    else:
        headers, opening = {}, [(json.dumps({"type": "auth", "token": ctx.tokens[who]}), True)]
    built = [build(f, ctx, who) for f in case.frames] * case.flood
    expected: Counter[str] = Counter(e for _, _, e in built if e not in (None, "replay_done", "close")
                                     and not e.startswith("maybe:"))
    maybe: Counter[str] = Counter(e.removeprefix("maybe:") for _, _, e in built if e and e.startswith("maybe:"))
    closes = any(e == "close" for _, _, e in built)
    replays = 1 + sum(1 for _, _, e in built if e == "replay_done") + (0 if closes else 1)  # reconnect, resumes, sentinel
    size = sum(len(d) for d, _, _ in built)
    deadline = time.monotonic() + 15 + size / MB
    try:
        async with websockets.connect(url, additional_headers=headers, compression="deflate" if case.compression
                                      else None, max_size=None, ping_interval=None, open_timeout=10,
                                      close_timeout=5) as ws:
            reader = Reader(ws, out)
            for data, text in opening:
                await ws.send(data, text=text)
            if case.auth.startswith("bad:"):
                code = await _closed_with(reader, deadline)
                want = BAD_AUTH_CLOSE[case.auth[4:]]
                if code != want or reader.first is not None:
                    out.problems.append(f"bad sign-in closed with {code} (want {want}), after {reader.first} messages")
                return out
            for data, text, _ in built:
                await ws.send(data, text=text)
                out.sent += 1
                out.bytes += len(data)
            if closes:
                code = await _closed_with(reader, deadline)
                if code != 1007:
                    out.problems.append(f"invalid UTF-8 closed with {code}, not 1007")
                return out
            await ws.send(json.dumps({"type": "resume", "after": SENTINEL}))
            while reader.replays < replays:
                await reader.one(max(0.01, deadline - time.monotonic()))
            if reader.first != "hello":
                out.problems.append(f"the first message was {reader.first}, not hello")
            if any(not expected[c] <= reader.errors[c] <= expected[c] + maybe[c] for c in {*expected, *maybe,
                                                                                          *reader.errors}):
                out.problems.append(f"errors {dict(reader.errors)}, want {dict(expected)} (and up to {dict(maybe)})")
    except TimeoutError:
        out.problems.append(f"no answer in time; got {dict(out.received)}")
    except ConnectionClosed as exc:
        out.problems.append(f"closed with {exc.rcvd.code if exc.rcvd else None} "
                            f"({exc.rcvd.reason if exc.rcvd else 'no close frame'}); got {dict(out.received)}")
    return out


async def _closed_with(reader: Reader, deadline: float) -> int | None:
    try:
        while True:
            await reader.one(max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except TimeoutError:
        return -1  # still open


# --- the well-behaved officer -------------------------------------------------------------------------------------

class Observer:
    """An officer of another unit whose camera raises a hit every few tens of milliseconds, each acked on arrival."""

    def __init__(self, ctx: Context, camera: Any, sock: AlertSocket, plate: str) -> None:  # noqa: ANN401
        self.ctx, self.camera, self.sock, self.plate = ctx, camera, sock, plate
        self.latencies: list[float] = []
        self.stop = asyncio.Event()

    async def one(self) -> float:
        started = time.monotonic()
        (hit,) = (await post_read(self.camera, read(self.plate)))["hits"]
        while True:
            msg = await self.sock.next(timeout=10)
            if msg["type"] == "hit" and msg["hit"]["id"] == hit["id"]:
                break
        latency = time.monotonic() - started
        self.ctx.newest = msg["event_id"]
        await self.sock.ws.send(json.dumps({"type": "ack", "event_id": msg["event_id"]}))
        return latency

    async def run(self) -> None:
        while not self.stop.is_set():
            self.latencies.append(await self.one())
            await asyncio.sleep(0.03)


class ErrorLog(logging.Handler):
    """Errors the server logs, and alert sockets that ended on an unexpected exception."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text == "Invalid UTF-8 sequence received from client.":
            return  # uvicorn logs the 1007 close it makes (with a traceback) as an error: the server is fine
        if text.endswith("ended: ClientDisconnected()"):
            return  # an alert was being sent as the client closed: the ordinary end of a connection
        if record.levelno >= logging.ERROR or text.startswith("alert socket"):
            self.records.append(f"{record.name}: {text[:300]}"
                                + (f" [{record.exc_info[1]!r}]" if record.exc_info else ""))


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_fuzzed_websocket_clients_never_hurt_the_server_or_another_officer(
        database_url: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hundreds of generated hostile connections get errors or clean closes; the server and an officer stay fine."""
    generated = generate_cases(CASES)
    assert len(generated) >= MIN_CASES, f"only {len(generated)} cases were generated"
    errors = ErrorLog()
    routes_log = logging.getLogger("server.alerts.routes")
    level = routes_log.level
    logging.getLogger().addHandler(errors)
    async with running_server(tmp_path, database_url, redis_url, fold_window_seconds=0,
                              ws_auth_timeout_seconds=AUTH_TIMEOUT) as srv, World.create(srv) as world:
        routes_log.setLevel(logging.INFO)
        try:
            await world.add_entry("OBS1234")
            _, camera_b, officer_b = await world.add_unit("2B07", "observer1")
            ungranted = await make_user(world.admin, world.client(), world.client, "nogrant1", ["officer"],
                                        unit_id=world.unit_id, granted=False)
            tokens = srv.resources.tokens
            accounts = {"officer": world.officer, "rtcc": world.rtcc, "dispatcher": world.dispatcher}
            ctx = Context(world, {"camera": world.camera.headers["Authorization"].split()[1],
                                  "ungranted": ungranted.token})
            for who, acct in accounts.items():
                ctx.tokens[who] = acct.token
                ctx.tokens[f"expired:{who}"] = tokens.issue("access", str(acct.id), -60).token
                ctx.tokens[f"refresh:{who}"] = tokens.issue("refresh", str(acct.id), 600).token
                await srv.resources.redis.set(f"alpr:ackmark:{acct.id}", FAR_MARK)
            health = world.client()

            async with AlertSocket.connect(srv, officer_b.token) as sock:
                observer = Observer(ctx, camera_b, sock, "OBS1234")
                baseline = [await observer.one() for _ in range(15)]
                watching = asyncio.create_task(observer.run())
                outcomes: list[tuple[Case, Outcome]] = []
                started = time.monotonic()
                gate = asyncio.Semaphore(CONCURRENCY)

                async def fuzz(case: Case) -> None:
                    async with gate:
                        outcomes.append((case, await run_case(case, ctx, srv.ws_url)))
                        if len(outcomes) % 25 == 0:
                            assert (await health.get("/healthz")).status_code == 200, "the server stopped answering"

                try:
                    await asyncio.gather(*(fuzz(c) for c in generated))
                finally:
                    observer.stop.set()
                    await watching
                fuzz_seconds = time.monotonic() - started
                during = observer.latencies
            assert (await health.get("/healthz")).status_code == 200
            deadline = time.monotonic() + 5
            while (left_open := srv.resources.metrics.sockets._value.get()) != 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            logging.getLogger().removeHandler(errors)
            routes_log.setLevel(level)

    kinds = Counter(c.kind for c in generated)
    received = sum((o.received for _, o in outcomes), Counter())
    sent, volume = sum(o.sent for _, o in outcomes), sum(o.bytes for _, o in outcomes)
    base50, base95 = statistics.median(baseline), _quantile(baseline, 0.95)
    dur50, dur95 = statistics.median(during), _quantile(during, 0.95)
    with capsys.disabled():
        print(f"\nws fuzz: {len(generated)} generated cases ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
              f"{sent} frames, {volume / MB:.1f} MiB sent in {fuzz_seconds:.1f} s; received "
              f"{', '.join(f'{k} {n}' for k, n in sorted(received.items()))}\n"
              f"ws fuzz: observer got all {len(during)} hits during fuzzing: latency p50 {dur50 * 1000:.0f} ms, "
              f"p95 {dur95 * 1000:.0f} ms, max {max(during) * 1000:.0f} ms (before: p50 {base50 * 1000:.0f} ms, "
              f"p95 {base95 * 1000:.0f} ms)")
    failed = [f"case {generated.index(c)} {c.kind} {c.who} {c.auth} x{c.flood} {list(c.frames)}:\n    "
              + "\n    ".join(o.problems) for c, o in outcomes if o.problems]
    assert not failed, f"{len(failed)} of {len(generated)} cases went wrong:\n" + "\n".join(failed[:15])
    assert not errors.records, "the server logged errors:\n" + "\n".join(errors.records[:15])
    assert left_open == 0, f"{left_open} alert sockets are still registered after every client closed"
    assert len(during) >= 20, "the observer saw too few hits to judge its latency"
    # Same machine, same server, before and during: the fuzzing may cost the observer some time, not seconds.
    assert dur50 <= max(0.25, 4 * base50), f"median alert latency {dur50:.3f} s under fuzzing, {base50:.3f} s before"
    assert max(during) <= max(2.0, 20 * base95), f"an alert took {max(during):.3f} s under fuzzing"
