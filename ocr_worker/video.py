"""Video files and streams (OpenCV): read frames, track plates, one detection per vehicle."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ocr_worker.color import dominant_color, vehicle_box
from ocr_worker.reader import PlateReader
from ocr_worker.tracking import Folded, Observation, Tracker

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"})


@dataclass
class VehicleRead:
    """One vehicle in a video: the folded read, the best plate crop, a vehicle image and its colour."""

    folded: Folded
    plate_image: np.ndarray
    vehicle_image: np.ndarray
    color: str | None
    time_s: float

    def as_json(self) -> dict:
        f = self.folded
        return {"plate": f.plate, "state": f.state, "confidence": round(f.confidence, 3),
                "low_confidence": f.confidence < 0.5, "box": [int(v) for v in f.best.box],
                "frames": f.frames, "time_s": round(self.time_s, 2), "color": self.color}


def frames(source: str, every: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, seconds, BGR frame) for every `every`-th frame of a file or stream URL."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise OSError(f"cannot open video {source!r}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                return
            if index % every == 0:
                ok, frame = cap.retrieve()
                if ok:
                    yield index, index / fps, frame
            index += 1
    finally:
        cap.release()


def read_video(reader: PlateReader, source: str, every: int = 1, min_frames: int = 2) -> Iterator[VehicleRead]:
    """Each vehicle's plate once, when its track ends (or at the end of the video)."""
    tracker = Tracker(max_gap=max(2, 8 // every), min_frames=min_frames)
    fps_time: dict[int, float] = {}

    def finish(folded: Folded) -> VehicleRead:
        frame, crop = folded.best.payload
        vx, vy, vw, vh = vehicle_box(folded.best.box, frame.shape)
        return VehicleRead(folded, crop, frame[vy:vy + vh, vx:vx + vw].copy(),
                           dominant_color(frame, folded.best.box), fps_time.get(folded.best.frame, 0.0))

    for index, seconds, frame in frames(source, every):
        fps_time[index] = seconds
        observations = [Observation(index, r.box, r.plate, r.confidence, r.state, r.state_confidence,
                                    payload=(frame, r.crop)) for r in reader.read_frame(frame)]
        for folded in tracker.update(index, observations):
            yield finish(folded)
    for folded in tracker.flush():
        yield finish(folded)
