"""Durable alert delivery after a reconnect: disconnect an MDT, ingest N hits, reconnect, time the replay.

A real `alpr serve` is started on a fresh backend whose hot list is seeded straight into the database (one entry per
plate the run reads; every read of the run is of a listed plate never read before, so each raises a new `hit`, and by
default every entry has the same category and priority, so "in order" means strictly increasing event ids).

Three variants, each repeated --rounds times:

- `auto`: officer A has an ack mark (it acked what it saw before the disconnect). It reconnects and sends nothing:
  the server replays on its own everything after the mark.
- `auto+resume`: the same officer reconnects and at once (on `hello`) also sends {"type":"resume","after":<last id
  seen before the disconnect>}, as an MDT that always resumes would. The explicit resume covers the same events as
  the automatic replay, so it must add nothing: each event arrives once.
- `resume`: a fresh officer of the unit who never connected before (the server holds no record of it, so it replays
  nothing on its own) sends the explicit resume after a warm-up hit its partner officer1 saw live and acknowledged.
  This times the explicit resume alone.

Each round: the officer's socket is closed, N reads that each raise a hit are posted by the camera (batches of
--batch-size), the bench waits --settle seconds, and the officer reconnects. Timed from just before the websocket
connect: `hello`, the first replayed hit, the N-th, and the `replay_done` message. Checked on every reconnect: exactly
N new `hit` messages (re-sends, which carry "resent", are counted apart), the N detections posted, all
"replayed": true, event ids strictly increasing, none twice, all after the last id seen; `replay_done` counts that add
up to N and are not truncated; no error message; afterwards a resume after the same id on the same socket adds
nothing (replay_done count 0, no hit). Then the officer acks every replayed hit (the unit's re-sends stop; A's ack
mark moves on) and a last resume is used as a barrier so the acks are processed before the socket closes.

    python bench/replay.py --backend embedded
    python bench/replay.py --backend postgres --hits 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import (
    ADMIN_USER,
    OFFICER_PASSWORD,
    CpuMeter,
    Server,
    _call,
    add_common_arguments,
    backend,
    backing_service_pids,
    detection,
    environment,
    hotlist_plates,
    seed_hotlist,
    server_tree_hash,
    setup_world,
    start_py_spy,
    table,
    wait_for_quiet,
    write_result,
)

NS = 1_000_000_000
VARIANTS = ("auto", "auto+resume", "resume")  # run in this order: A's rounds first, then the fresh officers'
REPLAY_LIMIT = 2000  # the server's events per replay (server/alerts/routes.py); more would need follow-up resumes
TIMINGS = ("open", "hello", "first_hit", "all_hits", "replay_done")


def id_order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


# -------------------------------------------------------------------------------------------------------- the socket
class AlertSocket:
    """One /ws/alerts connection; every message is stamped on arrival (perf_counter_ns) and kept."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.msgs: list[tuple[int, dict[str, Any]]] = []
        self.new_hits = 0      # "hit" messages that are not re-sends
        self.dones = 0         # "replay_done" messages
        self.closed = False
        self.close_info: tuple[int | None, str | None] = (None, None)
        self.t0 = 0
        self.t_open = 0
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout: float) -> None:
        self.t0 = time.perf_counter_ns()
        self._ws = await asyncio.wait_for(connect(
            self.url, additional_headers={"Authorization": f"Bearer {self.token}"}, ping_interval=None,
            max_size=None, proxy=None, open_timeout=timeout), timeout)
        self.t_open = time.perf_counter_ns()
        self._task = asyncio.create_task(self._read())

    @property
    def extensions(self) -> str:
        assert self._ws is not None and self._ws.response is not None
        return self._ws.response.headers.get("Sec-WebSocket-Extensions", "")

    async def _read(self) -> None:
        assert self._ws is not None
        perf = time.perf_counter_ns
        try:
            async for raw in self._ws:
                now = perf()
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "hit" and "resent" not in msg:
                    self.new_hits += 1
                elif kind == "replay_done":
                    self.dones += 1
                self.msgs.append((now, msg))
                self._wake.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_info = (self._ws.close_code, self._ws.close_reason)
            self._wake.set()

    async def wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if self.closed or left <= 0:
                return pred()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
        return True

    async def send(self, obj: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(obj, separators=(",", ":")))

    async def resume(self, after: str, timeout: float) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Send a resume and wait for its replay_done; that message and everything that came with it."""
        start, want = len(self.msgs), self.dones + 1
        await self.send({"type": "resume", "after": after})
        await self.wait(lambda: self.dones >= want, timeout)
        got = [m for _, m in self.msgs[start:]]
        done = next((m for m in reversed(got) if m.get("type") == "replay_done"), None)
        return done, got

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 10)
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)


def is_new_hit(m: dict[str, Any]) -> bool:
    return m.get("type") == "hit" and "resent" not in m


# ------------------------------------------------------------------------------------------------------- API helpers
@dataclass
class Officer:
    username: str
    password: str
    token: str = ""
    signed_in_at: float = 0.0
    last_seen: str = ""  # the newest event id this officer's MDT saw before its socket went

    async def fresh_token(self, http: aiohttp.ClientSession) -> str:
        """Sign in again when the token is older than 10 minutes (access tokens live 15 by default)."""
        if not self.token or time.monotonic() - self.signed_in_at > 600:
            ans = await _call(http, "POST", "/api/v1/auth/token", None,
                              {"username": self.username, "password": self.password}, 200)
            self.token, self.signed_in_at = ans["access_token"], time.monotonic()
        return self.token


async def new_officer(http: aiohttp.ClientSession, admin_token: str, unit_id: int, username: str) -> Officer:
    """An officer of the unit, trained and granted access (the flow of tests/support.py)."""
    user = await _call(http, "POST", "/api/v1/users", admin_token, {
        "username": username, "password": OFFICER_PASSWORD, "display_name": username.title(),
        "badge_number": str(random.randrange(1000, 9999)), "roles": ["officer"], "unit_id": unit_id}, (200, 201))
    done = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await _call(http, "POST", f"/api/v1/users/{user['id']}/training", admin_token, {"completed_at": done}, 200)
    await _call(http, "POST", f"/api/v1/users/{user['id']}/access-grant", admin_token,
                {"granted": True, "note": "Patrol officer, ALPR access approved by the Chief"}, 200)
    return Officer(username, OFFICER_PASSWORD)


class Ingest:
    """Posts reads of fresh listed plates as the camera; each must raise exactly one hit."""

    def __init__(self, http: aiohttp.ClientSession, camera_token: str, plates: list[str], batch_size: int,
                 seed: int) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {camera_token}", "Content-Type": "application/json"}
        self.plates = iter(plates)
        self.batch_size = batch_size
        self.rng = random.Random(seed)

    async def post(self, n: int) -> tuple[list[str], float, list[str]]:
        """Detection ids in the order posted, seconds taken, and problems (a read without exactly one hit...)."""
        dets = [detection(next(self.plates), self.rng) for _ in range(n)]
        problems: list[str] = []
        t0 = time.perf_counter()
        for start in range(0, n, self.batch_size):
            chunk = dets[start:start + self.batch_size]
            body = chunk[0] if len(chunk) == 1 and self.batch_size == 1 else {"detections": chunk}
            async with self.http.post("/api/v1/detections", data=json.dumps(body), headers=self.headers) as r:
                text = await r.text()
                if r.status != 201:
                    problems.append(f"POST /api/v1/detections answered {r.status}: {text[:300]}")
                    continue
            ans = json.loads(text)
            for res in ans.get("results", [ans]):
                if len(res.get("hits", [])) != 1 or res.get("duplicate"):
                    problems.append(f"read {res.get('id')} raised {len(res.get('hits', []))} hits "
                                    f"(duplicate={res.get('duplicate')})")
        return [d["id"] for d in dets], time.perf_counter() - t0, problems


# ---------------------------------------------------------------------------------------------------- one reconnect
@dataclass
class Round:
    variant: str
    index: int
    officer: str
    hits: int
    ingest_s: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = self.checks.get(name, True) and ok
        if not ok:
            self.details.append(f"{name}: {detail}" if detail else name)


async def warm_up(args: argparse.Namespace, server: Server, http: aiohttp.ClientSession, ingest: Ingest,
                  officer: Officer, ack: bool) -> list[str]:
    """Connect, see one hit live, remember its id as the last seen; with `ack`, ack it (the server then has an ack
    mark for this officer) and wait until the ack is processed. Problems, if any."""
    problems: list[str] = []
    sock = AlertSocket(server.ws_url, await officer.fresh_token(http))
    await sock.open(args.timeout)
    try:
        if not await sock.wait(lambda: len(sock.msgs) >= 1, args.timeout) or sock.msgs[0][1].get("type") != "hello":
            return [f"warm-up: no hello ({sock.msgs[:1]}, closed {sock.close_info})"]
        _, _, bad = await ingest.post(1)
        problems += [f"warm-up: {p}" for p in bad]
        # A reconnecting officer first gets a replay of what it missed; the warm-up hit is the live one.
        def live_hits() -> list[dict[str, Any]]:
            return [m for _, m in sock.msgs if is_new_hit(m) and not m.get("replayed")]

        if not await sock.wait(lambda: len(live_hits()) >= 1, args.timeout):
            return [*problems, f"warm-up: the warm-up hit never arrived live (closed {sock.close_info})"]
        hit = live_hits()[0]
        officer.last_seen = hit["event_id"]
        if ack:
            for _, m in list(sock.msgs):  # the replayed ones too: what this officer was shown is acknowledged
                if is_new_hit(m):
                    await sock.send({"type": "ack", "event_id": m["event_id"]})
            done, _ = await sock.resume(officer.last_seen, args.timeout)  # the reader is sequential: a barrier
            if done is None:
                problems.append("warm-up: no replay_done after the ack barrier")
    finally:
        await sock.close()
    return problems


async def reconnect(args: argparse.Namespace, server: Server, http: aiohttp.ClientSession, ingest: Ingest,
                    officer: Officer, variant: str, index: int) -> Round:
    n = args.hits
    rnd = Round(variant, index, officer.username, n)
    after = officer.last_seen
    token = await officer.fresh_token(http)  # outside the timed window
    det_ids, rnd.ingest_s, bad = await ingest.post(n)
    for p in bad:
        rnd.check("ingest_raised_n_hits", False, p)
    rnd.check("ingest_raised_n_hits", True)
    await asyncio.sleep(args.settle)  # the server's stream reader has long taken in the new events by then

    sock = AlertSocket(server.ws_url, token)
    try:
        await sock.open(args.timeout)
    except Exception as exc:  # noqa: BLE001 - a failed reconnect is a failed round
        rnd.check("connected", False, repr(exc))
        return rnd
    rnd.info["ws_extensions"] = sock.extensions
    try:
        got_hello = await sock.wait(lambda: len(sock.msgs) >= 1, args.timeout)
        hello = sock.msgs[0][1] if got_hello else {}
        rnd.check("hello_first", hello.get("type") == "hello", f"first message {hello}")
        rnd.info["hello_resume_from"] = hello.get("resume_from")
        if variant != "resume":  # hello tells where the server resumes on its own: the ack mark
            rnd.check("hello_resume_from_is_ack_mark", hello.get("resume_from") == after,
                      f"hello resume_from {hello.get('resume_from')}, last ack {after}")
        expected_dones = 1
        if variant in ("auto+resume", "resume"):
            await sock.send({"type": "resume", "after": after})
            expected_dones = 2 if variant == "auto+resume" else 1
        complete = await sock.wait(lambda: sock.new_hits >= n and sock.dones >= expected_dones, args.timeout)
        # Anything more the reconnect brings (a duplicate, a late replay_done) has a moment to show up.
        await asyncio.sleep(args.linger)
        phase1 = list(sock.msgs)
        rnd.check("complete_within_timeout", complete,
                  f"{sock.new_hits}/{n} hits, {sock.dones}/{expected_dones} replay_done after {args.timeout}s "
                  f"(closed {sock.close_info})")

        # Afterwards, a resume after the same id on this socket must add nothing: all of it was sent here already.
        check_done, check_msgs = await sock.resume(after, args.timeout)
        extra = [m for m in check_msgs if is_new_hit(m)]
        rnd.check("second_resume_adds_nothing", check_done is not None and check_done.get("count") == 0 and not extra,
                  f"replay_done {check_done}, {len(extra)} hit message(s)")
        rnd.info["second_resume_replay_done"] = check_done

        # The officer acks what arrived (the unit's re-sends stop, the ack mark moves on); a resume after the newest
        # id is the barrier that tells the acks were processed before the socket goes.
        ids = [m["event_id"] for _, m in phase1 if is_new_hit(m)]
        for event_id in ids:
            await sock.send({"type": "ack", "event_id": event_id})
        newest = max(ids, key=id_order) if ids else after
        barrier, barrier_msgs = await sock.resume(newest, args.timeout)
        rnd.check("acks_processed", barrier is not None and barrier.get("count") == 0,
                  f"barrier replay_done {barrier}")
        late = [m for m in barrier_msgs if is_new_hit(m)]
        rnd.check("no_hits_after_acks", not late, f"{len(late)} hit message(s) after the acks")
        if ids:
            officer.last_seen = newest
    finally:
        await sock.close()

    verify(rnd, sock, phase1, det_ids, after, expected_dones, args.mixed_priority)
    rnd.check("socket_not_closed_by_server", sock.close_info[0] in (None, 1000),
              f"close {sock.close_info}")
    return rnd


def verify(rnd: Round, sock: AlertSocket, phase1: list[tuple[int, dict[str, Any]]], det_ids: list[str], after: str,
           expected_dones: int, mixed_priority: bool) -> None:
    n = len(det_ids)
    hits = [(t, m) for t, m in phase1 if is_new_hit(m)]
    resent = [m for _, m in sock.msgs if m.get("type") == "hit" and "resent" in m]
    dones = [(t, m) for t, m in phase1 if m.get("type") == "replay_done"]
    errors = [m for _, m in sock.msgs if m.get("type") == "error"]
    others: dict[str, int] = {}
    for _, m in sock.msgs:
        k = m.get("type", "?")
        if k not in ("hello", "hit", "replay_done", "ping"):
            others[k] = others.get(k, 0) + 1
    rnd.info.update({"hit_messages": len(hits), "resent_messages": len(resent), "replay_done": [m for _, m in dones],
                     "other_messages": others, "close": sock.close_info})

    ev_ids = [m["event_id"] for _, m in hits]
    got_dets = [m["hit"]["detection"]["id"] for _, m in hits]
    rnd.check("exactly_n_hits", len(hits) == n, f"{len(hits)} hit messages for {n} reads")
    dup_ids = len(ev_ids) - len(set(ev_ids))
    rnd.check("no_duplicate_event_ids", dup_ids == 0, f"{dup_ids} event id(s) arrived more than once")
    dup_dets = len(got_dets) - len(set(got_dets))
    rnd.check("no_duplicate_detections", dup_dets == 0, f"{dup_dets} detection(s) alerted more than once")
    missing = set(det_ids) - set(got_dets)
    unexpected = set(got_dets) - set(det_ids)
    rnd.check("all_reads_alerted", not missing, f"{len(missing)} of the {n} reads never alerted")
    rnd.check("no_unexpected_hits", not unexpected, f"{len(unexpected)} hit(s) for reads not of this round")
    live = sum(1 for _, m in hits if m.get("replayed") is not True)
    rnd.check("all_replayed", live == 0, f"{live} hit(s) without \"replayed\": true")
    rnd.check("all_after_last_seen", all(id_order(e) > id_order(after) for e in ev_ids),
              f"some event ids are not after {after}")
    if mixed_priority:  # the server sends the most urgent first, then by id
        keys = [(m["hit"]["priority"], *id_order(m["event_id"])) for _, m in hits]
        ordered = all(a < b for a, b in zip(keys, keys[1:], strict=False))
        rnd.check("in_order", ordered, "not ordered by (priority, event id)")
    else:
        keys2 = [id_order(e) for e in ev_ids]
        bad = sum(1 for a, b in zip(keys2, keys2[1:], strict=False) if not a < b)
        rnd.check("in_order", bad == 0, f"{bad} place(s) where the event id did not increase")
    pos = {d: i for i, d in enumerate(det_ids)}
    seq = [pos[d] for d in got_dets if d in pos]
    rnd.info["arrival_order_is_post_order"] = seq == sorted(seq)
    rnd.check("replay_done_count", len(dones) == expected_dones, f"{len(dones)} replay_done for {expected_dones}")
    counts = [m.get("count") for _, m in dones]
    rnd.check("replay_done_counts_sum_to_n", sum(c or 0 for c in counts) == n, f"counts {counts} for {n} hits")
    rnd.check("not_truncated", not any(m.get("truncated") for _, m in dones), "a replay_done says truncated")
    if dones and hits:
        rnd.check("replay_done_after_hits", dones[-1][0] >= hits[-1][0], "replay_done came before the last hit")
    rnd.check("no_error_messages", not errors, f"errors {errors[:3]}")

    t0 = sock.t0
    ms = lambda t: round((t - t0) / 1e6, 3)  # noqa: E731
    rnd.timings_ms["open"] = ms(sock.t_open)
    if phase1 and phase1[0][1].get("type") == "hello":
        rnd.timings_ms["hello"] = ms(phase1[0][0])
    if hits:
        rnd.timings_ms["first_hit"] = ms(hits[0][0])
        if len(hits) >= n:
            rnd.timings_ms["all_hits"] = ms(hits[n - 1][0])
    if len(dones) >= expected_dones:
        rnd.timings_ms["replay_done"] = ms(dones[expected_dones - 1][0])


# --------------------------------------------------------------------------------------------------------- the run
def unambiguous(plates: list[str]) -> list[str]:
    """The plates whose OCR key no other plate of the list shares: a read of one of them matches exactly one entry
    (two OCR-equivalent listed plates, e.g. ABC1234 and A8C1234, would give a read of either two hits)."""
    from collections import Counter

    from server.hotlist.matching import ocr_key

    keys = [ocr_key(p) for p in plates]
    seen = Counter(keys)
    return [p for p, k in zip(plates, keys, strict=True) if seen[k] == 1]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    variants = [v for v in VARIANTS if v in args.variants]
    n, rounds = args.hits, args.rounds
    a_variants = [v for v in variants if v != "resume"]
    # plates read: A's warm-up + its rounds, and per explicit-resume round a warm-up and N
    needed = (1 + len(a_variants) * rounds * n if a_variants else 0) + (rounds * (1 + n) if "resume" in variants
                                                                       else 0)
    # seed_hotlist gives entry i a category other than stolen_vehicle when i % 10 == 0; by default only the others
    # are read, so every hit has the same priority and "in order" means by event id alone.
    size = needed * 10 // 9 + 10
    while True:
        listed = unambiguous(hotlist_plates(size, args.seed))
        readable = listed if args.mixed_priority else [p for i, p in enumerate(listed) if i % 10 != 0]
        if len(readable) >= needed:
            break
        size += size // 10
    plates = random.Random(args.seed).sample(readable, needed)
    print(f"[setup] {args.backend}: variants {', '.join(variants)}; {rounds} round(s) of {n} hits each; hot list "
          f"{len(listed):,} entries ({needed:,} of them read, each once)", flush=True)

    password = "bench-" + secrets.token_urlsafe(12)
    async with backend(args.backend, keep=args.keep) as be:
        seed_s = await seed_hotlist(be.db_url, listed)
        print(f"[setup] {be.describe}; seeded {len(listed):,} hot-list rows in {seed_s:.1f}s", flush=True)
        server = Server(be, password, workers=args.workers)
        tree_at_start = server_tree_hash()  # the code the server process loaded; environment() hashes it at the end
        await server.start()
        print(f"[setup] alpr serve pid {server.pid} ready on {server.base_url} in {server.startup_s:.1f}s", flush=True)
        profiler = None
        try:
            world = await setup_world(server.base_url, password)
            busy_before = None
            if args.quiet_wait > 0:
                busy_before = await asyncio.to_thread(wait_for_quiet, args.quiet_max_busy, args.quiet_wait)
                print(f"[run] machine busy before start: {busy_before:.0f}% of all cores", flush=True)
            if args.py_spy:
                profiler = start_py_spy(server.pid, SimpleNamespace(
                    py_spy=args.py_spy, py_spy_format=args.py_spy_format, py_spy_extra=args.py_spy_extra,
                    duration=3600))
            cpu = CpuMeter(server, [], backing_service_pids(be))
            cpu.start()
            results, setup_problems = await _rounds(args, server, world, password, plates, variants)
            cpu_stats = cpu.stop()
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
                with contextlib.suppress(Exception):
                    profiler.wait(60)
            server.stop()
            if args.keep:
                print(f"[keep] data dir {be.data_dir}, server log {server.log_path}")
        log_tail = server.log_tail(20)

    summary: dict[str, Any] = {}
    for v in variants:
        rs = [r for r in results if r.variant == v]
        s: dict[str, Any] = {"rounds": len(rs), "rounds_ok": sum(r.ok for r in rs)}
        for k in TIMINGS:
            vals = [r.timings_ms[k] for r in rs if k in r.timings_ms]
            if vals:
                s[f"{k}_ms"] = {"median": round(statistics.median(vals), 3), "max": round(max(vals), 3),
                                "min": round(min(vals), 3), "n": len(vals)}
        ing = [r.ingest_s for r in rs]
        if ing:
            s["ingest_s"] = {"median": round(statistics.median(ing), 3), "max": round(max(ing), 3)}
        summary[v] = s
    failed = [f"{r.variant} #{r.index}: {d}" for r in results for d in r.details] + setup_problems
    return {
        "bench": "replay", "backend": args.backend, "backend_detail": be.describe,
        "command": " ".join(sys.argv), "environment": environment(), "server_tree_sha256_at_start": tree_at_start,
        "params": {"hits": n, "rounds": rounds, "variants": variants, "batch_size": args.batch_size,
                   "settle_s": args.settle, "linger_s": args.linger, "timeout_s": args.timeout,
                   "mixed_priority": args.mixed_priority, "workers": args.workers, "seed": args.seed,
                   "hotlist_size": len(listed)},
        "setup": {"seed_hotlist_s": round(seed_s, 2), "server_startup_s": round(server.startup_s, 2)},
        "machine_busy_before_start_pct": busy_before,
        # over all rounds (ingest, settle, reconnects, acks): how busy the machine was, and with what
        "cpu_all_rounds": cpu_stats,
        "summary": summary,
        "ok": not failed,
        "failures": failed,
        "rounds": [{"variant": r.variant, "round": r.index, "officer": r.officer, "ok": r.ok,
                    "ingest_s": round(r.ingest_s, 3), "timings_ms": r.timings_ms, "checks": r.checks,
                    "failures": r.details, "info": r.info} for r in results],
        "server_log_tail": log_tail if failed else "",
    }


async def _rounds(args: argparse.Namespace, server: Server, world: Any, password: str, plates: list[str],
                  variants: list[str]) -> tuple[list[Round], list[str]]:
    results: list[Round] = []
    problems: list[str] = []
    async with aiohttp.ClientSession(server.base_url, timeout=aiohttp.ClientTimeout(total=300)) as http:
        ingest = Ingest(http, world.camera_token, plates, args.batch_size, args.seed)
        admin = (await _call(http, "POST", "/api/v1/auth/token", None,
                             {"username": ADMIN_USER, "password": password}, 200))["access_token"]
        a_variants = [v for v in variants if v != "resume"]
        if a_variants:
            officer = Officer("officer1", OFFICER_PASSWORD)  # made by setup_world
            problems += await warm_up(args, server, http, ingest, officer, ack=True)
            if problems:
                raise RuntimeError(f"warm-up of officer1 failed: {problems}")
            print(f"[run] officer1 acked warm-up hit {officer.last_seen} (its ack mark)", flush=True)
            for v in a_variants:
                for i in range(1, args.rounds + 1):
                    r = await reconnect(args, server, http, ingest, officer, v, i)
                    results.append(r)
                    _progress(r)
        if "resume" in variants:
            for i in range(1, args.rounds + 1):
                # A fresh officer each round, never connected before: the server holds no record of it (no ack,
                # nothing sent and unacknowledged), so only its resume replays. The point it resumes after is a
                # warm-up hit its partner officer1 saw live and acknowledged.
                partner = Officer("officer1", OFFICER_PASSWORD)
                problems += await warm_up(args, server, http, ingest, partner, ack=True)
                if problems:
                    raise RuntimeError(f"warm-up for resumer{i} failed: {problems}")
                officer = await new_officer(http, admin, world.unit_id, f"resumer{i}")
                officer.last_seen = partner.last_seen
                r = await reconnect(args, server, http, ingest, officer, "resume", i)
                results.append(r)
                _progress(r)
    return results, problems


def _progress(r: Round) -> None:
    t = r.timings_ms
    print(f"[run] {r.variant:<11} #{r.index}: ingest {r.ingest_s * 1000:7.1f} ms; from connect: hello "
          f"{t.get('hello', float('nan')):7.2f}, first hit {t.get('first_hit', float('nan')):7.2f}, all "
          f"{r.hits} {t.get('all_hits', float('nan')):8.2f}, replay_done {t.get('replay_done', float('nan')):8.2f} ms"
          f"  {'ok' if r.ok else 'FAILED: ' + '; '.join(r.details)}", flush=True)


def report(r: dict[str, Any]) -> str:
    p = r["params"]
    rows: list[tuple[str, Any]] = [
        ("backend", r["backend_detail"]),
        ("hits per reconnect", f"{p['hits']} (posted in batches of {p['batch_size']}), {p['rounds']} round(s) per "
                               f"variant, settle {p['settle_s']} s"),
    ]
    for v, s in r["summary"].items():
        rows.append((f"{v}", f"{s['rounds_ok']}/{s['rounds']} rounds passed every check"))
        for k, label in (("hello", "connect -> hello"), ("first_hit", "connect -> first replayed hit"),
                         ("all_hits", f"connect -> all {p['hits']} hits"), ("replay_done", "connect -> replay_done")):
            d = s.get(f"{k}_ms")
            rows.append((f"  {label}", f"median {d['median']:.2f}  max {d['max']:.2f}  ms  (n={d['n']})" if d
                         else "n/a"))
        if "ingest_s" in s:
            rows.append(("  ingest of the hits", f"median {1000 * s['ingest_s']['median']:.1f}  max "
                                                 f"{1000 * s['ingest_s']['max']:.1f}  ms"))
    cpu = r["cpu_all_rounds"]
    rows.append(("CPU over all rounds", f"server {cpu.get('server_cpu_pct')}% + {cpu.get('server_helpers_cpu_pct')}% "
                                        f"embedded redis, PostgreSQL + Redis {cpu.get('db_and_redis_services_cpu_pct')}%"
                                        f", bench {cpu.get('load_generator_cpu_pct')}%, other processes "
                                        f"{cpu.get('other_processes_cpu_pct')}% (of one core)"))
    if r["server_tree_sha256_at_start"] != r["environment"]["server_tree_sha256"]:
        rows.append(("NOTE", f"server/ changed during the run: tree {r['server_tree_sha256_at_start'][:8]} at the "
                             f"start, {r['environment']['server_tree_sha256'][:8]} at the end"))
    rows.append(("CORRECTNESS", "PASS" if r["ok"] else f"FAIL ({len(r['failures'])} problem(s))"))
    for f in r["failures"][:20]:
        rows.append(("  -", f))
    return table(rows, f"replay after reconnect — {r['backend']}, {p['hits']} hits")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--hits", type=int, default=50, help="hits raised while disconnected, per round (%(default)s)")
    ap.add_argument("--rounds", type=int, default=5, help="reconnects per variant (%(default)s)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated, of auto, auto+resume, resume (%(default)s)")
    ap.add_argument("--batch-size", type=int, default=100,
                    help="reads per POST while disconnected, 1..1000; 1 posts single detections (%(default)s)")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds between the last POST and the reconnect (%(default)s)")
    ap.add_argument("--linger", type=float, default=0.3,
                    help="seconds to keep listening after the replay is complete, for late duplicates (%(default)s)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for any one step (%(default)s)")
    ap.add_argument("--mixed-priority", action="store_true",
                    help="also read entries of other categories (priorities): the order checked is then (priority, "
                         "event id), most urgent first")
    args = ap.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not args.variants or any(v not in VARIANTS for v in args.variants):
        ap.error(f"--variants: choose from {', '.join(VARIANTS)}")
    if not 1 <= args.hits <= REPLAY_LIMIT:
        ap.error(f"--hits must be 1..{REPLAY_LIMIT} (one replay sends at most {REPLAY_LIMIT})")
    if not 1 <= args.batch_size <= 1000:
        ap.error("--batch-size must be 1..1000")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    print()
    print(report(result))
    if not args.no_save:
        print(f"\nresults: {write_result('replay', args.backend, result)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
