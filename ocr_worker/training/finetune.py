"""Fine-tune english_g2 on plate lines: rendered plates plus the even-numbered half of the shared crops.

    python -m ocr_worker.training.finetune --steps 600 --lr 1.5e-4   # writes ocr_worker/weights/plates_g2.pth

About 20 minutes on two CPU cores (28 on an AMD EPYC without AVX-512). Seeded: the same command writes the same
weights on one machine (two 8-step runs were identical in every tensor), but not across machines: floating-point
kernels differ by CPU, and on 2026-12-08 the command wrote md5 ede88ac1... where it had written 4eb7f969... before.
600 steps (the default) read better than 300 on both frames and crops (bench/README.md). A second stage from those weights with more frame-sized (shrunk) samples (--init ...
--low-res 0.6 --low-res-min 0.15) was tried and did not help on frames or crops; it is not used.

Rendered plates use every layout syntax knows (Missouri's LLDLDL among them) and, on SEPARATED of them, a gap, dash,
dot or coloured emblem between the groups of the number, as many states print. Results move by several points from
one seed to another (bench/README.md): compare recipes over more than one seed.

The crops of ../shared/datasets/us-plates/crops/ are split by their row in labels.csv: even rows (0, 2, 4, ...)
train, odd rows are held out (bench/ocr.py scores crops on the odd rows only when these weights are used). Frames are never
used. The inputs are exactly the views the reader makes (ocr_worker.reader.plate_views), augmented.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from ocr_worker.models import RECOGNIZER_FILE, model_dir
from ocr_worker.reader import normalise_height, plate_views, stretch
from ocr_worker.recognizer import MAX_WIDTH, MODEL_HEIGHT
from ocr_worker.synth import PLATE_FONTS, SEPARATORS, random_plate_text, render_plate

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "datasets" / "us-plates" / "crops"
OUT = Path(__file__).resolve().parents[1] / "weights" / "plates_g2.pth"
SEPARATED = 0.35  # share of rendered plates whose number is split by a gap, a dash, a dot or an emblem


def training_rows(dataset: Path = DATASET) -> list[dict]:
    """The training half of the crops: even rows of labels.csv."""
    with (dataset / "labels.csv").open() as fh:
        return [r for i, r in enumerate(csv.DictReader(fh)) if i % 2 == 0]


def label(text: str) -> str:
    # The reader writes the round glyph as 0 (see postprocess.canonical_o); train the same convention.
    return text.upper().replace("O", "0")


def crop_samples(dataset: Path = DATASET) -> list[tuple[np.ndarray, str]]:
    out = []
    for row in training_rows(dataset):
        gray = normalise_height(cv2.imread(str(dataset / row["image"]), cv2.IMREAD_GRAYSCALE))
        views, _ = plate_views(gray)
        out += [(v, label(row["plate"])) for v in views[: len(views) // 2]]  # unstretched; stretch is augmented
    return out


def synthetic_sample(rng: random.Random) -> tuple[np.ndarray, str]:
    from ocr_worker.states import SLOGANS
    from server.common.regions import REGION_NAMES, US_STATES

    text = random_plate_text(rng)
    state = rng.choice(sorted(US_STATES))
    dark = rng.random() < 0.85
    tone = rng.randint(0, 90)
    ink = (tone, rng.randint(0, 90), rng.randint(0, 140)) if dark else (240, 240, 240)
    paper = tuple(rng.randint(170, 255) for _ in range(3)) if dark else (rng.randint(0, 80), 30, rng.randint(0, 90))
    separator, split = None, None
    if rng.random() < SEPARATED:
        separator = rng.choice(SEPARATORS)
        # Between the letter and digit groups nearest the middle (Missouri's AB1 C2D, New York's ABC-1234), or
        # in the middle.
        changes = [i for i in range(1, len(text)) if text[i].isdigit() != text[i - 1].isdigit()]
        split = min(changes, key=lambda i: abs(i - len(text) / 2)) if changes and rng.random() < 0.6 else None
    plate = render_plate(text, REGION_NAMES[state] if rng.random() < 0.8 else None,
                         rng.choice(SLOGANS.get(state, ("",))) or None, font=rng.choice(PLATE_FONTS),
                         ink=ink, paper=paper, stretch=rng.uniform(0.55, 1.05), separator=separator, split=split,
                         accent=(rng.randint(120, 255), rng.randint(0, 120), rng.randint(0, 200)))
    gray = normalise_height(plate)
    views, _ = plate_views(gray)
    return rng.choice(views[: len(views) // 2]), label(text)


def augment(img: np.ndarray, rng: random.Random, low_res: float = 0.3, low_res_min: float = 0.25) -> np.ndarray:
    h, w = img.shape
    if rng.random() < 0.5:  # small rotation and shift: the row finder is never pixel-exact
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-3, 3), 1.0)
        m[:, 2] += (rng.uniform(-4, 4), rng.uniform(-3, 3))
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    if rng.random() < low_res:  # small plates in frames (characters 12-25 px): shrink and enlarge again
        f = rng.uniform(low_res_min, 0.6)
        small = cv2.resize(img, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    a, b = rng.uniform(0.6, 1.3), rng.uniform(-40, 40)
    img = np.clip(img.astype(np.float32) * a + b + np.random.default_rng(rng.randint(0, 1 << 30)).normal(
        0, rng.uniform(0, 8), img.shape), 0, 255).astype(np.uint8)
    return stretch(img, rng.choice([1.0, 1.0, 1.3, 1.3, 1.6]))


def to_batch(images: list[np.ndarray]) -> np.ndarray:
    """The same input the Recognizer builds at inference."""
    widths = [min(MAX_WIDTH, max(MODEL_HEIGHT // 2, math.ceil(MODEL_HEIGHT * im.shape[1] / im.shape[0])))
              for im in images]
    batch = np.zeros((len(images), 1, MODEL_HEIGHT, max(widths)), dtype=np.float32)
    for k, (im, wd) in enumerate(zip(images, widths, strict=True)):
        interp = cv2.INTER_AREA if im.shape[0] > MODEL_HEIGHT else cv2.INTER_CUBIC
        r = (cv2.resize(im, (wd, MODEL_HEIGHT), interpolation=interp).astype(np.float32) / 255.0 - 0.5) / 0.5
        batch[k, 0, :, :wd] = r
        batch[k, 0, :, wd:] = r[:, -1:]
    return batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--synthetic", type=float, default=0.4, help="share of rendered plates in each batch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--init", type=Path, default=None,
                    help="start from these weights (EasyOCR format) instead of the installed english_g2")
    ap.add_argument("--low-res", type=float, default=0.3, help="share of samples shrunk to frame-plate size")
    ap.add_argument("--low-res-min", type=float, default=0.25, help="smallest shrink factor of those samples")
    args = ap.parse_args()

    import torch
    from easyocr import config
    from easyocr.model.vgg_model import Model
    from easyocr.utils import CTCLabelConverter

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    characters = config.recognition_models["gen2"]["english_g2"]["characters"]
    converter = CTCLabelConverter(characters, {}, {})
    model = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(converter.character))
    state = torch.load(args.init or model_dir() / RECOGNIZER_FILE, map_location="cpu", weights_only=False)
    model.load_state_dict(OrderedDict((k.removeprefix("module."), v.float()) for k, v in state.items()))
    crops = crop_samples()
    print(f"{len(crops)} crop views from {len(training_rows())} training crops", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    t0, running = time.time(), 0.0
    for step in range(1, args.steps + 1):
        samples = [synthetic_sample(rng) if rng.random() < args.synthetic else rng.choice(crops)
                   for _ in range(args.batch)]
        images = torch.from_numpy(to_batch([augment(img, rng, args.low_res, args.low_res_min) for img, _ in samples]))
        texts = [t for _, t in samples]
        targets, lengths = converter.encode(texts)
        logits = model(images, None)
        log_probs = logits.log_softmax(2).permute(1, 0, 2)
        loss = ctc(log_probs, targets, torch.full((len(texts),), log_probs.size(0), dtype=torch.int32), lengths)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        running = 0.9 * running + 0.1 * loss.item() if step > 1 else loss.item()
        if step % 25 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {running:.3f} {time.time() - t0:.0f}s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Half precision halves the file (about 7.5 MB); EasyOCR's loader copies it into float32 parameters.
    torch.save(OrderedDict(("module." + k, v.half() if v.is_floating_point() else v)
                           for k, v in model.state_dict().items()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
