"""Batch ingest throughput: a few concurrent dash-camera clients POST {"detections": [...1,000...]} back to back.

A real `alpr serve` is started on a fresh backend whose hot list is seeded straight into the database. Each client
posts a batch, waits for the answer and posts the next (closed loop; --rate caps the total). Every detection has a
fresh id; a share of them (--hit-fraction) are reads of listed plates never read before, so they raise new hits as
they would in the field; the other plates match nothing, not even OCR-equivalently. Bodies are built from
pre-encoded templates (ids and hit plates spliced in), so the generator spends well under a millisecond per batch.

    python bench/batch_ingest.py --backend embedded
    python bench/batch_ingest.py --backend postgres --clients 4 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import (
    CpuMeter,
    Server,
    add_common_arguments,
    backend,
    backing_service_pids,
    detection,
    environment,
    fake_jpeg_b64,
    fmt_ms,
    hotlist_plates,
    metrics_delta,
    miss_plates,
    scrape_metrics,
    seed_hotlist,
    setup_world,
    start_py_spy,
    summarize_ms,
    table,
    wait_for_quiet,
    write_result,
)

ID_MARK, PLATE_MARK = "@@ID@@", "@@PL@@"


class BatchFactory:
    """Batches of fresh detections: templates encoded once, each batch splices in new ids and new hit plates."""

    def __init__(self, size: int, hit_fraction: float, listed: list[str], misses: list[str], templates: int,
                 image_bytes: int, seed: int) -> None:
        rng = random.Random(seed)
        self.size = size
        self.hits_per_batch = round(size * hit_fraction)
        # Each listed plate is read once (a new hit each time) until all have been used.
        self._hit_plates: Iterator[str] = itertools.cycle(rng.sample(listed, len(listed)))
        image = fake_jpeg_b64(image_bytes)
        self._templates: list[list[bytes]] = []
        mi = iter(misses)
        for _ in range(templates):
            hit_slots = set(rng.sample(range(size), self.hits_per_batch))
            dets = []
            for j in range(size):
                d = detection(PLATE_MARK if j in hit_slots else next(mi), rng, image)
                d["id"] = ID_MARK
                dets.append(d)
            text = json.dumps({"detections": dets}, separators=(",", ":"))
            # pieces alternate: literal, (id | plate) slot, literal, ...
            parts: list[bytes] = []
            rest = text
            while True:
                i, p = rest.find(ID_MARK), rest.find(PLATE_MARK)
                cands = [(x, m) for x, m in ((i, ID_MARK), (p, PLATE_MARK)) if x >= 0]
                if not cands:
                    parts.append(rest.encode())
                    break
                pos, mark = min(cands)
                parts.append(rest[:pos].encode())
                parts.append(b"I" if mark == ID_MARK else b"P")
                rest = rest[pos + len(mark):]
            self._templates.append(parts)
        self._prefix = secrets.token_hex(4)
        self._n = 0
        self._t = 0
        self.hit_plates_used = 0

    def next(self) -> tuple[bytes, int]:
        """The body of a new batch and how many of its reads are of listed plates."""
        parts = self._templates[self._t % len(self._templates)]
        self._t += 1
        out = []
        for piece in parts:
            if piece == b"I":
                self._n += 1
                n = self._n
                out.append(f"{self._prefix}-{(n >> 48) & 0xFFFF:04x}-4{(n >> 36) & 0xFFF:03x}-8{(n >> 24) & 0xFFF:03x}-"
                           f"{n & 0xFFFFFFFFFFFF:012x}".encode())
            elif piece == b"P":
                out.append(next(self._hit_plates).encode())
                self.hit_plates_used += 1
            else:
                out.append(piece)
        return b"".join(out), self.hits_per_batch


async def client(http: aiohttp.ClientSession, url: str, headers: dict[str, str], factory: BatchFactory,
                 stop_at: float, interval: float, out: list[tuple[float, float, int, int, int, int]]) -> None:
    """Post batches back to back until stop_at; record (sent, done, status, detections, created, hits)."""
    nxt = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            return
        if interval and now < nxt:
            await asyncio.sleep(nxt - now)
        nxt += interval
        body, _ = factory.next()
        sent = time.perf_counter()
        created = hits = 0
        try:
            async with http.post(url, data=body, headers=headers) as r:
                raw = await r.read()
                status = r.status
            if status == 201:
                ans = json.loads(raw)
                created = ans.get("created", 0)
                hits = sum(len(x["hits"]) for x in ans.get("results", []))
        except Exception:  # noqa: BLE001 - counted as an error
            status = -1
        out.append((sent, time.perf_counter(), status, factory.size, created, hits))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    listed = hotlist_plates(args.hotlist_size, args.seed)
    misses = miss_plates(args.batch_size * args.templates, listed, args.seed + 1)
    factory = BatchFactory(args.batch_size, args.hit_fraction, listed, misses, args.templates, args.image_bytes,
                           args.seed)
    print(f"[setup] {args.backend}: hot list {args.hotlist_size:,}, batches of {args.batch_size}, {args.clients} "
          f"clients, {factory.hits_per_batch} listed plates per batch", flush=True)
    password = "bench-" + secrets.token_urlsafe(12)
    async with backend(args.backend, keep=args.keep) as be:
        seed_s = await seed_hotlist(be.db_url, listed)
        print(f"[setup] {be.describe}; seeded {len(listed):,} hot-list rows in {seed_s:.1f}s", flush=True)
        server = Server(be, password, workers=args.workers)
        await server.start()
        print(f"[setup] alpr serve pid {server.pid} ready on {server.base_url} in {server.startup_s:.1f}s", flush=True)
        try:
            world = await setup_world(server.base_url, password)
            return await _measure(args, server, be, world, factory, seed_s)
        finally:
            server.stop()
            if args.keep:
                print(f"[keep] data dir {be.data_dir}, server log {server.log_path}")


async def _measure(args: argparse.Namespace, server: Server, be: Any, world: Any, factory: BatchFactory,
                   seed_s: float) -> dict[str, Any]:
    url = server.base_url + "/api/v1/detections"
    headers = {"Authorization": f"Bearer {world.camera_token}", "Content-Type": "application/json"}
    interval = (args.clients * args.batch_size / args.rate) if args.rate > 0 else 0.0
    busy_before = None
    if args.quiet_wait > 0:
        busy_before = await asyncio.to_thread(wait_for_quiet, args.quiet_max_busy, args.quiet_wait)
        print(f"[run] machine busy before start: {busy_before:.0f}% of all cores", flush=True)
    rows: list[tuple[float, float, int, int, int, int]] = []
    connector = aiohttp.TCPConnector(limit=args.clients * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        t0 = time.perf_counter()
        w_start, w_end = t0 + args.warmup, t0 + args.warmup + args.duration
        tasks = [asyncio.create_task(client(http, url, headers, factory, w_end, interval, rows))
                 for _ in range(args.clients)]
        print(f"[run] warming up {args.warmup}s, then measuring {args.duration}s", flush=True)
        await asyncio.sleep(args.warmup)
        m0 = await scrape_metrics(server.base_url)
        cpu = CpuMeter(server, [], backing_service_pids(be))
        cpu.start()
        profiler = None
        if args.py_spy:
            profiler = start_py_spy(server.pid, args)
        await asyncio.sleep(max(0.0, w_end - time.perf_counter()))
        cpu_stats = cpu.stop()
        m1 = await scrape_metrics(server.base_url)
        await asyncio.wait(tasks, timeout=180)  # the batches in flight at the end finish (not counted)
        if profiler:
            profiler.wait(60)

    done = [r for r in rows if w_start <= r[1] < w_end]
    ok = [r for r in done if r[2] == 201]
    created = sum(r[4] for r in ok)
    result = {
        "bench": "batch_ingest", "backend": args.backend, "backend_detail": be.describe,
        "command": " ".join(sys.argv), "environment": environment(),
        "params": {"workers": args.workers, "batch_size": args.batch_size, "clients": args.clients, "duration_s": args.duration,
                   "warmup_s": args.warmup, "hotlist_size": args.hotlist_size, "hit_fraction": args.hit_fraction,
                   "rate_cap": args.rate, "image_bytes": args.image_bytes, "seed": args.seed},
        "setup": {"seed_hotlist_s": round(seed_s, 2), "server_startup_s": round(server.startup_s, 2)},
        "throughput": {"detections_per_s": round(created / args.duration, 1),
                       "batches_per_s": round(len(ok) / args.duration, 2),
                       "batches_ok": len(ok), "batches_failed": len(done) - len(ok),
                       "statuses": _statuses(done), "detections_created": created,
                       "hits_raised": sum(r[5] for r in ok)},
        "batch_latency_ms": summarize_ms(r[1] - r[0] for r in ok),
        "cpu": cpu_stats, "machine_busy_before_start_pct": busy_before,
        "server_metrics": metrics_delta(m0, m1),
        "py_spy": args.py_spy,
    }
    return result


def _statuses(rows: list[tuple[float, float, int, int, int, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[str(r[2])] = out.get(str(r[2]), 0) + 1
    return out


def report(r: dict[str, Any]) -> str:
    t, cpu, p = r["throughput"], r["cpu"], r["params"]
    rows = [
        ("backend", r["backend_detail"]),
        ("hot list", f"{p['hotlist_size']:,} entries"),
        ("load", f"{p['clients']} clients x batches of {p['batch_size']}, hit fraction {p['hit_fraction']}"
                 + (f", capped at {p['rate_cap']} det/s" if p["rate_cap"] else ", closed loop")),
        ("THROUGHPUT", f"{t['detections_per_s']:,} detections/s  ({t['batches_per_s']} batches/s)"),
        ("batches (window)", f"{t['batches_ok']} ok, {t['batches_failed']} failed {t['statuses']}; "
                             f"{t['detections_created']:,} created, {t['hits_raised']} hits"),
        ("batch latency", fmt_ms(r["batch_latency_ms"], ("p50", "p90", "p99", "max"))),
        ("server CPU", f"{cpu.get('server_cpu_pct')}% (python)  + {cpu.get('server_helpers_cpu_pct')}% "
                       f"(embedded redis)"),
        ("PostgreSQL + Redis CPU", f"{cpu.get('db_and_redis_services_cpu_pct')}%"),
        ("load generator CPU", f"{cpu.get('load_generator_cpu_pct')}%"),
        ("machine CPU", f"{cpu.get('machine_cpu_pct')}% of {cpu.get('machine_cores', 0) * 100}% "
                        f"(other processes: {cpu.get('other_processes_cpu_pct')}%, load avg {cpu.get('loadavg_1m')})"),
    ]
    for name, m in r["server_metrics"].items():
        rows.append((f"server {name}", f"mean {m['mean_ms']} ms (n={m['count']})"))
    rows.append(("target >= 5,000 det/s", "PASS" if t["detections_per_s"] >= 5000 else "FAIL"))
    return table(rows, f"batch ingest — {r['backend']}, {p['duration_s']}s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--rate", type=float, default=0,
                    help="cap on detections/s over all clients; 0 = as fast as the server answers (%(default)s)")
    ap.add_argument("--duration", type=float, default=15, help="measured seconds (%(default)s)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds before measuring (%(default)s)")
    ap.add_argument("--hotlist-size", type=int, default=100_000, help="hot-list entries seeded (%(default)s)")
    ap.add_argument("--hit-fraction", type=float, default=0.02, help="share of reads of listed plates (%(default)s)")
    ap.add_argument("--batch-size", type=int, default=1000, help="detections per POST, at most 1000 (%(default)s)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent posting clients (%(default)s)")
    ap.add_argument("--templates", type=int, default=8, help="distinct batch templates (%(default)s)")
    ap.add_argument("--image-bytes", type=int, default=0,
                    help="attach a plate image of this many bytes to every read (%(default)s: none)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not 1 <= args.batch_size <= 1000:
        raise SystemExit("--batch-size must be 1..1000")
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    print()
    print(report(result))
    if not args.no_save:
        print(f"\nresults: {write_result('batch_ingest', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
