"""Greedy CTC decoding of the recogniser's output: characters, their odds and their places (pure, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_worker.recognizer import _decode

ALPHABET = "AB"


def frames(*classes: int) -> np.ndarray:
    """One output frame per class index (0 = blank), each certain of its class."""
    out = np.zeros((len(classes), 1 + len(ALPHABET)), dtype=np.float32)
    out[np.arange(len(classes)), classes] = 1.0
    return out


@pytest.mark.parametrize(("classes", "padded", "text", "places"), [
    ((0, 1, 1, 0, 0, 0, 0, 2, 0, 0), 1.0, "AB", (0.15, 0.75)),   # a character's place is its first surest frame
    ((0, 1, 0, 1, 0), 1.0, "AA", (0.3, 0.7)),                    # a blank between repeats: two characters
    ((0, 1, 0, 0, 0, 0, 0, 0, 0, 0), 2.0, "A", (0.3,)),          # image padded to twice its width in the batch
    ((0, 0, 0, 0, 0, 0, 0, 0, 0, 2), 1.5, "B", (1.0,)),          # a place never lies beyond the image
])
def test_decode_text_and_places(classes: tuple[int, ...], padded: float, text: str, places: tuple[float, ...]) -> None:
    """Decoding gives the characters and each one's centre as a fraction of the image's own width."""
    read = _decode(frames(*classes), ALPHABET, padded)
    assert read.text == text
    assert read.positions == pytest.approx(places)
