"""The MDT's protocol core, without a UI: sign-in and tokens, the alert socket, and the verification calls.

Only what the API documents (`api-v1.md`, README "Alerts" and "Verification") is used:

- `POST /api/v1/auth/token` and `/auth/refresh` (refresh tokens rotate: each works once); the access token is
  refreshed before it runs out and the fresh one is also sent on the open socket (`{"type": "auth"}`), which
  keeps it open past the old token's expiry.
- `GET /ws/alerts` with `Authorization: Bearer`; `hello` first. Every `hit`, `hit_update`, `escalation` and
  `supervisor_alert` is handed to the UI and then acknowledged (`ack`). An event id seen before (a re-send, or a
  replay overlapping what arrived live) is acknowledged again but never shown twice as new.
- A dropped connection is retried with exponential back-off and jitter; after `hello` the client sends
  `{"type": "resume", "after": ...}` (see `ResumeCursor` for which id). Close codes: 4401 refresh the token (or
  sign in again) and reconnect, 4403 stop (no training, no grant), 4408 reconnect.
- `POST /api/v1/hits/{id}/apsin|visual|driver|action|close` answer the hit, or a 409 whose `detail` and
  `missing` say what has to happen first.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger(__name__)

ALERT_TYPES = frozenset({"hit", "hit_update", "escalation", "supervisor_alert"})
# Members of an alert message that are not "extra" information about it.
_ENVELOPE = frozenset({"type", "event_id", "hit", "replayed", "resent"})
CLOSE_UNAUTHORIZED = 4401  # no, bad or expired token: refresh (or sign in again) and reconnect
CLOSE_FORBIDDEN = 4403     # no training, no grant, or access withdrawn: do not retry
CLOSE_TOO_SLOW = 4408      # the client fell behind and was dropped: reconnect
ACTIONS = ("stop", "arrest", "vehicle_recovered", "person_located", "none")
OUTCOMES = ("misread", "state_mismatch", "vehicle_mismatch", "no_longer_wanted", "entry_expired",
            "action_completed")
# How far a hit has come, to keep the newest picture of it when events arrive out of order (a replay of an
# older event after a live update, or an update after the answer to our own step).
_STATUS_RANK = {"pending": 0, "apsin_confirmed": 1, "visually_confirmed": 1, "verified": 2, "action_taken": 3,
                "closed": 4}


def event_order(event_id: str) -> tuple[int, int]:
    """Event ids are Redis stream ids, "<ms>-<seq>": ordered by both numbers."""
    ms, _, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (-1, -1)


def hit_progress(hit: dict[str, Any]) -> tuple[int, int, bool, int]:
    steps = (bool(hit.get("apsin_confirmed")) + bool(hit.get("visual_confirmed"))
             + (hit.get("driver_result") not in (None, "not_matched")))
    return (_STATUS_RANK.get(str(hit.get("status")), 0), steps, bool(hit.get("no_longer_of_interest")),
            int(hit.get("read_count") or 0))


def open_hits_of(hits: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hits not closed, most urgent first (priority 1 is an Amber alert), then newest first."""
    out = [h for h in hits if h.get("status") != "closed"]
    out.sort(key=lambda h: str(h.get("created_at") or ""), reverse=True)
    out.sort(key=lambda h: int(h.get("priority") or 9))
    return out


def ws_url_of(server_url: str) -> str:
    """http(s)://host[:port][/prefix] → ws(s)://host[:port][/prefix]/ws/alerts."""
    parts = urlsplit(server_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"{server_url!r} is not an http(s) URL of the server")
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws/alerts", "", ""))


@dataclass(frozen=True)
class Alert:
    """One event for the UI: shown once per event id."""

    type: str                  # hit, hit_update, escalation, supervisor_alert
    event_id: str
    hit: dict[str, Any]
    extra: dict[str, Any]      # step (hit_update); reason, officer, justification, skipped (supervisor_alert); ...
    replayed: bool = False     # missed while away, sent again on reconnect
    resent: int = 0            # the server's n-th re-send of an event not acknowledged in time
    new_hit: bool = False      # the first this client hears of this hit


@dataclass(frozen=True)
class StepResult:
    """The answer to a verification step: the hit, or why not (409: `missing` names the steps still needed)."""

    ok: bool
    status: int                # HTTP status; 0 when the server could not be reached
    hit: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None
    missing: list[str] = field(default_factory=list)

    @classmethod
    def from_response(cls, resp: httpx.Response) -> StepResult:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code == 200 and isinstance(body.get("hit"), dict):
            return cls(True, 200, body["hit"], list(body.get("events") or []))
        return cls(False, resp.status_code, error=str(body.get("error") or f"http_{resp.status_code}"),
                   detail=str(body.get("detail") or resp.reason_phrase), missing=list(body.get("missing") or []))


class SignInError(Exception):
    """The server refused the username and password, or the refresh token (sign in again)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail

    @classmethod
    def from_response(cls, resp: httpx.Response) -> SignInError:
        try:
            body = resp.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        return cls(resp.status_code, str(body.get("error") or "sign_in_failed"),
                   str(body.get("detail") or resp.reason_phrase))


class ResumeCursor:
    """The event id a reconnect resumes after: one up to which this client has received everything.

    It is not simply the newest id received. The server sends each socket's events most urgent first, so when a
    connection drops, older and less urgent events may still have been queued behind a newer Amber alert that
    did arrive; resuming after the newest id would skip them for good. The cursor moves up to the newest id
    only at moments the server's queue for this socket is known to have been empty: a `replay_done` that
    answers every replay of this connection (it is queued last), or a `ping` (sent only after seconds with
    nothing to send). Resuming from an older id costs little: the server leaves out what this person acked.

    On the first connection there is no cursor yet: `hello.resume_from` (the server's record of this person's
    last ack) is taken, and the server replays what came after it unasked.
    """

    def __init__(self) -> None:
        self.checkpoint: str | None = None
        self.newest: str | None = None
        self._expected = 0  # replay_done messages this connection will get before its queue is known drained
        self._done = 0
        self._server_has_mark = False  # the server replays unasked on connect (it has an ack of this person)

    def connected(self, resume_from: str | None) -> str | None:
        """A new connection said hello; the id to send in `resume`, or None to send none."""
        self._done = 0
        if self.checkpoint is None:
            self.checkpoint = resume_from if resume_from and event_order(resume_from) >= (0, 0) else None
            self._expected = 0
            return None
        # Our resume is answered after the server's own unasked replay (when it has an ack mark to replay from).
        self._expected = 1 + self._server_has_mark
        return self.checkpoint

    def received(self, event_id: str) -> None:
        if self.newest is None or event_order(event_id) > event_order(self.newest):
            self.newest = event_id
        self._server_has_mark = True  # it is acknowledged next

    def replay_done(self, truncated: bool) -> str | None:
        """A replay ended; the id to resume after again if it was cut short, else None."""
        self._done += 1
        if self._expected == 0:
            self._server_has_mark = True  # a replay nobody asked for: the server holds an ack of ours
        if truncated:
            # Ask again from the same point: what was sent on this socket or acked is left out, so each round
            # brings the next part.
            self._expected = max(self._expected, self._done) + 1
            return self.checkpoint
        if self._done >= self._expected:
            self._advance()
        return None

    def drained(self) -> None:
        """A ping: the server had nothing queued for this socket."""
        if self._done >= self._expected:
            self._advance()

    def _advance(self) -> None:
        if self.newest and (self.checkpoint is None or event_order(self.newest) > event_order(self.checkpoint)):
            self.checkpoint = self.newest


class _Silent(Exception):
    """The socket stayed open but silent past the silence timeout."""


AlertHandler = Callable[[Alert], Awaitable[None] | None]
StatusHandler = Callable[[str, str], None]


class MdtSession:
    """One signed-in MDT: tokens, the alert socket with reconnects, the hits it knows of, and the steps.

    `on_alert` is called (and awaited) for each event before it is acknowledged: return only once it is shown.
    `on_status(state, detail)` hears of `connecting`, `connected`, `reconnecting`, `refused` (4403),
    `signed_out` (the server refused the refresh token and the password) and `error` (an `error` message).
    """

    def __init__(self, server_url: str, username: str, password: str | None, *,
                 on_alert: AlertHandler | None = None, on_status: StatusHandler | None = None,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0, stable_after: float = 60.0,
                 heartbeat: float = 10.0, silence_timeout: float = 45.0, refresh_margin: float = 60.0,
                 http_timeout: float = 15.0, ssl_context: ssl.SSLContext | None = None, seen_size: int = 50_000,
                 trace: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.ws_url = ws_url_of(self.server_url)
        self.username = username
        # Kept in this process's memory only, to sign in again if the refresh token is refused (the server
        # restarted with a new key, or a refresh answer was lost with the network): an MDT must not go quiet.
        self._password = password
        self.on_alert = on_alert
        self.on_status = on_status
        self.backoff_initial, self.backoff_max, self.stable_after = backoff_initial, backoff_max, stable_after
        self.heartbeat, self.silence_timeout, self.refresh_margin = heartbeat, silence_timeout, refresh_margin
        # trace(direction, message): "in" and "out" for socket messages, "http" for {method, path} of each call.
        self.trace = trace
        self._ssl = ssl_context
        kwargs: dict[str, Any] = {"verify": ssl_context} if ssl_context is not None else {}
        self._http = httpx.AsyncClient(base_url=self.server_url, timeout=http_timeout, **kwargs)

        self.user: dict[str, Any] | None = None  # from hello: id, username, display_name, roles, unit_id
        self.hits: dict[int, dict[str, Any]] = {}
        self.cursor = ResumeCursor()
        self.state, self.state_detail = "signed_out", ""
        # Counters a UI or a test can read.
        self.connections = 0        # sockets that got as far as hello
        self.reconnect_delays: list[float] = []
        self.refreshes = 0
        self.duplicates = 0         # events seen before (re-sends, replay overlaps): acked, not shown again
        self.acked = 0
        self.errors: list[dict[str, Any]] = []

        self._access: str | None = None
        self._refresh_token: str | None = None
        self._expires_at = 0.0      # monotonic
        self._refresh_due = 0.0     # monotonic
        self._generation = 0        # bumped by each new token pair
        self._token_changed = asyncio.Event()
        self._refresh_lock = asyncio.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_size = seen_size
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task] = []
        self._load_pending = False

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> MdtSession:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self, *, load_open_hits: bool = True) -> None:
        """Sign in (unless tokens are set already), load the open hits, and keep the socket and tokens alive.

        A refused password raises SignInError; a server out of reach does not: the socket loop signs in when it
        can, with back-off, as after any lost connection.
        """
        reachable = True
        if self._access is None:
            try:
                await self.login()
            except httpx.HTTPError as exc:
                self._set_state("reconnecting", f"cannot reach the server: {exc}")
                reachable = False
        self._load_pending = load_open_hits  # done after the first hello if not now
        if load_open_hits and reachable:
            with contextlib.suppress(httpx.HTTPError, SignInError):
                await self.load_open_hits()
        self._stopping = False
        self._tasks = [asyncio.create_task(self._connect_loop(), name="mdt-socket"),
                       asyncio.create_task(self._refresher(), name="mdt-refresh")]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._http.aclose()
        self._set_state("stopped", "")

    @property
    def websocket(self) -> ClientConnection | None:
        """The open alert socket, if any (a test may abort its transport to play a lost network)."""
        return self._ws

    @property
    def access_token(self) -> str | None:
        return self._access

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    def _set_state(self, state: str, detail: str) -> None:
        self.state, self.state_detail = state, detail
        if state != "connected":
            self._connected.clear()
        self._notify(state, detail)

    def _notify(self, state: str, detail: str) -> None:
        if self.on_status is not None:
            try:
                self.on_status(state, detail)
            except Exception:  # a UI's trouble must not stop the session
                log.exception("status handler failed")

    # ---- tokens ----------------------------------------------------------------------------------------------

    async def login(self) -> None:
        """POST /api/v1/auth/token; SignInError if refused."""
        if self._password is None:
            raise SignInError(401, "sign_in_needed", "no password to sign in with")
        self._set_state("signing_in", self.username)
        resp = await self._call("POST", "/api/v1/auth/token",
                                {"username": self.username, "password": self._password})
        if resp.status_code != 200:
            raise SignInError.from_response(resp)
        self.set_tokens(**_token_fields(resp.json()))

    def set_tokens(self, access_token: str, expires_in: float, refresh_token: str | None = None) -> None:
        """Use this access token (and refresh token) from now on; the next refresh is scheduled from `expires_in`."""
        now = time.monotonic()
        self._access = access_token
        if refresh_token is not None:
            self._refresh_token = refresh_token
        # The server counts whole seconds, so a token may run out up to a second before `expires_in` says.
        self._expires_at = now + max(0.0, expires_in - 1)
        self._refresh_due = now + max(0.0, expires_in - min(self.refresh_margin, expires_in / 2))
        self._http.headers["Authorization"] = f"Bearer {access_token}"
        self._generation += 1
        self._token_changed.set()

    async def refresh(self) -> None:
        """Trade the refresh token for a new pair now (signing in again if it is refused), and tell the socket."""
        await self._refresh(self._generation, force=True)

    async def _refresh(self, generation: int, force: bool = False) -> None:
        async with self._refresh_lock:
            if not force and self._generation != generation:
                return  # someone else refreshed meanwhile
            resp = None
            if self._refresh_token is not None:
                resp = await self._call("POST", "/api/v1/auth/refresh", {"refresh_token": self._refresh_token})
            if resp is not None and resp.status_code == 200:
                self.set_tokens(**_token_fields(resp.json()))
            elif resp is not None and resp.status_code >= 500:
                raise httpx.HTTPStatusError("server error on refresh", request=resp.request, response=resp)
            else:
                # Rotated away (a lost answer), expired, or the key changed: sign in again if we can.
                await self.login()
            self.refreshes += 1
        await self._send_auth()

    async def _send_auth(self) -> None:
        ws = self._ws
        if ws is not None and self._access:
            with contextlib.suppress(ConnectionClosed):
                await self._send(ws, {"type": "auth", "token": self._access})

    async def _refresher(self) -> None:
        """Refresh before the access token runs out, whatever the socket is doing."""
        retry = 1.0
        while not self._stopping:
            if self._access is None:  # not signed in yet: the socket loop does that
                self._token_changed.clear()
                await self._token_changed.wait()
                continue
            delay = self._refresh_due - time.monotonic()
            if delay > 0:
                self._token_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._token_changed.wait(), delay)
                continue
            try:
                await self._refresh(self._generation)
                retry = 1.0
            except SignInError as exc:
                self._set_state("signed_out", f"sign in again: {exc.detail}")
                return
            except httpx.HTTPError as exc:  # the network is down: try again soon, the socket loop waits too
                log.info("token refresh failed, retrying in %.0f s: %s", retry, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 15.0)

    async def _ensure_token(self) -> None:
        if self._access is None or time.monotonic() >= self._expires_at:
            await self._refresh(self._generation, force=True)

    # ---- the socket ------------------------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: between half and all of initial·2^attempt, capped."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** min(attempt, 30)))
        return random.uniform(ceiling / 2, ceiling)

    async def _connect_loop(self) -> None:
        attempt = 0
        while not self._stopping:
            code: int | None = None
            reason = ""
            greeted_at: float | None = None
            try:
                await self._ensure_token()
                self._set_state("connecting", self.ws_url)
                code, reason, greeted_at = await self._connect_once()
            except SignInError as exc:
                self._set_state("signed_out", f"sign in again: {exc.detail}")
                return
            except httpx.HTTPError as exc:
                reason = f"cannot reach the server: {exc}"
            if self._stopping:
                return
            if code == CLOSE_FORBIDDEN:
                self._set_state("refused", reason or "access refused (training or grant): not retrying")
                return
            # Reconnect at once, on a first try, when the cause is known and dealt with: a token that ran out
            # (refreshed now) or a queue that overflowed (4408: the replay brings what was missed).
            at_once = code == CLOSE_TOO_SLOW
            if code == CLOSE_UNAUTHORIZED:
                try:
                    await self.refresh()
                    at_once = True
                except SignInError as exc:
                    self._set_state("signed_out", f"sign in again: {exc.detail}")
                    return
                except httpx.HTTPError:
                    pass
            if greeted_at is not None and time.monotonic() - greeted_at >= self.stable_after:
                attempt = 0  # it was a working connection: start the back-off afresh
            delay = 0.0 if at_once and attempt == 0 else self.backoff(attempt)
            attempt += 1
            self.reconnect_delays.append(delay)
            self._set_state("reconnecting", f"{reason or 'connection lost'}; again in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _connect_once(self) -> tuple[int | None, str, float | None]:
        """One connection, until it ends: (close code, reason, when hello came)."""
        greeted: list[float] = []
        headers = {"Authorization": f"Bearer {self._access}"}
        kwargs: dict[str, Any] = {"ssl": self._ssl} if self._ssl is not None and self.ws_url.startswith("wss") else {}
        try:
            async with connect(self.ws_url, additional_headers=headers, ping_interval=self.heartbeat,
                               ping_timeout=self.heartbeat, open_timeout=10, close_timeout=2, max_size=1 << 22,
                               **kwargs) as ws:
                self._ws = ws
                try:
                    await self._serve(ws, greeted)
                finally:
                    self._ws = None
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            reason = exc.rcvd.reason if exc.rcvd else "connection lost"
            return code, (f"closed {code}: {reason}" if code else reason), (greeted[0] if greeted else None)
        except _Silent as exc:
            return None, str(exc), (greeted[0] if greeted else None)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ValueError) as exc:
            return None, f"cannot connect: {exc}", (greeted[0] if greeted else None)
        return None, "connection ended", (greeted[0] if greeted else None)

    async def _serve(self, ws: ClientConnection, greeted: list[float]) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 15))
        self._traced("in", hello)
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise ValueError(f"expected hello, got {str(hello)[:80]}")
        greeted.append(time.monotonic())
        self.user = hello.get("user") or {}
        self.connections += 1
        after = self.cursor.connected(hello.get("resume_from"))
        if after:
            await self._send(ws, {"type": "resume", "after": after})
        self._set_state("connected", f"{self.user.get('display_name') or self.username}")
        self._connected.set()
        if self._load_pending:  # started out of reach: the open hits were not loaded yet
            self._tasks.append(asyncio.create_task(self._load_quietly(), name="mdt-load"))
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), self.silence_timeout)
            except TimeoutError:
                # Not even the server's ping, sent after 20 s of silence: the link is dead without saying so.
                raise _Silent(f"nothing from the server for {self.silence_timeout:g} s") from None
            try:
                msg = json.loads(raw)
            except ValueError:
                log.warning("not JSON from the server: %.80r", raw)
                continue
            if isinstance(msg, dict):
                self._traced("in", msg)
                await self._handle(ws, msg)

    async def _handle(self, ws: ClientConnection, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in ALERT_TYPES:
            await self._alert(ws, msg)
        elif kind == "replay_done":
            again = self.cursor.replay_done(bool(msg.get("truncated")))
            if again:
                await self._send(ws, {"type": "resume", "after": again})
        elif kind == "ping":
            self.cursor.drained()
            await self._send(ws, {"type": "pong"})
        elif kind == "error":
            self.errors.append(msg)
            self._notify("error", f"{msg.get('error')}: {msg.get('detail')}")
        # Anything else is newer than this client: ignored.

    async def _alert(self, ws: ClientConnection, msg: dict[str, Any]) -> None:
        event_id, hit = msg.get("event_id"), msg.get("hit")
        if not isinstance(event_id, str) or not isinstance(hit, dict):
            return
        if event_id in self._seen:
            self.duplicates += 1
        else:
            hit_id = hit.get("id")
            new_hit = hit_id not in self.hits
            self.remember_hit(hit)
            alert = Alert(str(msg["type"]), event_id, hit, {k: v for k, v in msg.items() if k not in _ENVELOPE},
                          replayed=bool(msg.get("replayed")), resent=int(msg.get("resent") or 0), new_hit=new_hit)
            if self.on_alert is not None:
                try:
                    shown = self.on_alert(alert)
                    if inspect.isawaitable(shown):
                        await shown
                except Exception:
                    # Not shown, so not acknowledged: the server re-sends it (and escalates if it stays so).
                    log.exception("the UI could not show event %s; not acknowledging it", event_id)
                    return
            self._seen[event_id] = None
            if len(self._seen) > self._seen_size:
                self._seen.popitem(last=False)
        self.cursor.received(event_id)
        await self._send(ws, {"type": "ack", "event_id": event_id})
        self.acked += 1

    # ---- hits ------------------------------------------------------------------------------------------------

    async def _load_quietly(self) -> None:
        with contextlib.suppress(httpx.HTTPError, SignInError):
            await self.load_open_hits()

    def remember_hit(self, hit: dict[str, Any]) -> bool:
        """Keep this picture of a hit unless a further-along one is known; True if kept."""
        hit_id = hit.get("id")
        if not isinstance(hit_id, int):
            return False
        known = self.hits.get(hit_id)
        if known is not None and hit_progress(hit) < hit_progress(known):
            return False
        self.hits[hit_id] = hit
        return True

    def open_hits(self) -> list[dict[str, Any]]:
        """Hits not closed, most urgent first, then newest first."""
        return open_hits_of(self.hits.values())

    async def load_open_hits(self) -> int:
        """GET /api/v1/hits: the hits this person may see; the open ones are remembered. How many."""
        resp = await self._request("GET", "/api/v1/hits")
        if resp.status_code != 200:
            return 0
        self._load_pending = False
        count = 0
        for hit in resp.json().get("hits", []):
            if hit.get("status") != "closed" and self.remember_hit(hit):
                count += 1
        return count

    async def get_hit(self, hit_id: int) -> StepResult:
        """GET /api/v1/hits/{id}: the hit with its full event history."""
        return await self._step("GET", f"/api/v1/hits/{hit_id}", None)

    async def apsin(self, hit_id: int, confirmed: bool, reference: str, note: str | None = None) -> StepResult:
        """APSIN/NCIC status check (C.1, C.4); not confirmed closes the hit."""
        return await self._step("POST", f"/api/v1/hits/{hit_id}/apsin",
                                _body(confirmed=confirmed, reference=reference, note=note))

    async def visual(self, hit_id: int, plate_matches: bool, state_matches: bool, vehicle_matches: bool,
                     note: str | None = None) -> StepResult:
        """The officer's comparison of plate, state and vehicle with the image (C.2); a mismatch closes the hit."""
        return await self._step("POST", f"/api/v1/hits/{hit_id}/visual",
                                _body(plate_matches=plate_matches, state_matches=state_matches,
                                      vehicle_matches=vehicle_matches, note=note))

    async def driver(self, hit_id: int, matched: bool, other_legal_basis: str | None = None) -> StepResult:
        """Person-linked entries: the driver matched the subject, or another legal basis (C.3)."""
        return await self._step("POST", f"/api/v1/hits/{hit_id}/driver",
                                _body(matched=matched, other_legal_basis=other_legal_basis))

    async def action(self, hit_id: int, action: str, exigent_justification: str | None = None) -> StepResult:
        """An enforcement action; before the confirmations only with a written exigent justification."""
        exigent = {"justification": exigent_justification} if exigent_justification else None
        return await self._step("POST", f"/api/v1/hits/{hit_id}/action", _body(action=action, exigent=exigent))

    async def close_hit(self, hit_id: int, outcome: str, note: str | None = None) -> StepResult:
        return await self._step("POST", f"/api/v1/hits/{hit_id}/close", _body(outcome=outcome, note=note))

    async def _step(self, method: str, path: str, body: dict[str, Any] | None) -> StepResult:
        try:
            resp = await self._request(method, path, body)
        except httpx.HTTPError as exc:
            return StepResult(False, 0, error="unreachable", detail=f"not recorded, the server cannot be reached: {exc}")
        except SignInError as exc:
            return StepResult(False, exc.status, error=exc.error, detail=exc.detail)
        result = StepResult.from_response(resp)
        if result.hit is not None:
            self.remember_hit(result.hit)
        return result

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """One authenticated call; a 401 (the token ran out) is retried once after a refresh."""
        await self._ensure_token()
        generation = self._generation
        resp = await self._call(method, path, body)
        if resp.status_code == 401:
            await self._refresh(generation)
            resp = await self._call(method, path, body)
        return resp

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        self._traced("http", {"method": method, "path": path})
        return await self._http.request(method, path, json=body)

    async def _send(self, ws: ClientConnection, msg: dict[str, Any]) -> None:
        self._traced("out", msg)
        await ws.send(json.dumps(msg))

    def _traced(self, direction: str, msg: dict[str, Any]) -> None:
        if self.trace is not None:
            try:
                self.trace(direction, msg)
            except Exception:
                log.exception("trace hook failed")


def _body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _token_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {"access_token": body["access_token"], "expires_in": float(body["expires_in"]),
            "refresh_token": body.get("refresh_token")}
