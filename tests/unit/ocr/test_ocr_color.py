"""The vehicle's dominant colour around its plate."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_worker.color import dominant_color
from ocr_worker.synth import render_plate, scene


@pytest.mark.parametrize(("body", "code"), [
    ((160, 20, 25), "RED"), ((20, 40, 160), "BLU"), ((240, 240, 240), "WHI"), ((15, 15, 15), "BLK"),
    ((30, 120, 40), "GRN"), ((150, 150, 150), "SIL"), ((230, 200, 20), "YEL"),
])
def test_dominant_color(body: tuple[int, int, int], code: str) -> None:
    """A car body of a known colour (RGB) gives its NCIC colour code."""
    frame = scene(render_plate("ABC123"), body=body)
    # scene() puts the plate at (260, 260), 90 x 45, by default.
    assert dominant_color(frame, (260, 260, 90, 45)) == code


def test_no_region() -> None:
    """A plate box outside the frame gives no colour rather than a guess."""
    assert dominant_color(np.zeros((10, 10, 3), np.uint8), (50, 50, 10, 5)) is None
