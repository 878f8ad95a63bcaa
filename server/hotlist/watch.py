"""Scheduled refresh from a watched folder: each full list dropped there replaces its source's list.

A file is named ``SOURCE[_anything].FORMAT`` (``NCIC_2026-11-28.ncic``, ``APSIN.apsin``, ``RMS_bolo.csv``). Once it
has not changed for a few seconds it is claimed by renaming it into ``processing/`` (a rename is atomic, so of several
server processes exactly one takes it), imported as a full refresh, and moved to ``done/`` or, with a note saying
why, to ``failed/``. The time of each source's last good refresh is shown at ``GET /api/v1/hotlist/sources``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from server.audit.service import Actor
from server.db import utcnow
from server.hotlist.formats import FORMATS
from server.hotlist.imports import ImportRefused, ImportService
from server.hotlist.models import SOURCES

if TYPE_CHECKING:
    from server.resources import Resources

log = logging.getLogger(__name__)

SETTLE_SECONDS = 5.0
WATCHER = Actor(None, "watched-folder", "system")  # a file still being copied in changes its modification time; wait until it stops


def source_and_format(name: str) -> tuple[str, str] | None:
    """(source, format) from a watched file's name, or None when the name does not say both."""
    stem, dot, ext = name.rpartition(".")
    if not dot or ext.lower() not in FORMATS:
        return None
    source = stem.split("_", 1)[0].split(".", 1)[0].upper()
    return (source, ext.lower()) if source in SOURCES else None


async def watch_folder(res: Resources) -> int:
    """One pass over the watched folder; how many files were imported."""
    folder = res.settings.hotlist_watch_dir
    if folder is None:
        return 0
    return await _import_ready(res, folder)


async def _import_ready(res: Resources, folder: Path) -> int:
    done = 0
    for path in await asyncio.to_thread(_ready_files, folder):
        claimed = _claim(path, folder / "processing")
        if claimed is None:
            continue  # another process took it
        await _import_one(res, folder, claimed)
        done += 1
    return done


def _ready_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    now = time.time()
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and now - p.stat().st_mtime >= SETTLE_SECONDS)


def _claim(path: Path, processing: Path) -> Path | None:
    processing.mkdir(exist_ok=True)
    target = processing / path.name
    try:
        path.rename(target)
    except FileNotFoundError:
        return None
    return target


async def _import_one(res: Resources, folder: Path, path: Path) -> None:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    named = source_and_format(path.name)
    if named is None:
        _file_away(path, folder / "failed", stamp,
                   f"the name does not say the source and format: name it SOURCE[_anything].FORMAT with SOURCE one "
                   f"of {', '.join(SOURCES)} and FORMAT one of {', '.join(FORMATS)}")
        return
    source, fmt = named
    try:
        with path.open("rb") as data:
            summary = await ImportService(res).run(data, source=source, fmt=fmt, replace=True,
                                                   size=path.stat().st_size, filename=path.name, actor=WATCHER)
    except ImportRefused as exc:
        if exc.code == "import_running":
            path.rename(folder / path.name)  # put it back for the next pass
            return
        _file_away(path, folder / "failed", stamp, str(exc))
        return
    except Exception as exc:
        log.exception("watched hot-list file %s failed to import", path.name)
        _file_away(path, folder / "failed", stamp, f"{type(exc).__name__}: {exc}")
        return
    log.info("watched hot-list file %s imported", path.name,
             extra={"import_id": summary.id, "imported": summary.imported, "removed": summary.removed,
                    "bad": summary.bad})
    _file_away(path, folder / "done", stamp, None)


def _file_away(path: Path, where: Path, stamp: str, error: str | None) -> None:
    where.mkdir(exist_ok=True)
    target = where / f"{stamp}-{path.name}"
    path.rename(target)
    if error is not None:
        target.with_name(target.name + ".error.txt").write_text(error + "\n", encoding="utf-8")
