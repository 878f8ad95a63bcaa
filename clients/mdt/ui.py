"""The MDT's terminal UI (rich): open hits most urgent first, what needs checking, and a command line.

On a terminal the board fills the screen and redraws itself; commands are typed on its last line. Without a
terminal (stdin a pipe or file) alerts and answers are printed line by line and commands read line by line.

    a HIT REF [y|n]        APSIN/NCIC checked (reference of the query); n: not confirmed, closes the hit
    v HIT y|n y|n y|n      visual match: plate, state, vehicle; any n closes the hit with that reason
    d HIT y | n | BASIS…   driver matched the subject, did not, or another legal basis in words
    x HIT ACTION [WHY…]    stop|arrest|vehicle_recovered|person_located|none; WHY = exigent justification
    c HIT OUTCOME [NOTE…]  misread|state_mismatch|vehicle_mismatch|no_longer_wanted|entry_expired|action_completed
    s HIT  history · r  reload open hits · h  help · q  quit
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from clients.mdt.session import ACTIONS, OUTCOMES, Alert, MdtSession, SignInError, StepResult

COMMANDS = [line.strip() for line in __doc__.split("\n\n")[2].splitlines()]
HELP = ("a HIT REF [y|n] APSIN · v HIT y|n y|n y|n visual (plate state vehicle) · d HIT y|n|BASIS driver · "
        "x HIT ACTION [exigent justification] · c HIT OUTCOME [note] · s HIT history · r reload · q quit")
MATCH_LABELS = {"exact": ("exact", "bold green"), "plate_only": ("plate only", "bold yellow"),
                "ocr_equivalent": ("OCR-equivalent", "bold yellow")}
STATE_STYLES = {"connected": "green", "connecting": "yellow", "reconnecting": "yellow", "signing_in": "yellow",
                "refused": "bold red", "signed_out": "bold red", "stopped": "dim"}


# ---- rendering (pure: a test renders it into a recording Console) ----------------------------------------------

def priority_style(priority: int) -> str:
    return "bold white on red" if priority <= 2 else "bold red" if priority == 3 else "bold yellow" \
        if priority == 4 else "white"


def match_label(kind: str | None) -> Text:
    label, style = MATCH_LABELS.get(kind or "", (kind or "?", "bold"))
    return Text(label, style=style)


def vehicle_summary(vehicle: dict[str, Any] | None) -> str:
    v = vehicle or {}
    parts = [str(v[k]) for k in ("year", "color", "make", "model", "type") if v.get(k)]
    parts += [str(f) for f in v.get("features") or ()]
    return " ".join(parts)


def plate_text(plate: str | None, state: str | None) -> str:
    return f"{plate or '?'} ({state or 'state ?'})"


def warnings(hit: dict[str, Any]) -> list[Text]:
    """What the officer must look at before acting: state and descriptor mismatches, the driver, a withdrawal."""
    det, entry = hit.get("detection") or {}, hit.get("entry") or {}
    out = []
    if hit.get("no_longer_of_interest"):
        out.append(Text("NO LONGER OF INTEREST", style="bold white on red"))
    if hit.get("state_mismatch"):
        out.append(Text(f"STATE: read {det.get('state') or '?'} ≠ listed {entry.get('state') or '?'}",
                        style="bold red"))
    elif hit.get("match_kind") != "exact" and not det.get("state") and entry.get("state"):
        out.append(Text(f"STATE: not read (listed {entry['state']})", style="bold yellow"))
    for m in hit.get("descriptor_mismatches") or ():
        out.append(Text(f"{str(m.get('field', '?')).upper()}: listed {m.get('entry')} ≠ seen {m.get('read')}",
                        style="bold red"))
    if hit.get("requires_driver_check"):
        subject = entry.get("subject")
        out.append(Text("match driver to subject" + (f": {subject}" if subject else ""), style="yellow"))
    if hit.get("exigent"):
        out.append(Text("exigent override", style="magenta"))
    return out


def _age(created: str | None, now: datetime) -> str:
    if not created:
        return ""
    try:
        seconds = (now - datetime.fromisoformat(created)).total_seconds()
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{max(0, int(seconds))}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds // 3600)}h"


def hit_table(hits: Sequence[dict[str, Any]], fresh: Iterable[int] = (), now: datetime | None = None) -> Table:
    """The open hits, in the order given (most urgent first)."""
    now = now or datetime.now(UTC)
    fresh = set(fresh)
    table = Table(expand=True, show_lines=True, header_style="bold")
    for name, kw in (("Hit", {"no_wrap": True}), ("P", {"justify": "center", "no_wrap": True}), ("Case", {}),
                     ("Listed", {}), ("Read", {}), ("Match", {"no_wrap": True}), ("Check", {"min_width": 30}),
                     ("Status / next", {})):
        table.add_column(name, **kw)
    for hit in hits:
        det, entry = hit.get("detection") or {}, hit.get("entry") or {}
        priority = int(hit.get("priority") or 9)
        ident = Text(f"#{hit.get('id')}", style="bold")
        if hit.get("id") in fresh:
            ident.append(" NEW", style="bold reverse")
        age = _age(hit.get("created_at"), now)
        if age:
            ident.append(f"\n{age} ago", style="dim")
        category = str(hit.get("category") or entry.get("category") or "?").replace("_", " ").upper()
        case = Text(category, style=priority_style(priority))
        case.append(f"\n{entry.get('source') or ''} {entry.get('case_number') or ''}".rstrip(), style="dim")
        listed = Text(plate_text(entry.get("plate"), entry.get("state")), style="bold")
        if vehicle_summary(entry.get("vehicle")):
            listed.append("\n" + vehicle_summary(entry.get("vehicle")))
        seen = Text(plate_text(det.get("plate"), det.get("state")), style="bold")
        if vehicle_summary(det.get("vehicle")):
            seen.append("\n" + vehicle_summary(det.get("vehicle")))
        if int(hit.get("read_count") or 1) > 1:
            seen.append(f"\nread {hit['read_count']}×", style="dim")
        check = Text("\n").join(warnings(hit)) if warnings(hit) else Text("—", style="dim")
        status = Text(str(hit.get("status") or "?"), style="bold")
        awaiting = hit.get("awaiting") or []
        if awaiting:
            status.append("\nnext: " + " · ".join(awaiting), style="cyan")
        table.add_row(ident, Text(f"P{priority}", style=priority_style(priority)), case, listed, seen,
                      match_label(hit.get("match_kind")), check, status)
    return table


def render_board(hits: Sequence[dict[str, Any]], *, who: str = "", state: str = "", detail: str = "",
                 log_lines: Sequence[Text | str] = (), prompt: str | None = None, fresh: Iterable[int] = (),
                 now: datetime | None = None, log_rows: int = 8) -> RenderableType:
    """The whole screen: who and the connection, the open hits, the latest messages, help and the prompt."""
    header = Text("MDT", style="bold")
    if who:
        header.append(f" · {who}")
    if state:
        header.append(f" · {state}", style=STATE_STYLES.get(state, "bold"))
        if detail and state != "connected":
            header.append(f" ({detail})", style=STATE_STYLES.get(state, ""))
    header.append(f" · {len(hits)} open hit{'s' if len(hits) != 1 else ''}")
    body: RenderableType = hit_table(hits, fresh, now) if hits else Text("No open hits.", style="dim")
    lines = [line if isinstance(line, Text) else Text(line) for line in list(log_lines)[-log_rows:]]
    parts: list[RenderableType] = [header, body, Panel(Group(*lines) if lines else Text(""), title="messages",
                                                       title_align="left", border_style="dim")]
    parts.append(Text(HELP, style="dim"))
    if prompt is not None:
        parts.append(Text("> ", style="bold") + Text(prompt) + Text("▏", style="blink"))
    return Group(*parts)


def describe_alert(alert: Alert) -> Text:
    """One line for the message log."""
    hit = alert.hit
    det, entry = hit.get("detection") or {}, hit.get("entry") or {}
    priority = int(hit.get("priority") or 9)
    ref = f"#{hit.get('id')}"
    text = Text()
    if alert.replayed:
        text.append("(missed) ", style="dim")
    if alert.type == "supervisor_alert":
        x = alert.extra
        text.append(f"SUPERVISOR ALERT {ref}", style="bold white on red")
        text.append(f" {x.get('reason', '').replace('_', ' ')} by {x.get('officer', '?')}; skipped "
                    f"{', '.join(x.get('skipped') or []) or '-'}: “{x.get('justification', '')}”")
        return text
    if alert.type == "escalation":
        x = alert.extra
        text.append(f"ESCALATION {ref}", style="bold red")
        text.append(f" {x.get('recipient', 'the unit')} has not acknowledged for {x.get('waited_seconds', '?')} s: "
                    f"{plate_text(entry.get('plate'), entry.get('state'))} {entry.get('category', '')}")
        return text
    if alert.type == "hit_update" and alert.extra.get("step"):
        step = str(alert.extra["step"])
        style = "bold white on red" if step == "no_longer_of_interest" else "cyan"
        text.append(f"{ref} {step.replace('_', ' ')}", style=style)
        text.append(f" → {hit.get('status')}" + (f" ({hit['outcome']})" if hit.get("outcome") else ""))
        if hit.get("awaiting"):
            text.append(f"; next: {', '.join(hit['awaiting'])}", style="dim")
        return text
    if alert.type == "hit_update":
        text.append(f"{ref} read again ({hit.get('read_count')}×) {plate_text(det.get('plate'), det.get('state'))}")
        return text
    label = "NEW HIT" if alert.new_hit else "HIT again"
    text.append(f"{label} {ref} ", style="bold")
    text.append(f"P{priority} {str(hit.get('category', '')).replace('_', ' ').upper()}", style=priority_style(priority))
    text.append(f" {plate_text(entry.get('plate'), entry.get('state'))} — ")
    text.append_text(match_label(hit.get("match_kind")))
    text.append(f", read {plate_text(det.get('plate'), det.get('state'))}")
    flags = warnings(hit)
    if flags:
        text.append(" — ")
        text.append_text(Text("; ").join(flags))
    if alert.resent:
        text.append(f" (re-sent {alert.resent}×)", style="dim")
    return text


def describe_result(hit_id: int, step: str, result: StepResult) -> Text:
    if result.ok and result.hit is not None:
        hit = result.hit
        text = Text(f"#{hit_id} {step}: ", style="bold") + Text("recorded", style="green")
        text.append(f" → {hit.get('status')}" + (f" ({hit['outcome']})" if hit.get("outcome") else ""))
        if hit.get("awaiting"):
            text.append(f"; next: {', '.join(hit['awaiting'])}", style="dim")
        return text
    text = Text(f"#{hit_id} {step}: ", style="bold") + Text(f"REFUSED {result.status or ''} {result.error}".replace(
        "  ", " "), style="bold red")
    if result.detail:
        text.append(f" — {result.detail}")
    if result.missing:
        text.append(" (missing: ", style="red")
        text.append(", ".join(result.missing), style="bold red")
        text.append(")", style="red")
    return text


def describe_history(result: StepResult) -> list[Text]:
    if not result.ok:
        return [describe_result(0, "history", result)]
    lines = []
    for ev in result.events:
        who = f"{ev.get('actor_role') or ''} {ev.get('actor_id') or ''}".strip() or "system"
        data = ev.get("data") or {}
        extra = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("shown",) and not isinstance(v, dict))
        lines.append(Text(f"  {str(ev.get('at', ''))[11:19]} {ev.get('kind')} by {who}" + (f": {extra}" if extra else ""),
                          style="dim"))
    return lines


# ---- commands ---------------------------------------------------------------------------------------------------

class CommandError(ValueError):
    """A command line that cannot be run; the message says how to write it."""


@dataclass(frozen=True)
class Command:
    verb: str  # apsin, visual, driver, action, close, show, reload, help, quit
    hit_id: int | None = None
    args: dict[str, Any] = field(default_factory=dict)


def _yes_no(word: str, what: str) -> bool:
    w = word.lower()
    if w in ("y", "yes", "1", "true", "ok"):
        return True
    if w in ("n", "no", "0", "false"):
        return False
    raise CommandError(f"{what}: say y or n, not {word!r}")


def _choice(word: str, options: Sequence[str], what: str) -> str:
    w = word.lower()
    found = [o for o in options if o == w] or [o for o in options if o.startswith(w)]
    if len(found) != 1:
        raise CommandError(f"{what}: one of {', '.join(options)} (a unique start is enough), not {word!r}")
    return found[0]


def _hit_id(word: str) -> int:
    try:
        return int(word.lstrip("#"))
    except ValueError:
        raise CommandError(f"{word!r} is not a hit number") from None


def parse_command(line: str) -> Command:
    """`a 12 Q-5531` → Command("apsin", 12, {...}); CommandError says what is wrong."""
    words = line.split()
    if not words:
        raise CommandError("type a command (h for help)")
    verb, rest = words[0].lower(), words[1:]
    if verb in ("q", "quit", "exit"):
        return Command("quit")
    if verb in ("h", "help", "?"):
        return Command("help")
    if verb in ("r", "reload"):
        return Command("reload")
    if verb not in ("a", "v", "d", "x", "c", "s"):
        raise CommandError(f"unknown command {words[0]!r} (h for help)")
    if not rest:
        raise CommandError(f"{verb}: which hit? (its number, as on the board)")
    hit_id, rest = _hit_id(rest[0]), rest[1:]
    if verb == "s":
        return Command("show", hit_id)
    if verb == "a":
        if not rest:
            raise CommandError("a HIT REF [y|n]: the APSIN/NCIC query reference is required")
        confirmed = True
        if len(rest) > 1 and rest[-1].lower() in ("y", "yes", "n", "no"):
            confirmed = _yes_no(rest.pop(), "confirmed")
        return Command("apsin", hit_id, {"reference": " ".join(rest), "confirmed": confirmed})
    if verb == "v":
        if len(rest) < 3:
            raise CommandError("v HIT y|n y|n y|n: plate, state and vehicle match the image?")
        return Command("visual", hit_id, {"plate_matches": _yes_no(rest[0], "plate"),
                                          "state_matches": _yes_no(rest[1], "state"),
                                          "vehicle_matches": _yes_no(rest[2], "vehicle"),
                                          "note": " ".join(rest[3:]) or None})
    if verb == "d":
        if not rest:
            raise CommandError("d HIT y | n | another legal basis in words")
        if len(rest) == 1 and rest[0].lower() in ("y", "yes", "n", "no"):
            return Command("driver", hit_id, {"matched": _yes_no(rest[0], "driver"), "other_legal_basis": None})
        return Command("driver", hit_id, {"matched": False, "other_legal_basis": " ".join(rest)})
    if verb == "x":
        if not rest:
            raise CommandError(f"x HIT ACTION [exigent justification]: ACTION is one of {', '.join(ACTIONS)}")
        return Command("action", hit_id, {"action": _choice(rest[0], ACTIONS, "action"),
                                          "exigent_justification": " ".join(rest[1:]) or None})
    if not rest:
        raise CommandError(f"c HIT OUTCOME [note]: OUTCOME is one of {', '.join(OUTCOMES)}")
    return Command("close", hit_id, {"outcome": _choice(rest[0], OUTCOMES, "outcome"), "note": " ".join(rest[1:]) or None})


# ---- the application --------------------------------------------------------------------------------------------

class _LogHandler(logging.Handler):
    def __init__(self, sink: Callable[[Text], None]) -> None:
        super().__init__(logging.INFO)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self._sink(Text(record.getMessage(), style="dim red" if record.levelno >= logging.WARNING else "dim"))


class MdtApp:
    """The session, the board and the command line together."""

    def __init__(self, session: MdtSession, console: Console | None = None, interactive: bool | None = None) -> None:
        self.session = session
        self.console = console or Console(highlight=False)
        self.interactive = sys.stdin.isatty() and self.console.is_terminal if interactive is None else interactive
        self.log: deque[Text] = deque(maxlen=500)
        self.fresh: set[int] = set()  # hits that arrived and nobody has acted on from this MDT yet
        self.buffer = ""
        self._quit = asyncio.Event()
        self._busy: set[asyncio.Task] = set()
        session.on_alert = self.show_alert
        session.on_status = self.show_status

    # What the session hands over.
    def show_alert(self, alert: Alert) -> None:
        if alert.type == "hit" and alert.new_hit:
            self.fresh.add(int(alert.hit.get("id", 0)))
        if alert.hit.get("status") == "closed":
            self.fresh.discard(int(alert.hit.get("id", 0)))
        self.say(describe_alert(alert))
        if alert.type in ("hit", "supervisor_alert", "escalation") and self.interactive:
            self.console.bell()

    def show_status(self, state: str, detail: str) -> None:
        if state in ("connected", "connecting", "signing_in") and not self.interactive:
            if state == "connected":
                self.say(Text(f"connected as {detail}", style="green"))
            return
        if state in ("reconnecting", "refused", "signed_out", "error"):
            self.say(Text(f"{state}: {detail}", style=STATE_STYLES.get(state, "red")))

    def say(self, line: Text) -> None:
        self.log.append(line)
        if not self.interactive:
            self.console.print(line)

    def render(self) -> RenderableType:
        s = self.session
        user = s.user or {}
        who = user.get("display_name") or s.username
        if user.get("unit_id") is not None:
            who += f" (unit {user['unit_id']})"
        rows = max(4, self.console.size.height // 4)
        return render_board(s.open_hits(), who=who, state=s.state, detail=s.state_detail, log_lines=self.log,
                            prompt=self.buffer, fresh=self.fresh, log_rows=rows)

    # Commands.
    async def execute(self, line: str) -> None:
        try:
            cmd = parse_command(line)
        except CommandError as exc:
            self.say(Text(str(exc), style="yellow"))
            return
        s = self.session
        if cmd.verb == "quit":
            self._quit.set()
            return
        if cmd.verb == "help":
            for row in COMMANDS:
                self.say(Text(row, style="cyan"))
            return
        if cmd.verb == "reload":
            count = await s.load_open_hits()
            self.say(Text(f"{count} open hit(s) loaded", style="dim"))
            return
        assert cmd.hit_id is not None
        if cmd.verb == "show":
            result = await s.get_hit(cmd.hit_id)
            self.say(Text(f"#{cmd.hit_id} history:", style="bold"))
            for row in describe_history(result):
                self.say(row)
            return
        self.fresh.discard(cmd.hit_id)
        call = {"apsin": s.apsin, "visual": s.visual, "driver": s.driver, "action": s.action,
                "close": s.close_hit}[cmd.verb]
        result = await call(cmd.hit_id, **cmd.args)
        self.say(describe_result(cmd.hit_id, cmd.verb, result))

    def _submit(self, line: str) -> None:
        if not line.strip():
            return
        self.say(Text(f"> {line}", style="bold dim"))
        task = asyncio.create_task(self.execute(line))
        self._busy.add(task)
        task.add_done_callback(self._busy.discard)

    def _on_keys(self, fd: int) -> None:
        data = os.read(fd, 1024).decode(errors="ignore")
        if "\x1b" in data:  # arrow keys and the like: not supported, dropped whole
            data = data.split("\x1b", 1)[0]
        for ch in data:
            if ch in "\r\n":
                line, self.buffer = self.buffer, ""
                self._submit(line)
            elif ch in "\x7f\b":
                self.buffer = self.buffer[:-1]
            elif ch == "\x15":  # ctrl-U
                self.buffer = ""
            elif ch == "\x04" and not self.buffer:  # ctrl-D on an empty line
                self._quit.set()
            elif ch.isprintable():
                self.buffer += ch

    async def run(self) -> int:
        log = logging.getLogger("clients.mdt")
        handler = _LogHandler(self.say)
        log.addHandler(handler)
        log.propagate = False
        try:
            try:
                await self.session.start()
            except SignInError as exc:
                self.console.print(f"[bold red]Sign-in refused:[/] {exc.detail}")
                return 1
            if self.interactive:
                await self._run_screen()
            else:
                await self._run_lines()
        finally:
            log.removeHandler(handler)
            for task in list(self._busy):
                task.cancel()
            await self.session.stop()
        return 0 if self.session.state not in ("refused", "signed_out") else 1

    async def _wait_quit(self) -> None:
        """Until `q`, or the session ended for good (access refused, signed out)."""
        while not self._quit.is_set():
            if self.session.state in ("refused", "signed_out"):
                await asyncio.sleep(0.5)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quit.wait(), 0.5)

    async def _run_screen(self) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        loop = asyncio.get_running_loop()
        try:
            tty.setcbreak(fd)
            loop.add_reader(fd, self._on_keys, fd)
            with Live(console=self.console, screen=True, auto_refresh=True, refresh_per_second=8,
                      redirect_stdout=False, redirect_stderr=False, get_renderable=self.render):
                await self._wait_quit()
        finally:
            loop.remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        for line in list(self.log)[-5:]:
            self.console.print(line)

    async def _run_lines(self) -> None:
        for hit in self.session.open_hits():
            self.console.print(hit_table([hit], self.fresh))

        loop = asyncio.get_running_loop()

        def reader() -> None:  # a daemon thread: a blocked readline must not hold up the exit
            for line in sys.stdin:
                try:
                    loop.call_soon_threadsafe(self._submit, line.strip())
                except RuntimeError:  # the loop has closed: the MDT is exiting
                    return
            # Input ended: keep showing alerts until interrupted.

        threading.Thread(target=reader, name="mdt-stdin", daemon=True).start()
        await self._wait_quit()


async def run_mdt(server_url: str, username: str, password: str, console: Console | None = None) -> int:
    """Sign in and run the MDT until `q`; the exit status."""
    session = MdtSession(server_url, username, password)
    return await MdtApp(session, console).run()
