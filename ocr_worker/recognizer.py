"""EasyOCR's recogniser, loaded once from the installed weights, run in batches with per-character odds."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr_worker import ALPHABET
from ocr_worker.models import MissingOcrExtra, model_dir, plate_weights

MODEL_HEIGHT = 64  # the english_g2 network's input height
MAX_WIDTH = 64 * 10  # a plate line is at most ~5:1; wider inputs only add noise


@dataclass(frozen=True)
class TextRead:
    """One line of text: the characters, each one's probability table over ALPHABET, and a confidence."""

    text: str
    probs: tuple[dict[str, float], ...]
    confidence: float
    positions: tuple[float, ...]  # each character's centre, as a fraction of the image's width


class Recognizer:
    """The english_g2 CRNN of EasyOCR, restricted to plate characters (or to letters, for state names)."""

    def __init__(self, device: str | None = None, weights: Path | None = None) -> None:
        """device: 'cpu' or 'cuda' (default: a GPU when torch sees one); weights: a fine-tuned recogniser
        (default: the plate weights finetune.py writes, when present, else EasyOCR's english_g2 as installed)."""
        try:
            import easyocr
            import torch
        except ImportError as exc:
            raise MissingOcrExtra("OCR needs the [ocr] extra: pip install 'alpr[ocr]'") from exc
        gpu = torch.cuda.is_available() if device is None else device.startswith("cuda")
        stock = str(model_dir())
        # download_enabled=False: a missing or damaged weight file is an error, never a network fetch.
        # user_network_directory points at the (existing) weights folder so EasyOCR creates nothing in $HOME.
        self._reader = easyocr.Reader(["en"], gpu=gpu, model_storage_directory=stock,
                                      user_network_directory=stock, download_enabled=False,
                                      detector=False, verbose=False)
        self._torch = torch
        self.device = self._reader.device
        self.weights = "english_g2"
        tuned = plate_weights() if weights is None else weights
        if tuned is not None and tuned.is_file():
            # The recogniser fine-tuned on plates (ocr_worker/training/finetune.py), in EasyOCR's own format.
            from easyocr.recognition import get_recognizer

            self._reader.recognizer, _ = get_recognizer(
                "generation2", {"input_channel": 1, "output_channel": 256, "hidden_size": 256},
                self._reader.character, {}, {}, str(tuned), device=self.device, quantize=True)
            self.weights = tuned.name
        # The network's class 0 is the CTC blank; class i + 1 is the i-th character of the model's list.
        self._index = {ch: i + 1 for i, ch in enumerate(self._reader.character)}
        # Plates have no case: the network's 'w' is our 'W'. Punctuation and spaces (dashes, dots, emblems
        # read as symbols) separate characters, so their odds go to the CTC blank rather than being dropped.
        n_classes = len(self._reader.character) + 1
        self._fold = np.zeros((n_classes, 1 + len(ALPHABET)), dtype=np.float32)
        self._fold[0, 0] = 1.0
        for ch, i in self._index.items():
            if ch.upper() in ALPHABET:
                self._fold[i, 1 + ALPHABET.index(ch.upper())] = 1.0
            else:
                self._fold[i, 0] = 1.0
        self._lock = threading.Lock()  # one forward pass at a time: the model is shared by every caller

    def read(self, images: list[np.ndarray], letters_only: bool = False) -> list[TextRead]:
        """Read one line of text from each grey image (any size), all in one batch."""
        if not images:
            return []
        torch = self._torch
        widths = [min(MAX_WIDTH, max(MODEL_HEIGHT // 2,
                                     math.ceil(MODEL_HEIGHT * im.shape[1] / max(1, im.shape[0])))) for im in images]
        batch_w = max(widths)
        batch = np.zeros((len(images), 1, MODEL_HEIGHT, batch_w), dtype=np.float32)
        import cv2

        for k, (im, w) in enumerate(zip(images, widths, strict=True)):
            # Area averaging when shrinking (cubic aliases strokes into ghost characters), cubic when enlarging.
            shrink = im.shape[0] > MODEL_HEIGHT
            resized = cv2.resize(im, (w, MODEL_HEIGHT), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            resized = resized.astype(np.float32)
            resized = (resized / 255.0 - 0.5) / 0.5
            batch[k, 0, :, :w] = resized
            batch[k, 0, :, w:] = resized[:, -1:]  # EasyOCR pads with the last column, as in training
        with self._lock, torch.no_grad():
            tensor = torch.from_numpy(batch).to(self.device)
            text_for_pred = torch.zeros((len(images), batch_w // 10 + 1), dtype=torch.long, device=self.device)
            logits = self._reader.recognizer(tensor, text_for_pred)
            probs = torch.softmax(logits, dim=2).cpu().numpy()
        folded = probs @ self._fold  # (batch, frames, blank + ALPHABET)
        if letters_only:
            # State names and slogans: digits are read as blanks so "1959" does not split a word in two.
            folded = np.concatenate([folded[:, :, :1] + folded[:, :, 1:11].sum(axis=2, keepdims=True),
                                     folded[:, :, 11:]], axis=2)
        alphabet = ALPHABET[10:] if letters_only else ALPHABET
        return [_decode(p, alphabet, batch_w / w) for p, w in zip(folded, widths, strict=True)]


def _decode(allowed: np.ndarray, alphabet: str, padded: float = 1.0) -> TextRead:
    """Greedy CTC decoding over blank + `alphabet`, keeping each character's odds and place.

    padded: the batch's width over this image's width (narrower images are padded to the widest).
    """
    best = allowed.argmax(axis=1)
    text, tables, confs, places = [], [], [], []
    run_start = None
    for t in range(len(best) + 1):
        cls = best[t] if t < len(best) else -1
        if run_start is not None and (t == len(best) or cls != best[run_start]):
            # A character spans a run of frames; its odds are those of the frame where it was surest.
            run = allowed[run_start:t]
            at = int(run[:, best[run_start]].argmax())
            peak = run[at]
            # Output frames tile the padded input evenly: a frame's centre, over the image's own width.
            places.append(min(1.0, (run_start + at + 0.5) / len(best) * padded))
            chars = peak[1:] / max(peak[1:].sum(), 1e-9)
            text.append(alphabet[best[run_start] - 1])
            tables.append({alphabet[i]: float(chars[i]) for i in np.flatnonzero(chars > 0.01)})
            confs.append(float(peak[best[run_start]]))
            run_start = None
        if t < len(best) and cls != 0 and run_start is None:
            run_start = t
    confidence = float(np.exp(np.mean(np.log(np.maximum(confs, 1e-6))))) if confs else 0.0
    return TextRead("".join(text), tuple(tables), confidence, tuple(places))


_shared: Recognizer | None = None
_shared_lock = threading.Lock()


def shared() -> Recognizer:
    """One recogniser per process (the model takes seconds to load and ~100 MB): every reader may share it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Recognizer()
        return _shared
