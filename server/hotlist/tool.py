"""The operator's hot-list commands (``alpr hotlist import|sources``): progress bars and summaries on a terminal."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

import msgspec
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from server.audit.service import Actor
from server.hotlist.imports import ImportRefused, ImportService
from server.hotlist.schemas import ImportPublic, SourceStatus
from server.resources import open_resources
from server.settings import Settings

STAGES = {"reading": "Reading and checking", "writing": "Writing the database", "indexing": "Updating matching"}


async def run_import(settings: Settings, file: str, source: str, fmt: str, replace: bool, as_json: bool) -> int:
    """Import a file; 0 when it loaded (bad lines are reported, not fatal), 1 when nothing was changed."""
    err = Console(stderr=True)
    path = Path(file)
    size = os.path.getsize(path)
    bars = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
                    TimeElapsedColumn(), console=err, transient=False, disable=as_json or not err.is_terminal)
    tasks: dict[str, int] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(STAGES[stage], total=total)
        bars.update(tasks[stage], completed=done, total=total)

    # As `alpr serve` runs: the database driver's thread gets the interpreter back quickly from the parser's.
    sys.setswitchinterval(0.0005)
    async with open_resources(settings, serving=False) as res:
        try:
            with bars, path.open("rb") as data:
                summary = await ImportService(res).run(data, source=source, fmt=fmt, replace=replace, size=size,
                                                       filename=path.name, progress=progress,
                                                       actor=Actor(None, f"console:{getpass.getuser()}", "operator"))
        except ImportRefused as exc:
            err.print(f"[red]import refused:[/red] {exc}")
            return 1
        except Exception as exc:  # the run is recorded as failed; the list is as it was
            err.print(f"[red]import failed, nothing changed:[/red] {type(exc).__name__}: {exc}")
            return 1
    if as_json:
        print(msgspec.json.encode(summary).decode())
    else:
        _print_summary(Console(), summary)
    return 0


def _print_summary(out: Console, s: ImportPublic) -> None:
    table = Table(title=f"Import {s.id}: {s.filename} ({s.source}, {s.format}{', full refresh' if s.replace else ''})",
                  show_header=False)
    rows = [("lines read", s.lines), ("imported (new entries)", s.imported),
            ("merged into existing entries", s.merged), ("updated", s.updated), ("unchanged", s.unchanged)]
    if s.replace:
        rows += [("no longer listed by the source", s.delisted), ("entries removed", s.removed)]
    rows += [("skipped (junk or no plate)", s.skipped), ("expired already", s.expired),
             ("refused by category (policy II)", sum(s.refused.values())), ("bad lines", s.bad)]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    out.print(table)
    for code, n in s.refused.items():
        out.print(f"  refused {code}: {n:,}")
    for p in s.errors:
        out.print(f"  line {p.line}: {p.detail}", markup=False, highlight=False)
    if s.bad > len(s.errors):
        out.print(f"  ... and {s.bad - len(s.errors):,} more bad lines")


async def show_sources(settings: Settings, as_json: bool) -> int:
    async with open_resources(settings, serving=False) as res:
        sources = await ImportService(res).sources()
    if as_json:
        print(json.dumps(msgspec.to_builtins(sources)))
        return 0
    table = Table("source", "entries", "last good refresh", "last import", "state")
    for s in sources:
        table.add_row(s.source, f"{s.entries:,}", _when(s), _last(s.last_import),
                      "[red]STALE[/red]" if s.stale else "ok")
    Console().print(table)
    return 0


def _when(s: SourceStatus) -> str:
    return s.last_refresh_at.strftime("%Y-%m-%d %H:%M UTC") if s.last_refresh_at else "never"


def _last(run: ImportPublic | None) -> str:
    return "none" if run is None else f"{run.id} {run.status} {run.started_at:%Y-%m-%d %H:%M}"
