"""Does matching slow down as the hot list grows? Alert latency with a small and an NCIC-sized list, in one run.

Runs bench/alert_latency.py on a hot list of --small and of --large entries, alternating --repeat times in A B B A
order, with the same load and seeds (each run a fresh backend and server; 40 s at 500 reads/s, 4% of them hits,
unless other alert_latency options are given), pools each size's alerts over its runs and compares the pooled p99s,
the 1,000-entry list as the baseline. The issue's bar: p99 at 1,000,000 entries within 10% of p99 at 1,000.

A B B A, so neither size is always the one run second: in A B A B order the million-entry list, always second, came
out faster in four of six runs (by up to 25%). The server's garbage-collector pauses are reported beside, since they
stop every request.

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
from bench.common import summarize_ms, table, write_result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=1_000, help="entries on the small list (%(default)s)")
    ap.add_argument("--large", type=int, default=1_000_000, help="entries on the large list (%(default)s)")
    ap.add_argument("--repeat", type=int, default=4,
                    help="runs of each size, alternating A B B A ...; even, so each size goes first as often (%(default)s)")
    own, rest = ap.parse_known_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    runs: dict[str, list[Any]] = {"small": [], "large": []}
    defaults = ["--duration", "40", "--hit-fraction", "0.04"]  # ~800 alerts a run: p99 is the 8th slowest
    sizes = [("small", own.small), ("large", own.large)]
    for k in range(own.repeat):
        # Alternating, so a change in the machine's load falls on both sizes, and in A B B A order, so neither size
        # is always the one run second (on a warmed-up machine).
        for label, size in (sizes if k % 2 == 0 else sizes[::-1]):
            args = alert_latency.parse_args([*defaults, *rest, "--hotlist-size", str(size), "--no-save"])
            runs[label].append(asyncio.run(alert_latency.run(args)))
            print(alert_latency.report(runs[label][-1]), flush=True)

    def p99s(label: str) -> list[float]:
        return [r["alert_latency_ms"].get("p99_ms", float("nan")) for r in runs[label]]

    def pooled(label: str) -> dict[str, float]:
        # All alerts of a size's runs together: 3 runs give ~2,400 alerts, so p99 is the ~24th slowest instead of
        # one run's ~8th, and one stray stall moves it far less.
        samples = [v / 1000 for r in runs[label] for v in r["alert_latency_samples_ms"]]
        return summarize_ms(samples)

    def match_ms(label: str) -> str:
        means = [r["server_metrics"].get("alpr_match_seconds", {}).get("mean_ms") for r in runs[label]]
        return ", ".join("n/a" if m is None else f"{m:.3f}" for m in means)

    def gc_pauses(label: str) -> str:
        # The server's collector pauses stop every request: a difference in them between the sizes is not matching.
        def one_run(m: dict[str, Any]) -> str:
            gens = [m.get(f"alpr_gc_pause_seconds_gen{g}", {}) for g in range(3)]
            return " / ".join(f"{p.get('count', 0)}×{p.get('total_ms', 0)}" for p in gens)

        return "; ".join(one_run(r["server_metrics"]) for r in runs[label])

    pools = {label: pooled(label) for label in runs}
    small, large = pools["small"], pools["large"]
    ratio = large["p99_ms"] / small["p99_ms"] if small.get("p99_ms") else None
    result = {"bench": "hotlist_size", "backend": args.backend, "runs": runs, "pooled_small_ms": small,
              "pooled_large_ms": large, "p99_ratio_large_to_small": ratio}

    def line(label: str) -> str:
        p = pools[label]
        return (f"pooled p50 {p['p50_ms']:.2f}, p90 {p['p90_ms']:.2f}, p99 {p['p99_ms']:.2f} ms "
                f"over {p['count']:,} alerts; per-run p99 {', '.join(f'{v:.2f}' for v in p99s(label))} ms; "
                f"server match step mean {match_ms(label)} ms")

    rows = [
        (f"{own.small:,} entries", line("small")),
        (f"{own.large:,} entries", line("large")),
        (f"server GC, {own.small:,}", f"collections × ms in all, generation 0 / 1 / 2, per run: {gc_pauses('small')}"),
        (f"server GC, {own.large:,}", f"collections × ms in all, generation 0 / 1 / 2, per run: {gc_pauses('large')}"),
        ("p99 large / small (pooled)", f"{ratio:.3f}" if ratio else "n/a"),
        # The small list is the baseline (bench/README.md's rule: a ratio against a baseline of the same run).
        ("target: within 10% of the 1,000-entry p99", "PASS" if ratio is not None and abs(ratio - 1) <= 0.10
         else "FAIL"),
    ]
    print()
    print(table(rows, f"alert latency by hot-list size — {args.backend}"))
    if "--no-save" not in rest:
        print(f"\nresults: {write_result('hotlist_size', args.backend, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
