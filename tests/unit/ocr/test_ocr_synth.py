"""The plates the project renders for tests and training: layouts and separators."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ocr_worker.syntax import TEMPLATES, layout
from ocr_worker.synth import LAYOUTS, random_plate_text, render_plate


def test_random_plates_cover_every_known_layout() -> None:
    """Training sees every layout syntax knows (Missouri's LLDLDL among them), not only the common few."""
    rng = random.Random(3)
    seen = {layout(random_plate_text(rng)) for _ in range(3000)}
    assert set(TEMPLATES) <= seen
    assert seen <= set(LAYOUTS)


def test_emblem_sits_between_the_groups() -> None:
    """An emblem separator is drawn in its accent colour in the gap between the split groups, nowhere else."""
    plate = render_plate("HK5R9C", separator="emblem", split=3, accent=(250, 0, 0), ink=(0, 0, 0),
                         paper=(255, 255, 255))
    red = np.argwhere((plate[:, :, 0] > 200) & (plate[:, :, 1] < 50))
    assert len(red)
    ys, xs = red[:, 0], red[:, 1]
    # The number spans the middle of the plate: the emblem is near its centre, inside the number's band.
    assert xs.min() > 0.35 * 320 and xs.max() < 0.65 * 320
    assert ys.min() > 0.28 * 160 and ys.max() < 0.73 * 160


def test_separator_must_be_known() -> None:
    """An unknown separator kind is refused, not silently drawn as nothing."""
    with pytest.raises(ValueError, match="separator"):
        render_plate("ABC123", separator="star")
