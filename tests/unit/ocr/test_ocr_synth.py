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


@pytest.mark.parametrize("separator", ["dash", "dot", "emblem"])
def test_mark_sits_in_the_gap_between_the_groups(separator: str) -> None:
    """A dash, dot or emblem is drawn in the gap between the split groups, and nowhere else on the plate."""
    gap = render_plate("HK5R9C", separator="space", split=3)
    marked = render_plate("HK5R9C", separator=separator, split=3)
    ys, xs = np.nonzero((gap != marked).any(axis=2))
    assert len(xs)
    # The only difference is the mark: near the plate's centre, inside the number's band.
    assert xs.min() > 0.35 * 320 and xs.max() < 0.65 * 320
    assert ys.min() > 0.28 * 160 and ys.max() < 0.73 * 160


def test_separator_must_be_known() -> None:
    """An unknown separator kind is refused, not silently drawn as nothing."""
    with pytest.raises(ValueError, match="separator"):
        render_plate("ABC123", separator="star")


def test_stacked_prefix_takes_two_letters() -> None:
    """A stacked prefix is two letters, one above the other; anything else is refused."""
    plain, stacked = render_plate("2422"), render_plate("2422", stacked="LS")
    ys, xs = np.nonzero((plain != stacked).any(axis=2))
    assert xs.max() < 0.3 * 320  # left of the number, which is centred
    assert ys.min() < 0.45 * 160 < ys.max()  # above and below the number's middle
    with pytest.raises(ValueError, match="two letters"):
        render_plate("2422", stacked="L")
