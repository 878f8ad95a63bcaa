"""Scheduled refresh from a watched folder, and `alpr hotlist import|sources` on a real database and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from support import World, read, running_server

from server.hotlist.watch import watch_folder

ALPR = [sys.executable, "-c", "from server.cli import main; main()"]


def ncic(*plates: str) -> bytes:
    return "".join(f"{'V':<4}{p:<10}AK{'':<4}2018TOYTCAMBLK    4DV{n:09d}20260105\n"
                   for n, p in enumerate(plates, 1)).encode()


def settled(path: Path, data: bytes) -> Path:
    """A file written a while ago (the watcher leaves files still being copied in)."""
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


async def test_watched_folder_refreshes_a_source(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """A full list dropped in the watched folder replaces its source's list and is filed under done/; a file with
    a name that says no source goes to failed/ with the reason; a file still being written waits."""
    watch = tmp_path / "watch"
    watch.mkdir()
    async with running_server(tmp_path, database_url, redis_url, hotlist_watch_dir=watch,
                              hotlist_watch_seconds=3600) as srv, World.create(srv) as world:
        res = srv.resources
        settled(watch / "NCIC_monday.ncic", ncic("WCH1111", "WCH2222"))
        settled(watch / "notes.csv", b"plate,state,category\nX1,AK,stolen_vehicle\n")
        (watch / "NCIC_tuesday.ncic").write_bytes(ncic("WCH1111"))  # just arrived
        assert await watch_folder(res) == 2
        assert sorted(p.name[17:] for p in (watch / "done").iterdir()) == ["NCIC_monday.ncic"]
        failed = sorted(p.name[17:] for p in (watch / "failed").iterdir())
        assert failed == ["notes.csv", "notes.csv.error.txt"]
        assert "SOURCE" in next((watch / "failed").glob("*.error.txt")).read_text()
        assert (watch / "NCIC_tuesday.ncic").exists()
        listed = (await world.rtcc.client.get("/api/v1/hotlist/entries")).json()["entries"]
        assert sorted(e["plate"] for e in listed) == ["WCH1111", "WCH2222"]
        before = {s["source"]: s for s in (await world.rtcc.client.get("/api/v1/hotlist/sources")).json()["sources"]}
        assert before["NCIC"]["last_refresh_at"] is not None

        os.utime(watch / "NCIC_tuesday.ncic", (time.time() - 60, time.time() - 60))
        assert await watch_folder(res) == 1
        listed = (await world.rtcc.client.get("/api/v1/hotlist/entries")).json()["entries"]
        assert [e["plate"] for e in listed] == ["WCH1111"]
        after = {s["source"]: s for s in (await world.rtcc.client.get("/api/v1/hotlist/sources")).json()["sources"]}
        assert after["NCIC"]["last_refresh_at"] > before["NCIC"]["last_refresh_at"]


def alpr(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ALPR, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])


async def test_cli_import_and_sources(database_url: str, redis_url: str, tmp_path: Path) -> None:
    """`alpr hotlist import` loads a file and prints its summary; run again with --replace it reports the list
    unchanged; `alpr hotlist sources` shows the refresh; a running server matches what it loaded."""
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ALPR_DATA_DIR": str(tmp_path / "data")}
    extract = tmp_path / "ncic.txt"
    extract.write_bytes(ncic("CLI1111", "CLI2222", "UNKNOWN") + b"IV  IMM1234   AK\n")
    first = alpr(["hotlist", "import", str(extract), "--source", "ncic", "--format", "ncic", "--json"], env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["imported"], summary["skipped"], summary["refused"]) == (2, 1, {"IV": 1})
    again = alpr(["hotlist", "import", str(extract), "--source", "NCIC", "--format", "ncic", "--replace", "--json"],
                 env)
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["unchanged"], json.loads(again.stdout)["imported"]) == (2, 0)
    table = alpr(["hotlist", "import", str(extract), "--source", "NCIC", "--format", "ncic"], env)
    assert table.returncode == 0 and "refused IV: 1" in table.stdout
    sources = alpr(["hotlist", "sources", "--json"], env)
    assert sources.returncode == 0, sources.stderr
    ncic_status = next(s for s in json.loads(sources.stdout) if s["source"] == "NCIC")
    assert ncic_status["entries"] == 2 and ncic_status["last_refresh_at"] is not None
    async with running_server(tmp_path / "srv", database_url, redis_url) as srv, World.create(srv) as world:
        resp = await world.camera.post("/api/v1/detections", json=read("CLI2222"))
        assert resp.status_code == 201, resp.text
        assert [h["match_kind"] for h in resp.json()["hits"]] == ["exact"]


def test_cli_refuses_unknown_format_and_missing_file(tmp_path: Path) -> None:
    """A wrong format or a missing file is a usage error that says what is wrong, before anything is touched."""
    env = {"ALPR_DATA_DIR": str(tmp_path / "data")}
    wrong = alpr(["hotlist", "import", __file__, "--source", "NCIC", "--format", "xlsx"], env)
    assert wrong.returncode == 2 and "xlsx" in wrong.stderr
    missing = alpr(["hotlist", "import", str(tmp_path / "nope.txt"), "--source", "NCIC", "--format", "ncic"], env)
    assert missing.returncode == 2 and "nope.txt" in missing.stderr
    assert not (tmp_path / "data").exists()
