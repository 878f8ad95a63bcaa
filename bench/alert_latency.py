"""Alert latency under open-loop load: POST single detections at a fixed rate, time POST -> websocket `hit`.

A real `alpr serve` is started on a fresh backend whose hot list is seeded straight into the database. An officer of
the camera's unit listens on /ws/alerts. Sender processes fire POST /api/v1/detections on a fixed schedule (request i
at t0 + i/rate) whether or not earlier requests were answered, so a slow server shows up as latency instead of as a
lower request rate (no coordinated omission). A fraction of the reads are of listed plates; each such read uses a
plate not used before, so every one raises a new `hit` (no folding), and no other read matches anything, not even
OCR-equivalently.

    python bench/alert_latency.py --backend embedded
    python bench/alert_latency.py --backend postgres --rate 500 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import random
import secrets
import sys
import time
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

NS = 1_000_000_000


# ------------------------------------------------------------------------------------------------ sender (a process)
def sender_main(base_url: str, token: str, work: list[tuple[int, float, bytes]], conn_limit: int, http_kind: str,
                ready: Any, start: Any, results: Any) -> None:
    """Fire each (index, offset_s, body) at t0 + offset_s; report (index, scheduled, sent, done, status) in ns."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_sender(base_url, token, work, conn_limit, http_kind, ready, start, results))


async def _sender(base_url: str, token: str, work: list[tuple[int, float, bytes]], conn_limit: int, http_kind: str,
                  ready: Any, start: Any, results: Any) -> None:
    path = "/api/v1/detections"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    out: list[tuple[int, int, int, int, int]] = []
    perf = time.perf_counter_ns

    if http_kind == "raw":
        from bench.rawhttp import RawPool

        pool = RawPool(base_url, conn_limit)
        prepared = [(i, off, pool.build("POST", path, body, headers)) for i, off, body in work]
        await pool.warm(8)

        async def post(raw: bytes) -> int:
            return (await pool.send(raw))[0]

        async def close() -> None:
            await pool.close()
    else:
        connector = aiohttp.TCPConnector(limit=conn_limit, keepalive_timeout=60, ttl_dns_cache=None)
        http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))
        url = base_url + path
        prepared = work

        async def warm() -> None:
            async with http.get(base_url + "/healthz") as r:
                await r.read()
        await asyncio.gather(*(warm() for _ in range(8)))

        async def post(body: bytes) -> int:
            async with http.post(url, data=body, headers=headers) as r:
                await r.read()
                return r.status

        async def close() -> None:
            await http.close()

    del work
    gc.collect()
    gc.freeze()  # everything built so far lives for the whole run; keep the collector off it
    ready.put(True)
    t0 = await asyncio.to_thread(start.get)

    pending: dict[int, tuple[int, int]] = {}  # index -> (scheduled, sent) of requests not yet answered

    async def one(i: int, sched: int, req: bytes) -> None:
        sent = perf()
        pending[i] = (sched, sent)
        try:
            status = await post(req)
        except Exception:  # noqa: BLE001 - every failure is an error of the run
            status = -1
        del pending[i]
        out.append((i, sched, sent, perf(), status))

    tasks = set()
    for i, offset, req in prepared:
        sched = t0 + int(offset * NS)
        delay = (sched - perf()) / NS
        if delay > 0.0005:
            await asyncio.sleep(delay)
        t = asyncio.create_task(one(i, sched, req))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    now = perf()
    for i, (sched, sent) in pending.items():  # never answered within 30 s of the last send: status -2
        out.append((i, sched, sent, now, -2))
    for t in tasks:
        t.cancel()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(close(), 5)
    results.put(out)


# --------------------------------------------------------------------------------------------------------- the run
async def listen(ws: aiohttp.ClientWebSocketResponse, received: dict[str, tuple[int, str]],
                 stats: dict[str, int]) -> None:
    perf = time.perf_counter_ns
    async for msg in ws:
        now = perf()
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        data = json.loads(msg.data)
        kind = data.get("type")
        stats[kind] = stats.get(kind, 0) + 1
        if kind in ("hit", "hit_update"):
            det_id = data["hit"]["detection"]["id"]
            received.setdefault(det_id, (now, kind))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    total = int(args.rate * (args.warmup + args.duration))
    n_hits = round(total * args.hit_fraction)
    print(f"[setup] {args.backend}: hot list {args.hotlist_size:,}, {total:,} requests at {args.rate}/s "
          f"({args.warmup}s warm-up + {args.duration}s measured), {n_hits} of them hits", flush=True)
    listed = hotlist_plates(args.hotlist_size, args.seed)
    if n_hits > len(listed):
        raise SystemExit("more hits than listed plates; raise --hotlist-size or lower --hit-fraction")
    hit_plates = rng.sample(listed, n_hits)
    misses = miss_plates(total - n_hits, listed, args.seed + 1)
    hit_index = set(rng.sample(range(total), n_hits))
    image = fake_jpeg_b64(args.image_bytes)
    bodies: list[bytes] = []
    det_ids: list[str] = []
    is_hit: list[bool] = []
    hp, mp_ = iter(hit_plates), iter(misses)
    for i in range(total):
        hit = i in hit_index
        d = detection(next(hp) if hit else next(mp_), rng, image)
        bodies.append(json.dumps(d, separators=(",", ":")).encode())
        det_ids.append(d["id"])
        is_hit.append(hit)

    password = "bench-" + secrets.token_urlsafe(12)
    async with backend(args.backend, keep=args.keep) as be:
        seed_s = await seed_hotlist(be.db_url, listed)
        print(f"[setup] {be.describe}; seeded {len(listed):,} hot-list rows in {seed_s:.1f}s", flush=True)
        server = Server(be, password, workers=args.workers)
        await server.start()
        print(f"[setup] alpr serve pid {server.pid} ready on {server.base_url} in {server.startup_s:.1f}s "
              f"(migrations + hot-list index rebuild)", flush=True)
        try:
            return await _measure(args, server, be, bodies, det_ids, is_hit, total, n_hits, password, seed_s)
        finally:
            server.stop()
            if args.keep:
                print(f"[keep] data dir {be.data_dir}, server log {server.log_path}")


async def _measure(args: argparse.Namespace, server: Server, be: Any, bodies: list[bytes], det_ids: list[str],
                   is_hit: list[bool], total: int, n_hits: int, password: str, seed_s: float) -> dict[str, Any]:
    world = await setup_world(server.base_url, password)
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    starts = [ctx.Queue() for _ in range(args.clients)]
    procs = []
    for k in range(args.clients):
        work = [(i, i / args.rate, bodies[i]) for i in range(k, total, args.clients)]
        p = ctx.Process(target=sender_main, args=(server.base_url, world.camera_token, work, args.conn_limit,
                                                  args.http, ready, starts[k], results), daemon=True)
        p.start()
        procs.append(p)
    for _ in procs:
        await asyncio.to_thread(ready.get, True, 60)

    received: dict[str, tuple[int, str]] = {}
    ws_stats: dict[str, int] = {}
    async with aiohttp.ClientSession() as http, http.ws_connect(
            server.ws_url, headers={"Authorization": f"Bearer {world.officer_token}"}, heartbeat=None) as ws:
        hello = await ws.receive_json(timeout=10)
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
        listener = asyncio.create_task(listen(ws, received, ws_stats))

        busy_before = None
        if args.quiet_wait > 0:
            busy_before = await asyncio.to_thread(wait_for_quiet, args.quiet_max_busy, args.quiet_wait)
            print(f"[run] machine busy before start: {busy_before:.0f}% of all cores", flush=True)
        cpu = CpuMeter(server, [p.pid for p in procs], backing_service_pids(be))
        profiler = None
        t0 = time.perf_counter_ns() + NS // 2
        for q in starts:
            q.put(t0)
        print(f"[run] {args.clients} sender process(es) started; warming up {args.warmup}s", flush=True)
        await asyncio.sleep((t0 - time.perf_counter_ns()) / NS + args.warmup)
        m0 = await scrape_metrics(server.base_url)
        cpu.start()
        if args.py_spy:
            profiler = start_py_spy(server.pid, args)
        print(f"[run] measuring {args.duration}s", flush=True)
        await asyncio.sleep(args.duration)
        cpu_stats = cpu.stop()
        m1 = await scrape_metrics(server.base_url)
        rows: list[tuple[int, int, int, int, int]] = []
        for _ in procs:
            rows.extend(await asyncio.to_thread(results.get, True, 120))
        for p in procs:
            p.join(10)
        await asyncio.sleep(args.drain)  # late alerts still count, as latency
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        if profiler:
            profiler.wait(60)

    # Window: requests scheduled inside the measured seconds.
    w_start = t0 + int(args.warmup * NS)
    w_end = w_start + int(args.duration * NS)
    in_window = [r for r in rows if w_start <= r[1] < w_end]
    ok = [r for r in in_window if 200 <= r[4] < 300]
    errors = len(in_window) - len(ok)
    http_lat = summarize_ms((r[3] - r[2]) / NS for r in ok)
    http_hits = summarize_ms((r[3] - r[2]) / NS for r in ok if is_hit[r[0]])
    http_misses = summarize_ms((r[3] - r[2]) / NS for r in ok if not is_hit[r[0]])
    lag = summarize_ms((r[2] - r[1]) / NS for r in in_window)
    sent_in_window = sum(1 for r in rows if w_start <= r[2] < w_end)
    done_in_window = sum(1 for r in rows if w_start <= r[3] < w_end and 200 <= r[4] < 300)

    alert, alert_sched, after_http, missing, kinds = [], [], [], 0, {}
    for i, sched, sent, done, status in in_window:
        if not is_hit[i]:
            continue
        got = received.get(det_ids[i])
        if got is None:
            missing += 1
            continue
        alert.append((got[0] - sent) / NS)
        alert_sched.append((got[0] - sched) / NS)
        if 200 <= status < 300:
            after_http.append((got[0] - done) / NS)
        kinds[got[1]] = kinds.get(got[1], 0) + 1
    hits_in_window = sum(1 for r in in_window if is_hit[r[0]])
    hit_ids = {det_ids[i] for i in range(total) if is_hit[i]}
    unexpected = sum(1 for d in received if d not in hit_ids)

    result = {
        "bench": "alert_latency", "backend": args.backend, "backend_detail": be.describe,
        "command": " ".join(sys.argv), "environment": environment(),
        "params": {"workers": args.workers, "rate": args.rate, "duration_s": args.duration, "warmup_s": args.warmup,
                   "hotlist_size": args.hotlist_size, "hit_fraction": args.hit_fraction, "clients": args.clients,
                   "image_bytes": args.image_bytes, "conn_limit": args.conn_limit, "http_client": args.http,
                   "seed": args.seed},
        "setup": {"seed_hotlist_s": round(seed_s, 2), "server_startup_s": round(server.startup_s, 2)},
        "alert_latency_ms": summarize_ms(alert),
        # every alert's latency, so runs can be pooled (hotlist_size.py): one run's p99 is its ~8th slowest alert
        "alert_latency_samples_ms": sorted(round(1000 * v, 3) for v in alert),
        "alert_latency_from_schedule_ms": summarize_ms(alert_sched),
        # websocket arrival minus the same POST's HTTP answer: what alert delivery adds (negative: alert came first)
        "alert_after_http_answer_ms": summarize_ms(after_http, (50, 99)),
        "alerts": {"hit_requests_in_window": hits_in_window, "received": len(alert), "missing": missing,
                   "by_type": kinds, "unexpected": unexpected, "ws_messages": ws_stats},
        "http_latency_ms": http_lat, "http_latency_hit_reads_ms": http_hits, "http_latency_miss_reads_ms": http_misses,
        "sender_lag_ms": lag,
        "requests": {"scheduled_in_window": len(in_window), "ok": len(ok), "errors": errors,
                     "statuses": _statuses(in_window),
                     "target_rate": args.rate, "sent_rate": round(sent_in_window / args.duration, 1),
                     "completed_rate": round(done_in_window / args.duration, 1)},
        "cpu": cpu_stats, "machine_busy_before_start_pct": busy_before,
        "server_metrics": metrics_delta(m0, m1),
        "py_spy": args.py_spy,
    }
    return result


def _statuses(rows: list[tuple[int, int, int, int, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[str(r[4])] = out.get(str(r[4]), 0) + 1
    return out


def report(r: dict[str, Any]) -> str:
    a, req, cpu = r["alerts"], r["requests"], r["cpu"]
    rows = [
        ("backend", r["backend_detail"]),
        ("hot list", f"{r['params']['hotlist_size']:,} entries"),
        ("target rate", f"{req['target_rate']} det/s, {r['params']['clients']} sender process(es) "
                        f"({r['params']['http_client']} HTTP), hit fraction {r['params']['hit_fraction']}"),
        ("sent / completed rate", f"{req['sent_rate']} / {req['completed_rate']} req/s"),
        ("requests (window)", f"{req['scheduled_in_window']:,} scheduled, {req['ok']:,} ok, {req['errors']} errors "
                              f"{req['statuses']}"),
        ("ALERT latency POST->ws", fmt_ms(r["alert_latency_ms"])),
        ("  from scheduled time", fmt_ms(r["alert_latency_from_schedule_ms"])),
        ("  minus its HTTP answer", fmt_ms(r["alert_after_http_answer_ms"], ("p50", "p99", "max"))),
        ("alerts", f"{a['received']}/{a['hit_requests_in_window']} received, {a['missing']} missing, "
                   f"{a['unexpected']} unexpected, types {a['by_type']}"),
        ("HTTP latency (all POSTs)", fmt_ms(r["http_latency_ms"], ("p50", "p90", "p99", "p99.9", "max"))),
        ("  reads that hit", fmt_ms(r["http_latency_hit_reads_ms"], ("p50", "p90", "p99", "max"))),
        ("  reads that missed", fmt_ms(r["http_latency_miss_reads_ms"], ("p50", "p90", "p99", "max"))),
        ("sender lag (sent-sched)", fmt_ms(r["sender_lag_ms"], ("p50", "p99", "max"))),
        ("server CPU", f"{cpu.get('server_cpu_pct')}% (python)  + {cpu.get('server_helpers_cpu_pct')}% "
                       f"(embedded redis)"),
        ("PostgreSQL + Redis CPU", f"{cpu.get('db_and_redis_services_cpu_pct')}%"),
        ("load generator CPU", f"{cpu.get('load_generator_cpu_pct')}%"),
        ("machine CPU", f"{cpu.get('machine_cpu_pct')}% of {cpu.get('machine_cores', 0) * 100}% "
                        f"(other processes: {cpu.get('other_processes_cpu_pct')}%, load avg {cpu.get('loadavg_1m')})"),
    ]
    for name, m in r["server_metrics"].items():
        rows.append((f"server {name}", f"mean {m['mean_ms']} ms, {100 * m['share_le_10ms']:.1f}% <= 10 ms "
                                       f"(n={m['count']}, {m['total_ms']} ms in all)"))
    p99 = r["alert_latency_ms"].get("p99_ms")
    verdict = "n/a" if p99 is None else ("PASS" if p99 <= 10 and a["missing"] == 0 else "FAIL")
    rows.append(("target p99 <= 10 ms", verdict))
    return table(rows, f"alert latency — {r['backend']}, {r['params']['duration_s']}s at {req['target_rate']}/s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--rate", type=float, default=500, help="single detections per second, open loop (%(default)s)")
    ap.add_argument("--duration", type=float, default=20, help="measured seconds (%(default)s)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds at full rate before measuring (%(default)s)")
    ap.add_argument("--hotlist-size", type=int, default=100_000, help="hot-list entries seeded (%(default)s)")
    ap.add_argument("--hit-fraction", type=float, default=0.02, help="share of reads of listed plates (%(default)s)")
    ap.add_argument("--clients", type=int, default=2, help="sender processes (%(default)s)")
    ap.add_argument("--http", choices=("raw", "aiohttp"), default="raw",
                    help="sender HTTP client: raw = bench/rawhttp.py (pre-encoded requests, least CPU), aiohttp "
                         "(%(default)s)")
    ap.add_argument("--conn-limit", type=int, default=256, help="keep-alive connection pool per sender (%(default)s)")
    ap.add_argument("--image-bytes", type=int, default=0,
                    help="attach a plate image of this many bytes to every read (%(default)s: none)")
    ap.add_argument("--drain", type=float, default=2.0, help="seconds to wait for late alerts (%(default)s)")
    return ap.parse_args(argv)


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
        print(f"\nresults: {write_result('alert_latency', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
