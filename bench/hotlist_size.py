"""Does matching slow down as the hot list grows? Alert latency with a small and an NCIC-sized list, in one run.

Runs bench/alert_latency.py on a hot list of --small and of --large entries, alternating --repeat times, with the
same load and seeds (each run a fresh backend and server; 40 s at 500 reads/s, 4% of them hits, unless other
alert_latency options are given), and compares the median of each size's alert p99. The issue's bar: p99 at 1,000,000
entries within 10% of p99 at 1,000.

    python bench/hotlist_size.py --backend embedded
    python bench/hotlist_size.py --backend postgres --small 1000 --large 1000000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import alert_latency
from bench.common import table, write_result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1_000, help="entries on the small list (%(default)s)")
    ap.add_argument("--large", type=int, default=1_000_000, help="entries on the large list (%(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each size, alternating (%(default)s)")
    own, rest = ap.parse_known_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    runs: dict[str, list[Any]] = {"small": [], "large": []}
    defaults = ["--duration", "40", "--hit-fraction", "0.04"]  # ~800 alerts a run: p99 is the 8th slowest
    for _ in range(own.repeat):  # alternating, so a change in the machine's load falls on both sizes
        for label, size in (("small", own.small), ("large", own.large)):
            args = alert_latency.parse_args([*defaults, *rest, "--hotlist-size", str(size), "--no-save"])
            runs[label].append(asyncio.run(alert_latency.run(args)))
            print(alert_latency.report(runs[label][-1]), flush=True)

    def p99s(label: str) -> list[float]:
        return sorted(r["alert_latency_ms"].get("p99_ms", float("nan")) for r in runs[label])

    def median(values: list[float]) -> float:
        return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1]
                                                                + values[len(values) // 2]) / 2

    small, large = median(p99s("small")), median(p99s("large"))
    ratio = large / small if small else None
    result = {"bench": "hotlist_size", "backend": args.backend, "runs": runs, "p99_small_ms": small,
              "p99_large_ms": large, "p99_ratio_large_to_small": ratio}

    def line(label: str) -> str:
        rs = runs[label]
        return (f"alert p99 {', '.join(f'{v:.2f}' for v in p99s(label))} ms (median {median(p99s(label)):.2f}); "
                f"p50 {', '.join(str(r['alert_latency_ms'].get('p50_ms')) for r in rs)} ms; "
                f"{sum(r['alerts']['received'] for r in rs)} alerts")

    rows = [
        (f"{own.small:,} entries", line("small")),
        (f"{own.large:,} entries", line("large")),
        ("p99 large / small (medians)", f"{ratio:.2f}" if ratio else "n/a"),
        ("target: within 10% of each other", "PASS" if ratio is not None and 1 / 1.10 <= ratio <= 1.10 else "FAIL"),
    ]
    print()
    print(table(rows, f"alert latency by hot-list size — {args.backend}"))
    if "--no-save" not in rest:
        print(f"\nresults: {write_result('hotlist_size', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
