"""Following plates across video frames and folding one vehicle's reads into one detection (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocr_worker.voting import vote, vote_known
from server.hotlist.matching import ocr_key


@dataclass
class Observation:
    """One read of a plate in one frame; `payload` carries what the caller needs later (crop, frame)."""

    frame: int
    box: tuple[int, int, int, int]
    plate: str
    confidence: float
    state: str | None = None
    state_confidence: float = 0.0
    payload: Any = None


@dataclass
class Track:
    """The reads of one plate as it moves across frames."""

    observations: list[Observation] = field(default_factory=list)

    @property
    def last(self) -> Observation:
        return self.observations[-1]


@dataclass(frozen=True)
class Folded:
    """One vehicle's detection: voted plate and state, a confidence, and its best observation."""

    plate: str
    state: str | None
    confidence: float
    best: Observation
    frames: int


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int], reach: float) -> bool:
    """Centres within `reach` plate widths: a plate moves a little between frames."""
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    return abs(ax - bx) <= reach * max(a[2], b[2]) and abs(ay - by) <= reach * max(a[3], b[3]) * 2


def _same_plate(a: str, b: str) -> bool:
    """Reads that could be one plate: the same OCR key, one part of the other (a partial read), or two edits apart."""
    ka, kb = ocr_key(a), ocr_key(b)
    if ka == kb or (min(len(a), len(b)) >= 3 and (ka in kb or kb in ka)):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    from ocr_worker.states import substring_distance

    return substring_distance(a, b) <= 2 if len(a) <= len(b) else substring_distance(b, a) <= 2


class Tracker:
    """Assigns each frame's reads to tracks; a track unseen for `max_gap` frames is finished and folded."""

    def __init__(self, max_gap: int = 8, reach: float = 1.5, min_frames: int = 2) -> None:
        self.max_gap, self.reach, self.min_frames = max_gap, reach, min_frames
        self.tracks: list[Track] = []

    def update(self, frame: int, observations: list[Observation]) -> list[Folded]:
        """Add one frame's reads; return the detections of tracks that have just ended."""
        free = list(self.tracks)
        for obs in sorted(observations, key=lambda o: -o.confidence):
            match = None
            for track in free:
                last = track.last
                if iou(last.box, obs.box) > 0.3 or (
                        _near(last.box, obs.box, self.reach * (1 + frame - last.frame) ** 0.5)
                        and _same_plate(last.plate, obs.plate)):
                    match = track
                    break
            if match is None:
                self.tracks.append(Track([obs]))
            else:
                match.observations.append(obs)
                free.remove(match)
                # Keep the payload (a whole frame) only on the surest read of each plate string: memory stays
                # bounded however long a vehicle stays in view.
                same = [o for o in match.observations if o.plate == obs.plate and o.payload is not None]
                keep = max(same, key=lambda o: o.confidence) if same else None
                for o in same:
                    if o is not keep:
                        o.payload = None
        ended = [t for t in self.tracks if frame - t.last.frame > self.max_gap]
        self.tracks = [t for t in self.tracks if t not in ended]
        return [f for f in map(self._fold, ended) if f is not None]

    def flush(self) -> list[Folded]:
        """End every open track (the video is over)."""
        ended, self.tracks = self.tracks, []
        return [f for f in map(self._fold, ended) if f is not None]

    def _fold(self, track: Track) -> Folded | None:
        return fold(track.observations, self.min_frames)


def fold(observations: list[Observation], min_frames: int = 1) -> Folded | None:
    """Confidence-weighted vote over a track's reads; a track seen in fewer than min_frames frames is dropped."""
    if len(observations) < min_frames:
        return None
    plate = vote((o.plate, o.confidence) for o in observations)
    # A frame that showed no state (too small, too blurred) is weak evidence: it dilutes one unsure state read.
    state = vote_known((o.state, o.state_confidence if o.state else 0.25) for o in observations)
    winners = [o for o in observations if o.plate == plate.value]
    mean_conf = sum(o.confidence for o in winners) / len(winners)
    # Agreement across frames is evidence: the confidence is the winners' mean scaled by their share of the vote,
    # raised towards 1 as more frames agree.
    confidence = min(0.999, mean_conf * plate.share + (1 - mean_conf * plate.share) * (1 - 0.8 ** (len(winners) - 1)))
    best = max(winners, key=lambda o: (o.payload is not None, o.confidence))
    return Folded(plate.value or "", state.value if state.share >= 0.3 else None, round(confidence, 4), best,
                  len(observations))
