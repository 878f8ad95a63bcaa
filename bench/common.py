"""Shared pieces of the load generators: a real `alpr serve` subprocess, its backends, API setup, hot-list seeding,
plates, percentiles, CPU accounting and result files.

Nothing here imports the server's runtime; only the migration helper, the hot-list table definition and the OCR key
function are borrowed from `server`, so the seeded data is exactly what the server expects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PG_ADMIN_DSN = os.environ.get("ALPR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BENCH_URL = os.environ.get("ALPR_BENCH_REDIS", "redis://127.0.0.1:6379/13")
ADMIN_USER = "benchadmin"
OFFICER_PASSWORD = "bench-officer-password-1"
STATE = "AK"

if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------------------------------------------------- backends
@dataclass
class Backend:
    """Where the server keeps its data: the env it is started with and the URL used to seed the database."""

    kind: str                      # "embedded" | "postgres"
    data_dir: Path                 # ALPR_DATA_DIR (SQLite file and embedded Redis live here when embedded)
    db_url: str                    # the SQLAlchemy URL the server will use
    env: dict[str, str] = field(default_factory=dict)  # DATABASE_URL / REDIS_URL when not embedded
    describe: str = ""


async def _pg_admin(sql: str) -> None:
    """One statement on the admin database (creating or dropping the bench database)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _flush_bench_redis() -> None:
    import redis.asyncio as aredis

    r = aredis.Redis.from_url(REDIS_BENCH_URL)
    await r.flushdb()
    await r.aclose()


@contextlib.asynccontextmanager
async def backend(kind: str, keep: bool = False) -> AsyncIterator[Backend]:
    """A fresh, empty backend, removed afterwards.

    embedded: a new temporary ALPR_DATA_DIR, no DATABASE_URL/REDIS_URL (SQLite file + embedded Redis).
    postgres: a new database alpr_bench_<rand> on the local PostgreSQL (dropped after) and Redis db 13 (flushed).
    """
    data_dir = Path(tempfile.mkdtemp(prefix="alpr-bench-"))
    try:
        if kind == "embedded":
            url = f"sqlite+aiosqlite:///{(data_dir / 'alpr.db').resolve()}"
            yield Backend(kind, data_dir, url, {}, f"SQLite {data_dir / 'alpr.db'} + embedded Redis")
        elif kind == "postgres":

            name = "alpr_bench_" + secrets.token_hex(5)
            await _pg_admin(f'CREATE DATABASE "{name}"')
            await _flush_bench_redis()
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            url = f"{base}/{name}"
            try:
                yield Backend(kind, data_dir, url, {"DATABASE_URL": url, "REDIS_URL": REDIS_BENCH_URL},
                              f"PostgreSQL database {name} + Redis {REDIS_BENCH_URL}")
            finally:
                if not keep:
                    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    await _flush_bench_redis()
        else:
            raise ValueError(f"unknown backend {kind!r}")
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------- plates
_L = string.ascii_uppercase
_D = string.digits
# Common US passenger formats: ABC1234, 1ABC234, ABC123, AB12345, 123ABC.
PLATE_FORMATS = ("LLLDDDD", "DLLLDDD", "LLLDDD", "LLDDDDD", "DDDLLL")


def random_plate(rng: random.Random) -> str:
    fmt = rng.choice(PLATE_FORMATS)
    return "".join(rng.choice(_L) if c == "L" else rng.choice(_D) for c in fmt)


def hotlist_plates(n: int, seed: int) -> list[str]:
    """n distinct plates for the hot list."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        out[random_plate(rng)] = None
    return list(out)


def miss_plates(n: int, listed: Iterable[str], seed: int) -> list[str]:
    """n random plates that match no listed plate, not even OCR-equivalently (same OCR key), so the hit fraction
    is exactly the one asked for."""
    from server.hotlist.matching import ocr_key

    keys = {ocr_key(p) for p in listed}
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        p = random_plate(rng)
        if ocr_key(p) not in keys:
            out.append(p)
    return out


def detection(plate: str, rng: random.Random, image: str | None = None) -> dict[str, Any]:
    """A realistic dash-camera read (api-v1 "Detections")."""
    d: dict[str, Any] = {
        "id": str(uuid.uuid4()), "plate": plate, "state": STATE, "confidence": round(rng.uniform(0.8, 0.99), 3),
        "captured_at": datetime.now(UTC).isoformat(),
        "location": {"lat": round(61.2 + rng.uniform(-0.1, 0.1), 6), "lon": round(-149.9 + rng.uniform(-0.1, 0.1), 6),
                     "heading": float(rng.randrange(360))},
        "vehicle": {"make": rng.choice(["TOYT", "FORD", "CHEV", "HOND", "SUBA"]),
                    "model": rng.choice(["TAC", "F15", "SIL", "CIV", "OUT"]),
                    "color": rng.choice(["BLK", "WHI", "SIL", "RED", "BLU"]),
                    "type": rng.choice(["PK", "4D", "SW"]), "features": []},
    }
    if image is not None:
        d["images"] = {"plate": image}
    return d


def fake_jpeg_b64(nbytes: int) -> str | None:
    """A base64 blob that passes the server's JPEG magic check (the server does not decode images)."""
    if nbytes <= 0:
        return None
    import base64

    return base64.b64encode(b"\xff\xd8\xff\xe0" + os.urandom(max(0, nbytes - 4))).decode()


# ---------------------------------------------------------------------------------------------------- hot-list seeding
CATEGORIES = ("stolen_vehicle", "stolen_plate", "wanted_person", "missing_person", "violent_crime",
              "drug_distribution")
PRIORITY = {"stolen_vehicle": 4, "stolen_plate": 5, "wanted_person": 3, "missing_person": 2, "violent_crime": 3,
            "drug_distribution": 4}


def migrate(db_url: str) -> None:
    """The server's own migrations (blocking; it runs its own event loop, so call it outside one or in a thread)."""
    from server.db import upgrade_database

    upgrade_database(db_url)


async def seed_hotlist(db_url: str, plates: Sequence[str], chunk: int = 100_000) -> float:
    """Migrate, then bulk-insert one active entry (with its listing) per plate. Returns seconds taken.

    Rows go in at the driver's speed, as the hot-list importer writes them (server/hotlist/import_db.py), so a
    million entries take seconds, not minutes."""
    from server.db import create_engine
    from server.hotlist.import_db import ENTRY_COLUMNS, _same, _sqlite_time, insert_rows

    t0 = time.perf_counter()
    await asyncio.to_thread(migrate, db_url)
    rng = random.Random(1)
    now = datetime.now(UTC)
    stamp = _sqlite_time if db_url.startswith("sqlite") else _same
    created, expires = stamp(now), stamp(now + timedelta(days=30))
    values: list[object] = []  # one row after another, as insert_rows takes them
    for i, p in enumerate(plates, 1):
        cat = CATEGORIES[i % len(CATEGORIES)] if i % 10 == 0 else "stolen_vehicle"
        values.extend((i, p, STATE, cat, "NCIC", f"24-{i:06d}", "NCIC stolen vehicle record, bench seed",
                     PRIORITY[cat], expires, 2010 + rng.randrange(14), "TOYT", "TAC", "BLK", "PK", None, created))
    engine = create_engine(db_url)
    try:
        width = len(ENTRY_COLUMNS)
        for start in range(0, len(plates), chunk):
            async with engine.begin() as conn:
                await insert_rows(conn, "hotlist_entry", ENTRY_COLUMNS,
                                  values[start * width:(start + chunk) * width])
                await conn.exec_driver_sql(
                    "INSERT INTO hotlist_listing (entry_id, source, case_number, justification, priority, expires_at)"
                    f" SELECT id, source, case_number, justification, priority, expires_at FROM hotlist_entry"
                    f" WHERE id > {start} AND id <= {start + chunk}")
        if not db_url.startswith("sqlite"):
            async with engine.begin() as conn:
                await conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('hotlist_entry', 'id'), "
                                           "(SELECT max(id) FROM hotlist_entry))")
    finally:
        await engine.dispose()
    return time.perf_counter() - t0


# -------------------------------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`alpr serve` as a subprocess with a clean environment."""

    def __init__(self, be: Backend, admin_password: str, port: int | None = None, log_level: str = "WARNING",
                 workers: int = 1) -> None:
        self.be = be
        self.workers = workers
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/alerts"
        self.admin_password = admin_password
        self.log_path = be.data_dir / "server.log"
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ALPR_") and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(self.be.env)
        env.update({"ALPR_DATA_DIR": str(self.be.data_dir),
                    "ALPR_BOOTSTRAP_ADMIN": f"{ADMIN_USER}:{self.admin_password}",
                    "ALPR_LOG_LEVEL": self.log_level, "PYTHONUNBUFFERED": "1"})
        return env

    @staticmethod
    def command(port: int, workers: int = 1) -> list[str]:
        exe = Path(sys.executable).parent / "alpr"
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        if exe.exists():
            return [str(exe), *args]
        return [sys.executable, "-c", "from server.cli import main; main()", *args]

    async def start(self, timeout: float = 180.0) -> None:
        t0 = time.perf_counter()
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.command(self.port, self.workers), env=self.env(), cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"alpr serve exited with {self.proc.returncode} during start:\n"
                                       f"{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    async with http.get(self.base_url + "/readyz", timeout=aiohttp.ClientTimeout(total=3)) as r:
                        if r.status == 200:
                            break
                if time.perf_counter() - t0 > timeout:
                    self.stop()
                    raise RuntimeError(f"alpr serve not ready within {timeout}s:\n{self.log_tail()}")
                await asyncio.sleep(0.1)
        self.startup_s = time.perf_counter() - t0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def helpers(self) -> list[psutil.Process]:
        """Processes the server started (the embedded redis-server)."""
        with contextlib.suppress(psutil.Error):
            return psutil.Process(self.pid).children(recursive=True)
        return []

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        children = self.helpers()
        self.proc.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully; the lifespan stops embedded Redis
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for child in children:  # only what this server started, by pid
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.terminate()
                    child.wait(5)


# --------------------------------------------------------------------------------------------------------- API set-up
@dataclass
class World:
    unit_id: int
    camera_id: str
    camera_token: str
    officer_token: str
    officer_id: int


async def _call(http: aiohttp.ClientSession, method: str, url: str, token: str | None, body: Any,
                expect: int | tuple[int, ...]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as r:
        text = await r.text()
        ok = (expect,) if isinstance(expect, int) else expect
        if r.status not in ok:
            raise RuntimeError(f"{method} {url} answered {r.status}: {text[:500]}")
        return json.loads(text) if text else None


async def setup_world(base_url: str, admin_password: str) -> World:
    """The flow a department follows (tests/support.py): admin signs in, registers a unit and its dash camera, the
    camera gets a device token, an officer of the unit is created, trained, granted access and signs in."""
    async with aiohttp.ClientSession(base_url) as http:
        admin = (await _call(http, "POST", "/api/v1/auth/token", None,
                             {"username": ADMIN_USER, "password": admin_password}, 200))["access_token"]
        unit = await _call(http, "POST", "/api/v1/units", admin, {"call_sign": "2B31"}, (200, 201))
        cam = await _call(http, "POST", "/api/v1/cameras", admin, {"unit_id": unit["id"], "label": "dash"}, (200, 201))
        dev = await _call(http, "POST", "/api/v1/auth/device-token", None,
                          {"camera_id": cam["camera_id"], "secret": cam["secret"]}, 200)
        user = await _call(http, "POST", "/api/v1/users", admin, {
            "username": "officer1", "password": OFFICER_PASSWORD, "display_name": "Officer One",
            "badge_number": "1234", "roles": ["officer"], "unit_id": unit["id"]}, (200, 201))
        done = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        await _call(http, "POST", f"/api/v1/users/{user['id']}/training", admin, {"completed_at": done}, 200)
        await _call(http, "POST", f"/api/v1/users/{user['id']}/access-grant", admin,
                    {"granted": True, "note": "Patrol officer, ALPR access approved by the Chief"}, 200)
        officer = (await _call(http, "POST", "/api/v1/auth/token", None,
                               {"username": "officer1", "password": OFFICER_PASSWORD}, 200))["access_token"]
        return World(unit["id"], cam["camera_id"], dev["access_token"], officer, user["id"])


# ---------------------------------------------------------------------------------------------------------- statistics
def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100); NaN when empty."""
    if not sorted_values:
        return math.nan
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def summarize_ms(values_s: Iterable[float], ps: Sequence[float] = (50, 90, 99, 99.9)) -> dict[str, float]:
    """Count, mean, percentiles and max of durations given in seconds, reported in milliseconds."""
    v = sorted(values_s)
    out: dict[str, float] = {"count": len(v)}
    if not v:
        return out
    out["mean_ms"] = round(1000 * sum(v) / len(v), 3)
    for p in ps:
        out[f"p{p:g}_ms"] = round(1000 * percentile(v, p), 3)
    out["max_ms"] = round(1000 * v[-1], 3)
    return out


def backing_service_pids(be: Backend) -> list[int]:
    """External processes serving this run: PostgreSQL backends connected to the bench database and the shared
    redis-server (empty for the embedded backend, whose Redis is a child of the server)."""
    if be.kind != "postgres":
        return []
    db = be.db_url.rsplit("/", 1)[-1]
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.info["cmdline"] or [])
            if (cmd.startswith("postgres:") and f" {db} " in cmd) or (p.info["name"] or "").startswith("redis-server"):
                out.append(p.pid)
    return out


def wait_for_quiet(max_busy_pct: float = 25.0, timeout: float = 0.0) -> float:
    """Wait (up to timeout seconds) until the machine's CPU over one second is below max_busy_pct (of all cores);
    other people's test runs on a shared box would otherwise be measured too. Returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        busy = psutil.cpu_percent(interval=1.0)
        if busy <= max_busy_pct or time.monotonic() >= deadline:
            return busy


class CpuMeter:
    """CPU used by the server process, its helpers (embedded Redis), the database and Redis behind it, the load
    generator, and everything else on the machine, over a window. Percent of one core (200% = two cores busy)."""

    def __init__(self, server: Server, extra_pids: Sequence[int] = (), service_pids: Sequence[int] = ()) -> None:
        self.server = server
        self.extra = list(extra_pids)
        self.services = list(service_pids)

    def _times(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.server.pid).cpu_times()
            out["server"] = t.user + t.system
        helper = 0.0
        for c in self.server.helpers():
            with contextlib.suppress(psutil.Error):
                t = c.cpu_times()
                helper += t.user + t.system
        out["server_helpers"] = helper
        gen = 0.0
        for pid in [os.getpid(), *self.extra]:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                gen += t.user + t.system
        out["load_generator"] = gen
        svc = 0.0
        for pid in self.services:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                svc += t.user + t.system
        out["db_and_redis_services"] = svc
        return out

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._c0 = self._times()
        self._sys0 = psutil.cpu_times()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        c1 = self._times()
        sys1 = psutil.cpu_times()
        out = {f"{k}_cpu_pct": round(100 * (c1.get(k, 0) - self._c0.get(k, 0)) / wall, 1) for k in c1}
        busy0 = sum(self._sys0) - self._sys0.idle - getattr(self._sys0, "iowait", 0)
        busy1 = sum(sys1) - sys1.idle - getattr(sys1, "iowait", 0)
        out["machine_cpu_pct"] = round(100 * (busy1 - busy0) / wall, 1)  # of 100 x cores
        out["other_processes_cpu_pct"] = round(out["machine_cpu_pct"] - sum(
            out[f"{k}_cpu_pct"] for k in ("server", "server_helpers", "load_generator", "db_and_redis_services")), 1)
        out["machine_cores"] = psutil.cpu_count()
        out["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return out


def start_py_spy(pid: int, args: Any) -> subprocess.Popen[bytes]:
    """py-spy record of the server for the measured window (args: py_spy, py_spy_format, py_spy_extra, duration)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "200", "--nonblocking",
                             "--duration", str(int(args.duration)), "--format", args.py_spy_format, "-o", args.py_spy,
                             *args.py_spy_extra.split()], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


# ------------------------------------------------------------------------------------------------- server's /metrics
async def scrape_metrics(base_url: str) -> dict[str, dict[str, float]]:
    """The server's own latency histograms: {name: {"sum", "count", "le=<b>": cumulative count}}."""
    out: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession() as http, http.get(base_url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for name in ("alpr_ingest_seconds", "alpr_match_seconds", "alpr_push_seconds", "alpr_gc_pause_seconds"):
            if not line.startswith(name):
                continue
            rest = line[len(name):]
            key = name
            if 'generation="' in rest:  # one histogram per generation: alpr_gc_pause_seconds_gen2, ...
                key = name + "_gen" + rest.split('generation="', 1)[1][0]
            value = float(line.rsplit(" ", 1)[1])
            if rest.startswith("_sum"):
                out.setdefault(key, {})["sum"] = value
            elif rest.startswith("_count"):
                out.setdefault(key, {})["count"] = value
            elif rest.startswith("_bucket"):
                le = rest.split('le="', 1)[1].split('"', 1)[0]
                out.setdefault(key, {})[f"le={le}"] = value
    return out


def metrics_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Mean and share under 10 ms of each server histogram over the measured window."""
    out: dict[str, Any] = {}
    for name, a in after.items():
        b = before.get(name, {})
        n = a.get("count", 0) - b.get("count", 0)
        if n <= 0:
            continue
        s = a.get("sum", 0) - b.get("sum", 0)
        le10 = a.get("le=0.01", 0) - b.get("le=0.01", 0)
        out[name] = {"count": int(n), "mean_ms": round(1000 * s / n, 3), "share_le_10ms": round(le10 / n, 4),
                     "total_ms": round(1000 * s, 1)}
    return out


# ------------------------------------------------------------------------------------------------------------ results
def environment() -> dict[str, Any]:
    return {"host": platform.node(), "python": platform.python_version(), "cores": psutil.cpu_count(),
            "cpu_model": _cpu_model(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "server_tree_sha256": server_tree_hash()}


def server_tree_hash() -> str:
    """A digest of server/**/*.py and migrations/: the server code a result was measured on (it changes often)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted([*(ROOT / "server").rglob("*.py"), *(ROOT / "migrations").rglob("*.py")]):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def write_result(bench: str, backend_kind: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{bench}-{backend_kind}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def table(rows: Sequence[tuple[str, Any]], title: str) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * max(len(title), width + 20)]
    for k, v in rows:
        lines.append(f"{k:<{width}}  {v}")
    return "\n".join(lines)


def fmt_ms(d: dict[str, float], keys: Sequence[str] = ("p50", "p90", "p99", "max")) -> str:
    if not d.get("count"):
        return "n/a (no samples)"
    return "  ".join(f"{k} {d[f'{k}_ms']:.2f}" for k in keys if f"{k}_ms" in d) + f"  ms  (n={d['count']})"


def add_common_arguments(ap: argparse.ArgumentParser) -> None:
    """Options every benchmark shares: the backend, the machine-quiet wait, workers, profiling, results."""
    ap.add_argument("--backend", choices=("embedded", "postgres"), default="embedded",
                    help="embedded: SQLite + embedded Redis in a temp ALPR_DATA_DIR; postgres: a fresh PostgreSQL "
                         "database on 127.0.0.1 + Redis db 13 (default: %(default)s)")
    ap.add_argument("--quiet-wait", type=float, default=120, help="wait up to this many seconds for the machine to "
                    "be quiet before starting (shared machines; 0: don't) (%(default)s)")
    ap.add_argument("--quiet-max-busy", type=float, default=30, help="'quiet' means the machine's CPU is below this "
                    "%% of all cores (%(default)s)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=1, help="alpr serve --workers (%(default)s)")
    ap.add_argument("--py-spy", metavar="FILE", help="record a py-spy profile of the server during the window")
    ap.add_argument("--py-spy-format", default="flamegraph", choices=("flamegraph", "speedscope", "raw"),
                    help="raw = collapsed stacks, which bench/pyspy_summary.py summarises (%(default)s)")
    ap.add_argument("--py-spy-extra", default="", help="more py-spy record options, e.g. '--gil' or '--idle'")
    ap.add_argument("--keep", action="store_true", help="keep the data dir / database afterwards")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
