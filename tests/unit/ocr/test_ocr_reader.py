"""The plate reader on plates and frames the project renders (never the shared dataset)."""

from __future__ import annotations

import numpy as np
import pytest

from ocr_worker.synth import degrade, render_plate, scene


@pytest.mark.parametrize(("plate", "top", "bottom", "font", "state"), [
    ("7KDN481", "California", "dmv.ca.gov", "DejaVuSansCondensed-Bold.ttf", "CA"),
    ("FUW999", "ALASKA", "The Last Frontier", "DejaVuSans-Bold.ttf", "AK"),
    ("ABC1234", "TEXAS", None, "DejaVuSansCondensed-Bold.ttf", "TX"),
    ("4GHJ562", "Virginia", "Virginia is for Lovers", "DejaVuSansMono-Bold.ttf", "VA"),
    ("MNP3071", "ILLINOIS", "Land of Lincoln", "DejaVuSansCondensed-Bold.ttf", "IL"),
])
def test_read_plate_and_state(reader, plate: str, top: str, bottom: str | None, font: str, state: str) -> None:
    """A rendered plate close-up reads as its number, and the state name or slogan on it gives the state."""
    read = reader.read_plate(render_plate(plate, top, bottom, font=font)[:, :, ::-1])
    assert (read.plate, read.state) == (plate, state)
    assert not read.low_confidence


def test_state_unknown_without_words(reader) -> None:
    """A plate that shows no state name gives no state rather than a guess."""
    read = reader.read_plate(render_plate("XYZ987")[:, :, ::-1])
    assert read.plate == "XYZ987"
    assert read.state is None


def test_read_frame_finds_plate(reader) -> None:
    """In a blurred, noisy frame the reader finds the plate, reads it, and boxes it."""
    frame = degrade(scene(render_plate("8TRW215", "OHIO"), at=(300, 250), plate_width=100),
                    np.random.default_rng(5), blur=1.0, noise=5)
    reads = reader.read_frame(frame)
    assert reads[0].plate == "8TRW215"
    x, y, w, h = reads[0].box
    assert x <= 350 <= x + w and y <= 275 <= y + h  # the plate's centre
    assert reads[0].crop is not None and reads[0].crop.size


def test_empty_frame_has_no_plate(reader) -> None:
    """A frame with no text in it gives no read."""
    assert reader.read_frame(np.full((360, 640, 3), 128, np.uint8)) == []


def test_unreadable_plate_is_low_confidence(reader) -> None:
    """A plate blurred past legibility is still reported, if anything is read, but flagged low confidence."""
    plate = render_plate("KLM4420")[:, :, ::-1]
    blurred = degrade(plate, np.random.default_rng(6), blur=9, noise=25)
    read = reader.read_plate(blurred)
    assert read is None or read.low_confidence
