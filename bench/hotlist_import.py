"""Hot-list import at NCIC size: a generated N-line NCIC-style extract imported end to end, database and Redis index.

The file is generated first (bench/parse_formats.py's mix: mostly stolen vehicles and plates, some wanted and missing
persons, 1% immigration-violator records that are refused, junk plates, malformed lines, entry dates over two years,
about 13% already expired). Then, on a fresh backend (migrated beforehand), three imports are timed, each end to end
through ImportService (read and parse the file, plan, write the database in one transaction, update the index):

1. the first import into an empty hot list;
2. the same file again as a full refresh (nothing changes: the usual nightly case);
3. a full refresh in which 1% of the records are gone and 1% are new.

Redis memory per entry is INFO used_memory after the first import minus before, divided by the entries loaded.

    python bench/hotlist_import.py --backend embedded            # 1,000,000 lines
    python bench/hotlist_import.py --backend postgres --lines 200000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import add_common_arguments, backend, environment, migrate, table, write_result
from bench.parse_formats import generate


def refreshed(lines: list[bytes], share: float) -> list[bytes]:
    """The list a day later: `share` of the records gone, as many new ones (other plates, other NIC numbers)."""
    step = round(1 / share)
    kept = [line for i, line in enumerate(lines) if i % step]
    new = [line[:4] + b"N" + line[5:40] + b"N" + line[41:] for line in lines[::step]]  # plate and NIC changed
    return kept + new


async def timed_import(res: Any, body: bytes, replace: bool) -> tuple[float, Any]:
    from server.audit.service import Actor
    from server.hotlist.imports import ImportService

    t0 = time.perf_counter()
    summary = await ImportService(res).run(io.BytesIO(body), source="NCIC", fmt="ncic", replace=replace,
                                           size=len(body), filename="bench.ncic", actor=Actor(None, "bench", "bench"))
    return time.perf_counter() - t0, summary


async def run(args: argparse.Namespace) -> dict[str, Any]:
    print(f"[setup] generating {args.lines:,} NCIC lines", flush=True)
    lines = generate("ncic", args.lines, args.seed)
    body = b"".join(lines)
    body2 = b"".join(refreshed(lines, 0.01))
    del lines
    from server.resources import open_resources
    from server.settings import load_settings

    async with backend(args.backend, keep=args.keep) as be:
        await asyncio.to_thread(migrate, be.db_url)
        settings = load_settings({}, data_dir=be.data_dir, database_url=be.db_url,
                                 redis_url=be.env.get("REDIS_URL"), log_level="WARNING")
        sys.setswitchinterval(0.0005)  # as `alpr serve` and `alpr hotlist import` run
        async with open_resources(settings, serving=False) as res:
            mem0 = (await res.redis.info("memory"))["used_memory"]
            print(f"[run] {be.describe}: first import", flush=True)
            first_s, first = await timed_import(res, body, replace=False)
            mem1 = (await res.redis.info("memory"))["used_memory"]
            print(f"[run] first import {first_s:.2f}s; full refresh, unchanged", flush=True)
            same_s, same = await timed_import(res, body, replace=True)
            print(f"[run] unchanged refresh {same_s:.2f}s; full refresh, 1% changed", flush=True)
            changed_s, changed = await timed_import(res, body2, replace=True)
    per_entry = (mem1 - mem0) / max(first.imported, 1)
    return {
        "bench": "hotlist_import", "backend": args.backend, "environment": environment(),
        "params": {"lines": args.lines, "bytes": len(body), "seed": args.seed},
        "first": {"seconds": round(first_s, 2), "lines_per_s": round(args.lines / first_s),
                  "imported": first.imported, "merged": first.merged, "skipped": first.skipped,
                  "expired": first.expired, "bad": first.bad, "refused": first.refused},
        "refresh_unchanged": {"seconds": round(same_s, 2), "unchanged": same.unchanged, "removed": same.removed},
        "refresh_1pct": {"seconds": round(changed_s, 2), "imported": changed.imported, "removed": changed.removed,
                         "unchanged": changed.unchanged},
        "redis": {"used_memory_added_bytes": mem1 - mem0, "bytes_per_entry": round(per_entry)},
    }


def report(r: dict[str, Any]) -> str:
    f, u, c = r["first"], r["refresh_unchanged"], r["refresh_1pct"]
    rows = [
        ("lines", f"{r['params']['lines']:,} ({r['params']['bytes'] / 1e6:.0f} MB)"),
        ("first import", f"{f['seconds']:.2f} s ({f['lines_per_s']:,} lines/s): {f['imported']:,} entries, "
                         f"{f['merged']:,} merged, {f['expired']:,} expired, {f['skipped']:,} skipped, "
                         f"{f['bad']:,} bad, refused {f['refused']}"),
        ("full refresh, unchanged", f"{u['seconds']:.2f} s ({u['unchanged']:,} unchanged, {u['removed']} removed)"),
        ("full refresh, 1% changed", f"{c['seconds']:.2f} s ({c['imported']:,} new, {c['removed']:,} removed)"),
        ("Redis memory per entry", f"{r['redis']['bytes_per_entry']} bytes "
                                   f"({r['redis']['used_memory_added_bytes'] / 1e6:.0f} MB in all)"),
        ("target: 1M lines <= 10 s", "PASS" if r["params"]["lines"] >= 1_000_000 and f["seconds"] <= 10 else
         ("FAIL" if r["params"]["lines"] >= 1_000_000 else "n/a (fewer lines)")),
    ]
    return table(rows, f"hot-list import — {r['backend']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines in the generated file (%(default)s)")
    args = ap.parse_args(argv)
    result = asyncio.run(run(args))
    print()
    print(report(result))
    if not args.no_save:
        print(f"\nresults: {write_result('hotlist_import', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
