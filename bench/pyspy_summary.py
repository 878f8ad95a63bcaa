"""Summarise a py-spy profile recorded with `--format raw` (collapsed stacks): where the server's time goes.

    python bench/alert_latency.py --py-spy /tmp/alert.raw --py-spy-format raw
    python bench/pyspy_summary.py /tmp/alert.raw [--top 40] [--focus server/]

Prints, as shares of all samples: the functions with the most inclusive time (on the stack), the most self time (top
of the stack), a breakdown by the outermost / innermost frame under a chosen prefix (--focus, e.g. server functions),
and a breakdown of the detection-ingest path into buckets (BUCKETS below; first match wins). Record with --gil to see
what holds the GIL, which is what limits a single asyncio server process.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# Buckets for the ingest path of this server, first match wins: (label, every substring must be on the stack).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("writer: hot-list match (Redis Lua + decode)", ("IngestWriter", "HotlistIndex")),
    ("writer: raise hits (ORM fold query + flush)", ("IngestWriter", "HitService")),
    ("writer: alert publish (Redis XADD)", ("IngestWriter", "AlertPublisher")),
    ("writer: SQL insert/commit (SQLAlchemy + driver)", ("IngestWriter", "sqlalchemy/")),
    ("writer: other", ("IngestWriter",)),
    ("auth middleware: JWT verify", ("TokenAuthMiddleware", "TokenService.verify")),
    ("auth middleware: unverified JWT peek", ("TokenAuthMiddleware", "_looks_like_device")),
    ("auth middleware: camera status (Redis GET)", ("TokenAuthMiddleware", "camera_status")),
    ("auth middleware: other", ("TokenAuthMiddleware",)),
    ("handler: decode body (msgspec)", ("decode_body",)),
    ("handler: validate (clean_detection)", ("DetectionService._clean",)),
    ("handler: other (await writer, build answer)", ("post_detections",)),
    ("uvicorn: response write (RequestResponseCycle.send, 2 transport.write per response)",
     ("RequestResponseCycle.send",)),
    ("litestar: response build/encode", ("litestar/response/",)),
    ("litestar: guards (copy(handler) per guard call)", ("authorize_connection",)),
    ("litestar: DI + signature parsing", ("litestar/_kwargs/",)),
    ("litestar: DI + signature parsing", ("litestar/_signature/",)),
    ("litestar: other (middleware, routing, request, headers)", ("litestar/",)),
    ("uvicorn: HTTP parsing / protocol", ("uvicorn/protocols",)),
    ("alerts: hub + websocket writer", ("server/alerts/",)),
    ("aiosqlite worker threads (sqlite3 C)", ("_connection_worker_thread",)),
    ("asyncpg protocol", ("asyncpg/",)),
    # SQLAlchemy's async layer runs its sync code in greenlets, whose stacks py-spy shows without the awaiting caller.
    ("SQLAlchemy (greenlet): Core Connection.execute", ("^Connection.execute (sqlalchemy/",)),
    ("SQLAlchemy (greenlet): ORM Session execute/flush/commit", ("^Session.",)),
    ("SQLAlchemy (greenlet): other", ("^", "sqlalchemy/")),
    ("redis-py (outside the above)", ("redis/",)),
    ("event loop self (uvloop C: epoll, callbacks, socket I/O)", ("Runner.run",)),
]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        stacks.append((stack.split(";"), n))
    return stacks


def short(frame: str, with_line: bool = False) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3.12/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file}{':' + m['line'] if with_line and m['line'] else ''})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", type=Path, help="py-spy raw (collapsed) output")
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument("--focus", default="server/", help="file prefix for the 'by first frame' breakdown (%(default)s)")
    ap.add_argument("--lines", action="store_true", help="keep line numbers (separate entries per line)")
    ap.add_argument("--ignore", default="server/cli.py", help="frames from this file do not count as --focus frames")
    args = ap.parse_args(argv)

    stacks = parse(args.profile)
    total = sum(n for _, n in stacks)
    if not total:
        print("no samples")
        return 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    focus: Counter[str] = Counter()
    deepest_focus: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for frames, n in stacks:
        joined = "^" + ";".join(frames)
        for label, needles in BUCKETS:
            if all(x in joined for x in needles):
                buckets[label] += n
                break
        else:
            buckets["other"] += n
        names = [short(f, args.lines) for f in frames]
        for name in set(names):
            inclusive[name] += n
        self_time[names[-1]] += n
        inside = [nm for nm in names if f"({args.focus}" in nm and f"({args.ignore}" not in nm]
        focus[inside[0] if inside else "(outside " + args.focus + ")"] += n
        deepest_focus[inside[-1] if inside else "(outside " + args.focus + ")"] += n

    def show(title: str, counter: Counter[str]) -> None:
        print(f"\n{title}")
        for name, n in counter.most_common(args.top):
            print(f"  {100 * n / total:6.1f}%  {name}")

    print(f"{args.profile}: {total} samples")
    show("inclusive (on the stack)", inclusive)
    show("self (top of the stack)", self_time)
    show(f"by outermost {args.focus} frame", focus)
    show(f"by innermost {args.focus} frame (time below it is charged to it)", deepest_focus)
    show("ingest-path buckets (first match in BUCKETS)", buckets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
