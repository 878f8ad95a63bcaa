"""Alert latency while the retention purge removes a large backlog of expired detections.

A real `alpr serve` runs on a fresh backend with a seeded hot list; N expired detections (captured 20 days ago,
some with encrypted images and data keys, some with hits) are bulk-inserted straight into the database. Then the
open-loop sender of bench/alert_latency.py posts single reads at --rate (a share of them hits, each pushed to an
officer's websocket), and after a baseline the purge is started through POST /api/v1/retention/run. Alert latency
(POST -> websocket `hit`) is reported for reads scheduled before the purge and for those scheduled while it ran.

    python bench/purge.py --backend embedded --expired 1000000 --rate 500
    python bench/purge.py --backend postgres --expired 100000 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.alert_latency import listen, sender_main
from bench.common import (
    ADMIN_USER,
    CpuMeter,
    Server,
    add_common_arguments,
    backend,
    backing_service_pids,
    detection,
    environment,
    fmt_ms,
    hotlist_plates,
    miss_plates,
    random_plate,
    seed_hotlist,
    setup_world,
    summarize_ms,
    table,
    wait_for_quiet,
    write_result,
)

NS = 1_000_000_000


class PurgeServer(Server):
    """`alpr serve` with the purge schedule off (the bench starts it) and the batch settings under test."""

    def __init__(self, *args: Any, extra_env: dict[str, str], **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self.extra_env = extra_env

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}


async def seed_expired(db_url: str, data_dir: Path, camera_id: str, unit_id: int, n: int, image_fraction: float,
                       image_bytes: int, hit_fraction: float, hotlist_size: int, seed: int,
                       chunk: int = 10_000) -> dict[str, int]:
    """Bulk-insert n detections captured 20 days ago, with sealed images (under the server's own KEK) and hits."""
    from sqlalchemy import insert

    from server.common.crypto import Keyring
    from server.db import create_engine
    from server.detections.evidence import seal_images
    from server.detections.models import DataKey, Detection, DetectionImage
    from server.hits.models import Hit, HitRead
    from server.settings import load_settings

    keyring = Keyring(*load_settings({}, data_dir=data_dir).key_encryption_keys())
    rng = random.Random(seed)
    base = datetime.now(UTC) - timedelta(days=20)
    engine = create_engine(db_url)
    counts = {"detections": 0, "images": 0, "hits": 0}
    image = b"\xff\xd8\xff\xe0" + bytes(rng.getrandbits(8) for _ in range(max(0, image_bytes - 4)))
    try:
        for start in range(0, n, chunk):
            rows, images, hits = [], [], []
            for i in range(start, min(n, start + chunk)):
                det_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                # In capture order, as a camera fleet's reads arrive: the oldest rows are also the first stored, so
                # a purge of the oldest walks the table's pages in order (an earlier seed, `i % 86_400`, scattered
                # each second's reads 86,400 rows apart, which no real backlog does).
                captured = base - timedelta(seconds=86_400 * (n - i) / n)
                with_image = rng.random() < image_fraction
                rows.append({"id": det_id, "camera_id": camera_id, "unit_id": unit_id, "plate": random_plate(rng),
                             "state": "AK", "confidence": 0.9, "captured_at": captured, "received_at": captured,
                             "lat": 61.2, "lon": -149.9, "heading": 90.0, "vehicle_make": "TOYT",
                             "vehicle_model": None, "vehicle_color": "BLK", "vehicle_type": "PK",
                             "vehicle_features": None, "image_kinds": "plate" if with_image else ""})
                if with_image:
                    images.append((det_id, "plate", "image/jpeg", image))
                if rng.random() < hit_fraction:
                    hits.append({"detection_id": det_id, "entry_id": rng.randint(1, hotlist_size), "unit_id": unit_id,
                                 "plate": rows[-1]["plate"], "match_kind": "exact", "category": "stolen_vehicle",
                                 "priority": 4, "status": "closed", "outcome": "misread", "created_at": captured,
                                 "last_read_at": captured, "closed_at": captured})
            image_rows, key_rows = seal_images(keyring, images)
            async with engine.begin() as conn:
                await conn.execute(insert(Detection.__table__), rows)
                if images:
                    await conn.execute(insert(DataKey.__table__), key_rows)
                    await conn.execute(insert(DetectionImage.__table__), image_rows)
                for h in hits:
                    hit_id = (await conn.execute(insert(Hit.__table__).values(**h).returning(Hit.id))).scalar_one()
                    await conn.execute(insert(HitRead.__table__).values(hit_id=hit_id, detection_id=h["detection_id"]))
            counts["detections"] += len(rows)
            counts["images"] += len(images)
            counts["hits"] += len(hits)
            if (start // chunk) % 10 == 0:
                print(f"[seed] {counts['detections']:,} expired detections", flush=True)
    finally:
        await engine.dispose()
    return counts


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    total = int(args.rate * (args.warmup + args.duration))
    n_hits = round(total * args.hit_fraction)
    listed = hotlist_plates(args.hotlist_size, args.seed)
    hit_plates = rng.sample(listed, n_hits)
    misses = miss_plates(total - n_hits, listed, args.seed + 1)
    hit_index = set(rng.sample(range(total), n_hits))
    bodies, det_ids, is_hit = [], [], []
    hp, mp_ = iter(hit_plates), iter(misses)
    for i in range(total):
        hit = i in hit_index
        d = detection(next(hp) if hit else next(mp_), rng)
        bodies.append(json.dumps(d, separators=(",", ":")).encode())
        det_ids.append(d["id"])
        is_hit.append(hit)

    password = "bench-" + secrets.token_urlsafe(12)
    async with backend(args.backend, keep=args.keep) as be:
        seed_s = await seed_hotlist(be.db_url, listed)
        server = PurgeServer(be, password, workers=args.workers, extra_env={
            "ALPR_RETENTION_INTERVAL_SECONDS": "1000000000",
            "ALPR_RETENTION_BATCH_SIZE": str(args.batch_size),
            "ALPR_RETENTION_BATCH_PAUSE_SECONDS": str(args.batch_pause),
            "ALPR_RETENTION_MAX_DUTY": str(args.duty),
            # The listening officer's socket closes when its access token runs out (an MDT sends a fresh one;
            # this listener does not): tokens must outlive the seeding, the run and the drain.
            "ALPR_ACCESS_TOKEN_MINUTES": str(max(15, int(args.duration / 60) + 30))})
        await server.start()
        print(f"[setup] {be.describe}; hot list {len(listed):,} seeded in {seed_s:.1f}s; server ready in "
              f"{server.startup_s:.1f}s", flush=True)
        try:
            world = await setup_world(server.base_url, password)
            t = time.perf_counter()
            seeded = await seed_expired(be.db_url, be.data_dir, world.camera_id, world.unit_id, args.expired,
                                        args.image_fraction, args.image_bytes, args.expired_hit_fraction,
                                        len(listed), args.seed)
            seeded_s = time.perf_counter() - t
            print(f"[seed] {seeded} in {seeded_s:.1f}s", flush=True)
            return await _measure(args, server, be, world, password, bodies, det_ids, is_hit, total, seeded, seeded_s)
        finally:
            server.stop()


async def _measure(args: argparse.Namespace, server: Server, be: Any, world: Any, password: str,  # noqa: ANN401
                   bodies: list[bytes], det_ids: list[str], is_hit: list[bool], total: int, seeded: dict[str, int],
                   seeded_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    starts = [ctx.Queue() for _ in range(args.clients)]
    procs = []
    for k in range(args.clients):
        work = [(i, i / args.rate, bodies[i]) for i in range(k, total, args.clients)]
        p = ctx.Process(target=sender_main, args=(server.base_url, world.camera_token, work, 256, "raw", ready,
                                                  starts[k], results), daemon=True)
        p.start()
        procs.append(p)
    for _ in procs:
        await asyncio.to_thread(ready.get, True, 60)

    received: dict[str, tuple[int, str]] = {}
    ws_stats: dict[str, int] = {}
    purge: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        async with http.post(server.base_url + "/api/v1/auth/token",
                             json={"username": ADMIN_USER, "password": password}) as r:
            admin_token = (await r.json())["access_token"]

        async def run_purge() -> None:
            purge["start"] = time.perf_counter_ns()
            async with http.post(server.base_url + "/api/v1/retention/run",
                                 headers={"Authorization": f"Bearer {admin_token}"}) as r:
                purge["status"], purge["answer"] = r.status, await r.json()
            purge["end"] = time.perf_counter_ns()

        async with http.ws_connect(server.ws_url, headers={"Authorization": f"Bearer {world.officer_token}"},
                                   heartbeat=None) as ws:
            await ws.receive_json(timeout=10)
            listener = asyncio.create_task(listen(ws, received, ws_stats))
            busy_before = None
            if args.quiet_wait > 0:
                busy_before = await asyncio.to_thread(wait_for_quiet, args.quiet_max_busy, args.quiet_wait)
            cpu = CpuMeter(server, [p.pid for p in procs], backing_service_pids(be))
            t0 = time.perf_counter_ns() + NS // 2
            for q in starts:
                q.put(t0)
            await asyncio.sleep((t0 - time.perf_counter_ns()) / NS + args.warmup)
            cpu.start()
            print(f"[run] {args.rate}/s; baseline {args.baseline}s, then the purge", flush=True)
            await asyncio.sleep(args.baseline)
            purger = asyncio.create_task(run_purge())
            end_of_sending = t0 + int((args.warmup + args.duration) * NS)
            await asyncio.wait([purger], timeout=max(0.0, (end_of_sending - time.perf_counter_ns()) / NS))
            if purger.done():
                print(f"[run] purge done in {(purge['end'] - purge['start']) / NS:.1f}s: {purge.get('answer')}; "
                      "sending goes on to the end of --duration", flush=True)
            cpu_stats = cpu.stop()
            await asyncio.sleep(max(0.0, (end_of_sending - time.perf_counter_ns()) / NS))  # senders report at the end
            rows: list[tuple[int, int, int, int, int]] = []
            for _ in procs:
                rows.extend(await asyncio.to_thread(results.get, True, 120))
            for p in procs:
                p.join(10)
            if not purger.done():
                print("[run] sending stopped before the purge finished; waiting for it", flush=True)
                await purger
            await asyncio.sleep(2)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    w_start = t0 + int(args.warmup * NS)
    p_start, p_end = purge["start"], purge["end"]

    def alerts(lo: int, hi: int) -> tuple[dict[str, float], int, int, int]:
        lat, missing, errors, n = [], 0, 0, 0
        for i, sched, sent, _done, status in rows:
            if not lo <= sched < hi:
                continue
            n += 1
            errors += not 200 <= status < 300
            if is_hit[i]:
                got = received.get(det_ids[i])
                if got is None:
                    missing += 1
                else:
                    lat.append((got[0] - sent) / NS)
        return summarize_ms(lat), missing, errors, n

    base_lat, base_missing, base_errors, base_n = alerts(w_start, p_start)
    during_lat, during_missing, during_errors, during_n = alerts(p_start, p_end)
    http_during = summarize_ms((r[3] - r[2]) / NS for r in rows if p_start <= r[1] < p_end and 200 <= r[4] < 300)
    answer = purge.get("answer", {})
    purge_s = (p_end - p_start) / NS
    return {
        "bench": "purge", "backend": args.backend, "backend_detail": be.describe, "command": " ".join(sys.argv),
        "environment": environment(),
        "params": {"expired": args.expired, "rate": args.rate, "duration_s": args.duration, "baseline_s": args.baseline,
                   "batch_size": args.batch_size, "batch_pause_s": args.batch_pause, "duty": args.duty, "hotlist_size": args.hotlist_size,
                   "hit_fraction": args.hit_fraction, "image_fraction": args.image_fraction,
                   "expired_hit_fraction": args.expired_hit_fraction, "clients": args.clients, "seed": args.seed},
        "seeded": seeded, "seed_s": round(seeded_s, 1),
        "purge": {"status": purge.get("status"), "answer": answer, "seconds": round(purge_s, 1),
                  "detections_per_s": round(answer.get("purged", 0) / purge_s) if purge_s else None,
                  "finished_while_sending": p_end <= t0 + int((args.warmup + args.duration) * NS)},
        "baseline": {"alert_latency_ms": base_lat, "missing": base_missing, "errors": base_errors,
                     "requests": base_n},
        "during_purge": {"alert_latency_ms": during_lat, "missing": during_missing, "errors": during_errors,
                         "requests": during_n, "http_latency_ms": http_during},
        "cpu": cpu_stats, "machine_busy_before_start_pct": busy_before, "ws_messages": ws_stats,
    }


def report(r: dict[str, Any]) -> str:
    p, b, d = r["purge"], r["baseline"], r["during_purge"]
    p99 = d["alert_latency_ms"].get("p99_ms")
    rows = [
        ("backend", r["backend_detail"]),
        ("expired seeded", f"{r['seeded']} in {r['seed_s']} s"),
        ("ingest", f"{r['params']['rate']} det/s open loop, hit fraction {r['params']['hit_fraction']}"),
        ("purge", f"{p['answer']} in {p['seconds']} s ({p['detections_per_s']} det/s), batch "
                  f"{r['params']['batch_size']}, pause {r['params']['batch_pause_s']} s, duty {r['params']['duty']}; "
                  f"finished while sending: "
                  f"{p['finished_while_sending']}"),
        ("ALERT latency, baseline", f"{fmt_ms(b['alert_latency_ms'])} (n={b['alert_latency_ms']['count']}, "
                                    f"{b['missing']} missing, {b['errors']} errors of {b['requests']})"),
        ("ALERT latency, during purge", f"{fmt_ms(d['alert_latency_ms'])} (n={d['alert_latency_ms']['count']}, "
                                        f"{d['missing']} missing, {d['errors']} errors of {d['requests']})"),
        ("HTTP latency, during purge", fmt_ms(d["http_latency_ms"])),
        ("machine CPU", f"{r['cpu'].get('machine_cpu_pct')}% of {r['cpu'].get('machine_cores', 0) * 100}% "
                        f"(other processes {r['cpu'].get('other_processes_cpu_pct')}%)"),
        ("target p99 <= 20 ms during purge", "n/a" if p99 is None else
         ("PASS" if p99 <= 20 and d["missing"] == 0 and p["finished_while_sending"] else "FAIL")),
    ]
    return table(rows, f"purge under ingest — {r['backend']}, {r['params']['expired']:,} expired")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--expired", type=int, default=1_000_000, help="expired detections seeded (%(default)s)")
    ap.add_argument("--rate", type=float, default=500, help="single detections per second (%(default)s)")
    ap.add_argument("--duration", type=float, default=300, help="seconds of sending after warm-up; the purge must "
                    "finish inside them (%(default)s)")
    ap.add_argument("--warmup", type=float, default=3, help="(%(default)s)")
    ap.add_argument("--baseline", type=float, default=10, help="seconds measured before the purge starts (%(default)s)")
    ap.add_argument("--batch-size", type=int, default=10, help="ALPR_RETENTION_BATCH_SIZE (%(default)s)")
    ap.add_argument("--batch-pause", type=float, default=0.005, help="ALPR_RETENTION_BATCH_PAUSE_SECONDS (%(default)s)")
    ap.add_argument("--duty", type=float, default=0.3, help="ALPR_RETENTION_MAX_DUTY (%(default)s)")
    ap.add_argument("--hotlist-size", type=int, default=100_000, help="(%(default)s)")
    ap.add_argument("--hit-fraction", type=float, default=0.02, help="share of posted reads that hit (%(default)s)")
    ap.add_argument("--image-fraction", type=float, default=0.05, help="expired reads with a sealed image "
                    "(%(default)s)")
    ap.add_argument("--image-bytes", type=int, default=1024, help="(%(default)s)")
    ap.add_argument("--expired-hit-fraction", type=float, default=0.005, help="expired reads with a hit (%(default)s)")
    ap.add_argument("--clients", type=int, default=2, help="sender processes (%(default)s)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop
        uvloop.install()
    result = asyncio.run(run(args))
    print()
    print(report(result))
    if not args.no_save:
        print(f"\nresults: {write_result('purge', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
