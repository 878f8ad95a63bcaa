"""OCR worker throughput: whole frames read per second, by one process and by several, on a CPU or a GPU.

Reads the frames of ../shared/datasets/us-plates/ (never copied into the project) as `alpr ocr worker` does:
decode the JPEG, find and read the plates (PlateReader.read_frame). Each configuration starts its processes,
lets each load the recogniser and read one frame unmeasured, then times the whole set (`--passes` times over)
from a common start: frames/s is frames over that wall time; latency is each frame's own time in its process.
The recogniser runs on the GPU when torch sees one (`--device cpu` forces the CPU). Each process gets an equal
share of the CPU cores for torch and OpenCV, so N processes never oversubscribe the machine.

    python bench/ocr_throughput.py                            # 1 process and one per core, this machine
    python bench/ocr_throughput.py --processes 1,4,8,16 --json out.json
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "us-plates" / "frames"
RESULTS = Path(__file__).resolve().parent / "results"


def _worker(device: str | None, threads: int, tasks, results, start) -> None:  # noqa: ANN001
    """One reader process: load the model, read one frame unmeasured, then read frames until told to stop."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    from ocr_worker.reader import PlateReader
    from ocr_worker.recognizer import Recognizer

    recognizer = Recognizer(device=device)
    reader = PlateReader(recognizer)
    reader.read_frame(cv2.imread(str(DATASET / _first_image())))  # CUDA/cuDNN set-up and caches, outside timing
    results.put(("ready", str(recognizer.device), recognizer.weights))
    start.wait()
    while (task := tasks.get()) is not None:
        index, name = task
        t0 = time.perf_counter()
        reads = reader.read_frame(cv2.imread(str(DATASET / name)))
        results.put(("read", index, reads[0].plate if reads else "", (time.perf_counter() - t0) * 1000))


def _first_image() -> str:
    return _labels()[0]["image"]


def _labels() -> list[dict]:
    with (DATASET / "labels.csv").open() as fh:
        return list(csv.DictReader(fh))


def measure(processes: int, rows: list[dict], passes: int, device: str | None) -> dict:
    """Read every frame `passes` times with `processes` reader processes; frames/s, latency, accuracy."""
    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    tasks, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    jobs = [(k, rows[k % len(rows)]["image"]) for k in range(len(rows) * passes)]
    for job in jobs:
        tasks.put(job)
    for _ in range(processes):
        tasks.put(None)
    threads = max(1, (os.cpu_count() or 1) // processes)
    procs = [ctx.Process(target=_worker, args=(device, threads, tasks, results, start)) for _ in range(processes)]
    for p in procs:
        p.start()
    ready = [results.get(timeout=600) for _ in procs]
    t0 = time.perf_counter()
    start.set()
    reads = [results.get(timeout=600) for _ in jobs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)
    ms = sorted(r[3] for r in reads)
    first_pass = {r[1]: r[2] for r in reads if r[1] < len(rows)}
    exact = sum(first_pass[k] == rows[k]["plate"] for k in range(len(rows))) / len(rows)
    return {"processes": processes, "threads_each": threads, "device": ready[0][1], "recogniser": ready[0][2],
            "frames": len(jobs), "wall_s": round(wall, 2), "frames_per_s": round(len(jobs) / wall, 2),
            "median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "exact_first_pass": round(exact, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = os.cpu_count() or 1
    ap.add_argument("--processes", default=f"1,{cores}", help="comma-separated process counts to measure")
    ap.add_argument("--passes", type=int, default=2, help="times each frame is read per configuration")
    ap.add_argument("--limit", type=int, default=None, help="only the first N frames")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: a GPU when torch sees one")
    ap.add_argument("--json", metavar="PATH", nargs="?", const="", default=None,
                    help="write the results as JSON (default path bench/results/ocr-throughput-<time>.json)")
    args = ap.parse_args()
    if not DATASET.is_dir():
        sys.exit(f"the dataset is not at {DATASET}")
    rows = _labels()[: args.limit] if args.limit else _labels()
    report = {"started": datetime.now(UTC).isoformat(), "machine": platform.node(), "cpus": cores,
              "command": " ".join(["python", "bench/ocr_throughput.py", *sys.argv[1:]]), "runs": []}
    for n in (int(v) for v in args.processes.split(",") if v.strip()):
        run = measure(n, rows, args.passes, args.device)
        report["runs"].append(run)
        print(f"{run['processes']:2} process(es) x {run['threads_each']} thread(s) on {run['device']:6} "
              f"{run['frames_per_s']:7.2f} frames/s  median {run['median_ms']:6.1f} ms  p95 {run['p95_ms']:6.1f} ms"
              f"  exact {run['exact_first_pass']:.1%}  ({run['frames']} frames, {run['wall_s']} s, "
              f"{run['recogniser']})", flush=True)
    if args.json is not None:
        path = Path(args.json) if args.json else RESULTS / f"ocr-throughput-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"results: {path}")


if __name__ == "__main__":
    main()
