"""Video: a rendered plate moving across blurred, noisy frames becomes exactly one detection."""

from __future__ import annotations

from pathlib import Path

from ocr_worker.synth import passing_car, write_video
from ocr_worker.video import read_video


def test_synthetic_video_one_detection(reader, tmp_path: Path) -> None:
    """24 frames of one car passing (blur, noise, the plate moving and growing) fold into one right detection."""
    path = write_video(str(tmp_path / "pass.avi"), passing_car("7KDN481", n=24, seed=1))
    vehicles = list(read_video(reader, path, every=2))
    assert len(vehicles) == 1
    v = vehicles[0]
    assert v.folded.plate == "7KDN481"
    assert v.folded.frames >= 6  # seen in most of the 12 frames read, not one lucky frame
    assert v.folded.confidence >= 0.5
    assert v.plate_image.size and v.vehicle_image.size
    assert v.color == "BLU"


def test_two_cars_in_sequence(reader, tmp_path: Path) -> None:
    """Two cars passing one after the other give two detections, each with its own plate."""
    frames = passing_car("ABC1234", n=14, seed=2) + passing_car("4XYZ907", n=14, seed=3, body=(20, 20, 20))
    vehicles = list(read_video(reader, write_video(str(tmp_path / "two.avi"), frames), every=2))
    assert [v.folded.plate for v in vehicles] == ["ABC1234", "4XYZ907"]
