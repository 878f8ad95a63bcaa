"""Tracking plates across frames and folding one vehicle's reads into one detection."""

from __future__ import annotations

import pytest

from ocr_worker.tracking import Observation, Tracker, fold, iou


def moving(plate_reads: list[tuple[str, float]], start: int = 0, x0: int = 100, dx: int = 12,
           y: int = 200) -> list[Observation]:
    """A plate moving right by dx pixels a frame, read as given in each frame."""
    return [Observation(start + i, (x0 + dx * i, y, 80, 40), p, c, payload=i)
            for i, (p, c) in enumerate(plate_reads)]


def run(tracker: Tracker, frames: dict[int, list[Observation]], last: int) -> list:
    out = []
    for f in range(last + 1):
        out += tracker.update(f, frames.get(f, []))
    return out + tracker.flush()


def test_one_vehicle_one_detection() -> None:
    """A plate read in ten consecutive frames, twice misread, folds into one detection of the right plate."""
    reads = [("ABC1234", 0.9)] * 4 + [("ABC1Z34", 0.4)] + [("ABC1234", 0.85)] * 4 + [("A8C1234", 0.5)]
    frames = {o.frame: [o] for o in moving(reads)}
    folded = run(Tracker(), frames, 9)
    assert len(folded) == 1
    assert folded[0].plate == "ABC1234"
    assert folded[0].frames == 10
    assert folded[0].confidence > 0.9


def test_partial_reads_join_the_track() -> None:
    """Frames where only part of the plate was read stay in the vehicle's track and are outvoted."""
    reads = [("4XYZ907", 0.9), ("Z907", 0.7), ("4XYZ907", 0.8), ("XYZ907", 0.6), ("4XYZ907", 0.9)]
    frames = {o.frame: [o] for o in moving(reads, dx=40)}
    folded = run(Tracker(), frames, 4)
    assert [f.plate for f in folded] == ["4XYZ907"]


def test_two_vehicles_two_detections() -> None:
    """Two plates in the same frames, far apart, stay two tracks."""
    a = moving([("ABC1234", 0.9)] * 6, x0=50)
    b = moving([("XYZ987", 0.8)] * 6, x0=600)
    frames = {f: [a[f], b[f]] for f in range(6)}
    assert sorted(f.plate for f in run(Tracker(), frames, 5)) == ["ABC1234", "XYZ987"]


def test_track_ends_after_gap() -> None:
    """The same plate seen again after a long gap is a new passage, a second detection."""
    frames = {o.frame: [o] for o in moving([("ABC1234", 0.9)] * 3)}
    frames |= {o.frame: [o] for o in moving([("ABC1234", 0.9)] * 3, start=40)}
    assert [f.plate for f in run(Tracker(max_gap=8), frames, 45)] == ["ABC1234", "ABC1234"]


def test_single_frame_glimpse_dropped() -> None:
    """A read in a single frame (a poster, a passing glimpse) is not a vehicle when two frames are required."""
    frames = {3: moving([("ABC1234", 0.9)], start=3)}
    assert run(Tracker(min_frames=2), frames, 10) == []


def test_payload_kept_only_for_best_read() -> None:
    """Only the surest read of each plate keeps its frame, so memory stays bounded on long tracks."""
    confs = [0.5, 0.9, 0.7, 0.6]
    tracker = Tracker()
    obs = moving([("ABC1234", c) for c in confs])
    for o in obs:
        tracker.update(o.frame, [o])
    kept = [o.payload for o in tracker.tracks[0].observations if o.payload is not None]
    assert kept == [1]
    assert tracker.flush()[0].best.payload == 1


@pytest.mark.parametrize(("a", "b", "expected"), [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0), ((0, 0, 10, 10), (20, 20, 5, 5), 0.0), ((0, 0, 10, 10), (5, 0, 10, 10), 1 / 3),
])
def test_iou(a: tuple, b: tuple, expected: float) -> None:
    """Intersection over union of two boxes."""
    assert iou(a, b) == pytest.approx(expected)


def test_fold_state_needs_support() -> None:
    """The state is the vote of frames that showed one; a single weak state read among many does not set it."""
    obs = [Observation(i, (0, 0, 10, 5), "ABC123", 0.9) for i in range(5)]
    obs[0].state, obs[0].state_confidence = "AK", 0.3
    assert fold(obs).state is None
    for o in obs:
        o.state, o.state_confidence = "AK", 0.8
    assert fold(obs).state == "AK"
