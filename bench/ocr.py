"""OCR reader accuracy and speed on the shared US plate set, beside plain EasyOCR measured in the same run.

Reads ../shared/datasets/us-plates/ (frames and crops; never copied into the project) and reports, per set, top-1
exact plate accuracy, state accuracy (crops carry the state), character error rate and median ms per image, for
our reader and for plain EasyOCR (`readtext` on the whole image: the highest-confidence line of 4-8 plate
characters is its read; its state is a state name found in its text). Nothing is tuned per image.

When the reader uses the fine-tuned recogniser (ocr_worker/weights/plates_g2.pth, trained on the even rows of
crops/labels.csv), crops are scored on the odd rows only, for both readers; frames are never trained on and are
all scored. Labels write the round glyph as 0 (as the reader does) and both readers are scored against them as is.

    python bench/ocr.py                          # every frame and crop, ours and plain EasyOCR
    python bench/ocr.py --limit 30 --no-plain    # a quick look at 30 images of each set, ours only
    python bench/ocr.py --json                   # also write bench/results/ocr-<time>.json
"""

from __future__ import annotations

import argparse
import csv
import json
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
DATASET = ROOT.parent / "shared" / "datasets" / "us-plates"
RESULTS = Path(__file__).resolve().parent / "results"


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def load(kind: str, limit: int | None, held_out: bool) -> list[dict]:
    with (DATASET / kind / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if kind == "crops" and held_out:
        # The fine-tuned recogniser trained on the even rows (ocr_worker/training/finetune.py): judge it on the odd.
        rows = rows[1::2]
    if limit:
        # An even spread over the (state-sorted) list rather than its first states only.
        step = max(1, len(rows) // limit)
        rows = rows[::step][:limit]
    return rows


def plain_easyocr(reader, image) -> tuple[str, str | None]:  # noqa: ANN001
    """Plain EasyOCR: readtext on the whole image; the surest line of 4-8 plate characters; a state name if present."""
    from server.common.regions import REGION_NAMES, US_STATES

    results = reader.readtext(image)
    best, best_conf = "", -1.0
    for _, text, conf in results:
        t = "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())
        if 4 <= len(t) <= 8 and conf > best_conf:
            best, best_conf = t, conf
    words = " ".join(text.upper() for _, text, _ in results)
    states = [c for c in US_STATES if REGION_NAMES[c].upper() in words]
    state = max(states, key=lambda c: len(REGION_NAMES[c])) if states else None
    return best, state


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    out = {"images": n,
           "exact": sum(r["pred"] == r["truth"] for r in rows) / n,
           "cer": sum(edit_distance(r["pred"], r["truth"]) for r in rows) / max(1, sum(len(r["truth"]) for r in rows)),
           "median_ms": statistics.median(r["ms"] for r in rows)}
    with_state = [r for r in rows if r.get("truth_state")]
    if with_state:
        out["state"] = sum(r.get("state") == r["truth_state"] for r in with_state) / len(with_state)
    confident = [r for r in rows if r.get("low_confidence") is False]
    if confident:
        out["exact_when_confident"] = sum(r["pred"] == r["truth"] for r in confident) / len(confident)
        out["confident_share"] = len(confident) / n
    return out


def run(kind: str, rows: list[dict], reader, plain) -> dict:  # noqa: ANN001
    import cv2

    ours, base = [], []
    for row in rows:
        image = cv2.imread(str(DATASET / kind / row["image"]))
        truth = row["plate"]
        t0 = time.perf_counter()
        reads = reader.read_frame(image) if kind == "frames" else [reader.read_plate(image)]
        ms = (time.perf_counter() - t0) * 1000
        top = next((r for r in reads if r is not None), None)
        ours.append({"image": row["image"], "truth": truth, "truth_state": row.get("state"), "ms": ms,
                     "pred": top.plate if top else "", "state": top.state if top else None,
                     "confidence": top.confidence if top else 0.0,
                     "low_confidence": top.low_confidence if top else True})
        if plain is not None:
            t0 = time.perf_counter()
            pred, state = plain_easyocr(plain, image)
            base.append({"image": row["image"], "truth": truth, "truth_state": row.get("state"), "state": state,
                         "pred": pred, "ms": (time.perf_counter() - t0) * 1000})
    result = {"ours": summarise(ours), "ours_rows": ours}
    if base:
        result["plain"] = summarise(base)
        result["plain_rows"] = base
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="at most this many images per set (spread evenly)")
    ap.add_argument("--sets", default="frames,crops", help="comma-separated: frames, crops")
    ap.add_argument("--no-plain", action="store_true", help="skip plain EasyOCR (it takes ~3 s a frame on a CPU)")
    ap.add_argument("--json", action="store_true", help="write the results to bench/results/ocr-<time>.json")
    ap.add_argument("--all-crops", action="store_true",
                    help="score every crop, including the half the fine-tuned recogniser trained on (not a fair figure)")
    args = ap.parse_args()
    if not DATASET.is_dir():
        sys.exit(f"the dataset is not at {DATASET}")

    from ocr_worker.reader import PlateReader
    from ocr_worker.recognizer import Recognizer

    recognizer = Recognizer()
    reader = PlateReader(recognizer)
    plain = None
    if not args.no_plain:
        import easyocr

        from ocr_worker.models import model_dir

        plain = easyocr.Reader(["en"], gpu=recognizer.device != "cpu", model_storage_directory=str(model_dir()),
                               user_network_directory=str(model_dir()), download_enabled=False, verbose=False)
    held_out = recognizer.weights != "english_g2" and not args.all_crops
    report = {"started": datetime.now(UTC).isoformat(), "device": recognizer.device, "machine": platform.node(),
              "cpus": os.cpu_count(), "command": " ".join(["python", "bench/ocr.py", *sys.argv[1:]]),
              "recogniser": recognizer.weights, "crops": "odd rows (held out)" if held_out else "all", "sets": {}}
    print(f"recogniser {recognizer.weights} on {recognizer.device}; crops: {report['crops']}; frames: all", flush=True)
    for kind in [s.strip() for s in args.sets.split(",") if s.strip()]:
        rows = load(kind, args.limit, held_out)
        reader.read_frame(__import__("numpy").zeros((64, 64, 3), "uint8"))  # warm-up outside the timings
        result = run(kind, rows, reader, plain)
        report["sets"][kind] = result
        for who in ("ours", "plain"):
            if who in result:
                s = result[who]
                state = f"  state {s['state']:.1%}" if "state" in s else ""
                conf = (f"  exact when not low-confidence {s['exact_when_confident']:.1%} "
                        f"({s['confident_share']:.0%} of reads)") if "exact_when_confident" in s else ""
                print(f"{kind:6} {who:5} n={s['images']:3}  exact {s['exact']:.1%}{state}  CER {s['cer']:.3f}  "
                      f"median {s['median_ms']:.0f} ms{conf}", flush=True)
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"ocr-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(report, indent=1))
        print(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
