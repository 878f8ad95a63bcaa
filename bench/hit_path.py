"""Where a lone hit read's time goes, next to a lone miss: a diagnostic, not a load test.

Runs the app in this process under uvicorn (as tests/support.py does), posts reads one at a time (an idle server),
and times server stages with wrappers installed from here (nothing in server/ is changed) plus every SQL statement
through SQLAlchemy engine events. The stage names are the server's current internals; a stage that no longer exists
is skipped.

    python bench/hit_path.py                       # SQLite + embedded Redis in a temp dir
    python bench/hit_path.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<db> \\
        --redis-url redis://127.0.0.1:6379/13      # an existing, empty database
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import random
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import ADMIN_USER, detection, hotlist_plates, miss_plates, seed_hotlist, setup_world

STAGES = [  # (module, class, method, label)
    ("server.detections.writer", "IngestWriter", "_store", "writer: whole group"),
    ("server.hotlist.index", "HotlistIndex", "match_many", "hot-list match (Redis)"),
    ("server.detections.writer", "IngestWriter", "_in_transaction", "group transaction (reads + hits, commit)"),
    ("server.alerts.delivery", "DeliveryLog", "publish", "alert publish (Lua)"),
]
SYNC_STAGES = [  # (module, function, label): module-level functions, looked up by name when called
    ("server.hits.raising", "_still_listed", "  raise: still listed (SELECT)"),
    ("server.hits.raising", "_unsuppressed", "  raise: suppressions (SELECT)"),
    ("server.hits.raising", "_open_hits", "  raise: open hits to fold into (SELECT)"),
    ("server.hits.raising", "_store", "  raise: store hit, read, event (INSERTs)"),
    ("server.detections.writer", "raise_hits", "  raise_hits, all"),
    ("server.detections.writer", "announce", "announce (alert payloads)"),
    ("server.detections.writer", "seal_images", "seal images"),
]
TIMES: dict[str, list[float]] = {}


def install_wrappers() -> list[str]:
    installed = []
    for mod_name, cls_name, meth, label in STAGES:
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
            orig = getattr(cls, meth)
        except (ImportError, AttributeError):
            continue

        def make(orig, label):  # noqa: ANN001, ANN202
            @functools.wraps(orig)
            async def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return await orig(*a, **k)
                finally:
                    TIMES.setdefault(label, []).append(time.perf_counter() - t)
            return wrapper

        setattr(cls, meth, make(orig, label))
        installed.append(label)
    for mod_name, fn_name, label in SYNC_STAGES:
        try:
            mod = importlib.import_module(mod_name)
            orig = getattr(mod, fn_name)
        except (ImportError, AttributeError):
            continue

        def make_sync(orig, label):  # noqa: ANN001, ANN202
            @functools.wraps(orig)
            def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
                t = time.perf_counter()
                try:
                    return orig(*a, **k)
                finally:
                    TIMES.setdefault(label, []).append(time.perf_counter() - t)
            return wrapper

        setattr(mod, fn_name, make_sync(orig, label))
        installed.append(label.strip())
    return installed


async def run(args: argparse.Namespace) -> None:
    import uvicorn
    from sqlalchemy import event

    from server.app import create_app
    from server.settings import load_settings

    data_dir = Path(tempfile.mkdtemp(prefix="alpr-hitpath-"))
    url = args.database_url or f"sqlite+aiosqlite:///{data_dir / 'alpr.db'}"
    listed = hotlist_plates(args.hotlist_size, 1)
    misses = miss_plates(args.n, listed, 2)
    await seed_hotlist(url, listed)
    password = "bench-" + secrets.token_urlsafe(8)
    cfg = load_settings({}, data_dir=data_dir, database_url=args.database_url, redis_url=args.redis_url,
                        bootstrap_admin=f"{ADMIN_USER}:{password}", log_level="WARNING")
    installed = install_wrappers()
    app = create_app(cfg)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", loop="uvloop",
                                           http="httptools"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    world = await setup_world(base, password)
    statements: list[tuple[str, float]] = []
    res = app.state.resources
    engines = [res.engine.sync_engine]
    if getattr(res.ingest_writer, "_sqlite", None) is not None:  # SQLite: the writer thread's own engine
        engines.append(res.ingest_writer._sqlite)

    def _before(conn, cursor, stmt, params, ctx, many):  # noqa: ANN001, ANN202
        conn.info["bench_t"] = time.perf_counter()

    def _after(conn, cursor, stmt, params, ctx, many):  # noqa: ANN001, ANN202
        words = stmt.split()
        what = " ".join(words[:3]) if words[0] in ("INSERT", "UPDATE") else f"{words[0]} ... FROM {_from(words)}"
        statements.append((what, time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", _before)
        event.listen(engine, "after_cursor_execute", _after)

    rng = random.Random(3)
    headers = {"Authorization": f"Bearer {world.camera_token}"}
    print(f"stages timed: {', '.join(installed)}")
    async with aiohttp.ClientSession(base) as http:
        for label, plates in (("miss", misses), ("hit", listed[:args.n])):
            TIMES.clear()
            statements.clear()
            lat = []
            for plate in plates:
                t = time.perf_counter()
                async with http.post("/api/v1/detections", json=detection(plate, rng), headers=headers) as r:
                    await r.read()
                    if r.status != 201:
                        raise RuntimeError(f"POST answered {r.status}")
                lat.append(time.perf_counter() - t)
                await asyncio.sleep(0.005)
            print(f"\n== {len(plates)} lone {label} reads, one at a time: HTTP round trip median "
                  f"{1000 * statistics.median(lat):.2f} ms")
            for name, values in TIMES.items():
                print(f"   {name:30s} n={len(values):4d}  median {1000 * statistics.median(values):6.2f} ms")
            per: dict[str, list[float]] = {}
            for what, dt in statements:
                per.setdefault(what, []).append(dt)
            for what, values in per.items():
                print(f"   SQL {what[:46]:46s} n={len(values):4d}  median {1000 * statistics.median(values):6.3f} ms "
                      f"(driver time only)")
    server.should_exit = True
    await task
    shutil.rmtree(data_dir, ignore_errors=True)


def _from(words: list[str]) -> str:
    upper = [w.upper() for w in words]
    return words[upper.index("FROM") + 1] if "FROM" in upper else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=150, help="reads of each kind (%(default)s)")
    ap.add_argument("--hotlist-size", type=int, default=20_000, help="hot-list entries seeded (%(default)s)")
    ap.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    ap.add_argument("--redis-url", help="a Redis to use (default: embedded)")
    args = ap.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
