"""Finding plates: which blobs link into rows, plate-shaped regions, glyphs freed from a frame (pure, table-driven)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr_worker.locate import _rows, overlap, plate_candidates, plate_rects, without_lines
from ocr_worker.synth import degrade, in_dealer_frame, render_plate, scene

# (x, y, w, h, characters) of a 10 px glyph ending at x = 20, then one neighbour.
LEFT = (10, 100, 10, 10, 1)


@pytest.mark.parametrize(("neighbour", "linked"), [
    ((25, 100, 8, 10, 1), True),    # next glyph, same height
    ((34, 99, 8, 13, 1), True),     # 1.3 times as tall, 14 px away: within 1.1 of the taller height
    ((35, 99, 8, 13, 1), False),    # one pixel further
    ((26, 99, 8, 14, 1), False),    # more than 1.3 times as tall
    ((25, 104, 8, 10, 1), False),   # centre lines 4 px apart: another line of text
    ((32, 100, 8, 10, 1), False),   # 12 px gap, over 1.1 heights
])
def test_neighbour_links_into_row(neighbour: tuple[int, ...], linked: bool) -> None:
    """Two glyphs form one row only when near, of similar height and on one centre line."""
    blobs = np.array([LEFT, neighbour])
    rows = _rows(blobs, min_count=1, dark_text=True)
    assert (len(rows) == 1) == linked


def test_tall_blob_far_right_does_not_stop_linking() -> None:
    """A tall blob elsewhere in the frame leaves small neighbours' links as they are."""
    blobs = np.array([LEFT, (25, 100, 8, 10, 1), (400, 50, 40, 80, 1)])
    rows = _rows(blobs, min_count=2, dark_text=True)
    assert [(r.x, r.w, r.count) for r in rows] == [(10, 23, 2)]


def test_rows_keep_each_line_apart_in_order_of_their_leftmost_glyph() -> None:
    """Two lines of glyphs give two rows, the one starting further left first, each with its median glyph height."""
    blobs = np.array([
        (40, 200, 8, 12, 1), (10, 100, 8, 10, 1), (22, 100, 8, 11, 1), (52, 201, 8, 12, 1), (34, 100, 16, 10, 2),
        (64, 200, 8, 13, 1), (76, 199, 8, 14, 1), (500, 500, 8, 10, 1),  # the last one stands alone
    ])
    rows = _rows(blobs, min_count=2, dark_text=False)
    assert [(r.x, r.y, r.w, r.h, r.count, r.char_h) for r in rows] == [
        (10, 100, 40, 11, 4, 10.0), (40, 199, 44, 14, 4, 12.5)]
    assert all(not r.dark_text for r in rows)


def _frame_with(box: tuple[int, int, int, int]) -> np.ndarray:
    """A dark grey frame with one light region at box, holed by dark 'characters' as a plate is."""
    frame = np.full((240, 400), 40, np.uint8)
    x, y, w, h = box
    frame[y:y + h, x:x + w] = 220
    for k in range(5):
        cx = x + w // 10 + k * w // 6
        frame[y + h // 4:y + 3 * h // 4, cx:cx + w // 12] = 30
    return frame


@pytest.mark.parametrize(("box", "found"), [
    ((100, 80, 120, 56), True),    # a plate: about twice as wide as tall, holed by characters
    ((100, 80, 160, 60), True),    # a wider plate, 2.7:1
    ((100, 80, 80, 80), False),    # square: a sign or a window, not a plate
    ((40, 80, 300, 60), False),    # 5:1, a bumper strip or a light bar
    ((100, 80, 30, 14), False),    # too small to hold legible characters
])
def test_plate_rects_finds_plate_shaped_light_regions(box: tuple[int, int, int, int], found: bool) -> None:
    """Light regions of a plate's shape and size are plate candidates; other shapes are not."""
    assert (box in plate_rects(_frame_with(box))) == found


def test_without_lines_frees_glyphs_standing_on_a_frame() -> None:
    """Glyphs whose feet touch a long horizontal bar come apart from it; the glyphs themselves stay."""
    binary = np.zeros((60, 200), np.uint8)
    binary[40:46, 10:190] = 255  # a frame's bar
    for k in range(5):
        binary[20:41, 20 + 30 * k:30 + 30 * k] = 255  # five 10x20 glyphs standing on it
    assert cv2.connectedComponents(binary)[0] - 1 == 1
    freed = without_lines(binary, 15)
    assert cv2.connectedComponents(freed)[0] - 1 == 5
    assert freed[20:38, 20:30].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plate_candidates_find_a_plate_joined_to_its_dealer_frame(seed: int) -> None:
    """A small plate whose glyphs touch a dealer's frame is still among the candidates to read."""
    rng = np.random.default_rng(seed)
    at = (200 + 40 * seed, 230)
    plate = in_dealer_frame(render_plate("7ABC123", "California", height=200))
    frame = degrade(scene(plate, at=at, plate_width=110), rng, blur=0.8)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    box = (at[0], at[1], 110, 55)
    assert any(overlap(r.box, box) > 0.3 and r.count >= 5 for r in plate_candidates(gray))
