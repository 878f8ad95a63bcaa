"""A full hot-list refresh under continuous ingest: no missed hit on a plate in both lists, none on a removed plate.

A real `alpr serve` gets list A (NCIC-style, --size entries) through POST /api/v1/hotlist/imports. A camera then sends
single reads open-loop at --rate per second (read i at t0 + i/rate, whether or not earlier ones were answered), each
of a plate not read before: 40% plates on both lists, 40% plates that the refresh removes, 20% plates on no list.
After --refresh-at seconds list B replaces A (replace=true): B keeps the "both" plates with the same records, drops
the removed ones and adds as many new plates. The run fails if any read of a "both" plate raised no hit (before,
during or after the refresh), or if any read of a removed plate sent after the refresh answered raised a hit on that plate's entry. (A read may also match another listed plate that is
OCR-equivalent to it: that hit is correct, and counted apart.)

    python bench/hotlist_refresh.py --backend embedded
    python bench/hotlist_refresh.py --backend postgres --size 200000 --duration 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    ADMIN_USER,
    Server,
    add_common_arguments,
    backend,
    detection,
    environment,
    hotlist_plates,
    miss_plates,
    setup_world,
    table,
    write_result,
)


def ncic(plates: list[tuple[int, str]]) -> bytes:
    return "".join(f"{'V':<4}{p:<10}AK{'':<4}2018TOYTCAMBLK    4DV{n:09d}20260105\n" for n, p in plates).encode()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    total = int(args.rate * args.duration)
    n_both, n_removed = round(total * 0.4), round(total * 0.4)
    n_removed_list = max(n_removed, args.size // 10)
    plates = hotlist_plates(args.size + n_removed_list, args.seed)
    numbered = list(enumerate(plates, 1))
    both, removed_list, new = numbered[:args.size - n_removed_list], numbered[args.size - n_removed_list:args.size], \
        numbered[args.size:]
    list_a, list_b = ncic(both + removed_list), ncic(both + new)
    both_reads = [p for _, p in rng.sample(both, n_both)]
    removed_reads = [p for _, p in rng.sample(removed_list, n_removed)]
    misses = miss_plates(total - n_both - n_removed, plates, args.seed + 1)
    kinds = ["both"] * n_both + ["removed"] * n_removed + ["miss"] * len(misses)
    rng.shuffle(kinds)
    pools = {"both": iter(both_reads), "removed": iter(removed_reads), "miss": iter(misses)}
    reads = [(kind, next(pools[kind])) for kind in kinds]
    password = "bench-" + secrets.token_urlsafe(12)
    async with backend(args.backend, keep=args.keep) as be:
        server = Server(be, password)
        await server.start()
        try:
            world = await setup_world(server.base_url, password)
            async with aiohttp.ClientSession(server.base_url) as http:
                async with http.post("/api/v1/auth/token", json={"username": ADMIN_USER, "password": password}) as r:
                    admin = (await r.json())["access_token"]
                t = time.perf_counter()
                first = await _import(http, admin, list_a)
                print(f"[setup] {be.describe}: list A, {first['imported']:,} entries, imported in "
                      f"{time.perf_counter() - t:.1f}s", flush=True)
                return await _measure(args, http, world.camera_token, admin, reads, list_b, be)
        finally:
            server.stop()


async def _import(http: aiohttp.ClientSession, token: str, body: bytes) -> dict[str, Any]:
    async with http.post("/api/v1/hotlist/imports", params={"source": "NCIC", "format": "ncic", "replace": "true"},
                         data=body, headers={"Authorization": f"Bearer {token}"},
                         timeout=aiohttp.ClientTimeout(total=600)) as r:
        text = await r.text()
        if r.status != 201:
            raise RuntimeError(f"import answered {r.status}: {text[:500]}")
        return json.loads(text)


async def _measure(args: argparse.Namespace, http: aiohttp.ClientSession, camera: str, admin: str,
                   reads: list[tuple[str, str]], list_b: bytes, be: Any) -> dict[str, Any]:
    rng = random.Random(args.seed + 2)
    headers = {"Authorization": f"Bearer {camera}", "Content-Type": "application/json"}
    results: list[tuple[str, float, int, int]] = []  # kind, sent at, status, hits on the read plate's own entry
    other_entry_hits = 0  # hits on another entry whose plate is OCR-equivalent to the read: correct matches
    refresh: dict[str, float] = {}
    t0 = time.perf_counter()

    async def one(kind: str, plate: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        sent = time.perf_counter() - t0
        try:
            async with http.post("/api/v1/detections", data=json.dumps(detection(plate, rng)),
                                 headers=headers) as r:
                body = await r.json()
                hits = body.get("hits", []) if r.status == 201 else []
                own = sum(1 for h in hits if h["entry"]["plate"] == plate)
                nonlocal other_entry_hits
                other_entry_hits += len(hits) - own
                results.append((kind, sent, r.status, own if r.status == 201 else -1))
        except aiohttp.ClientError:
            results.append((kind, sent, 0, -1))

    async def do_refresh() -> None:
        await asyncio.sleep(args.refresh_at)
        refresh["start"] = time.perf_counter() - t0
        summary = await _import(http, admin, list_b)
        refresh["end"] = time.perf_counter() - t0
        refresh["imported"], refresh["removed"] = summary["imported"], summary["removed"]
        print(f"[run] refresh: {summary['imported']:,} new, {summary['removed']:,} removed, "
              f"{refresh['end'] - refresh['start']:.2f}s", flush=True)

    print(f"[run] {len(reads):,} reads at {args.rate}/s; refresh at {args.refresh_at}s", flush=True)
    await asyncio.gather(do_refresh(), *(one(k, p, i / args.rate) for i, (k, p) in enumerate(reads)))
    errors = sum(1 for _, _, status, _ in results if status != 201)
    both = [(sent, hits) for kind, sent, status, hits in results if kind == "both" and status == 201]
    removed_after = [hits for kind, sent, status, hits in results
                     if kind == "removed" and status == 201 and sent > refresh["end"]]
    removed_before = [hits for kind, sent, status, hits in results
                      if kind == "removed" and status == 201 and sent < refresh["start"]]
    during = [(sent, hits) for sent, hits in both if refresh["start"] <= sent <= refresh["end"]]
    return {
        "bench": "hotlist_refresh", "backend": args.backend, "environment": environment(),
        "params": {"size": args.size, "rate": args.rate, "duration_s": args.duration, "refresh_at_s": args.refresh_at},
        "refresh": refresh, "reads": len(results), "errors": errors,
        "both": {"reads": len(both), "during_refresh": len(during), "missed": sum(1 for _, h in both if h < 1)},
        "removed": {"reads_before": len(removed_before), "hit_before": sum(1 for h in removed_before if h > 0),
                    "reads_after": len(removed_after), "hit_after": sum(1 for h in removed_after if h > 0)},
        "misses_hit": sum(1 for kind, _, status, hits in results if kind == "miss" and hits > 0),
        "ocr_equivalent_hits_on_other_entries": other_entry_hits,
    }


def report(r: dict[str, Any]) -> str:
    b, rm = r["both"], r["removed"]
    ok = b["missed"] == 0 and rm["hit_after"] == 0 and r["errors"] == 0 and r["misses_hit"] == 0
    rows = [
        ("list", f"{r['params']['size']:,} entries; refresh removes {r['refresh']['removed']:,}, "
                 f"adds {r['refresh']['imported']:,}"),
        ("reads", f"{r['reads']:,} at {r['params']['rate']}/s, {r['errors']} errors"),
        ("refresh", f"{r['refresh']['start']:.1f}s to {r['refresh']['end']:.1f}s into the run"),
        ("plates on both lists", f"{b['reads']:,} reads ({b['during_refresh']:,} during the refresh), "
                                 f"{b['missed']} without a hit"),
        ("removed plates", f"before: {rm['hit_before']:,}/{rm['reads_before']:,} hit; after: "
                           f"{rm['hit_after']}/{rm['reads_after']:,} hit"),
        ("unlisted plates that hit", r["misses_hit"]),
        ("hits on another, OCR-equivalent entry", f"{r['ocr_equivalent_hits_on_other_entries']} (correct matches, "
                                                  "not counted above)"),
        ("no missed hit, no hit on a removed plate", "PASS" if ok else "FAIL"),
    ]
    return table(rows, f"hot-list refresh under ingest — {r['backend']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--size", type=int, default=100_000, help="entries on each list (%(default)s)")
    ap.add_argument("--rate", type=float, default=500, help="reads per second, open loop (%(default)s)")
    ap.add_argument("--duration", type=float, default=70, help="seconds of reads (%(default)s)")
    ap.add_argument("--refresh-at", type=float, default=10, help="seconds into the run the refresh starts "
                                                                 "(%(default)s)")
    args = ap.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    print()
    print(report(result))
    if not args.no_save:
        print(f"\nresults: {write_result('hotlist_refresh', args.backend, result)}")
    return 0 if result["both"]["missed"] == 0 and result["removed"]["hit_after"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
