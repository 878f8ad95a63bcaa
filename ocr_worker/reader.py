"""The plate reader: find plates in a frame, read each with several views, infer the state."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr_worker.locate import (
    LineGlyphs,
    Row,
    crop,
    crop_bounds,
    line_glyphs,
    overlap,
    plate_candidates,
    plate_rects,
    text_rows,
)
from ocr_worker.postprocess import Line, consensus
from ocr_worker.recognizer import Recognizer, TextRead
from ocr_worker.states import infer_state
from ocr_worker.syntax import plausible

PLATE_HEIGHT = 160  # plate images are read at this height: characters ~70 px, near the recogniser's 64
LOW_CONFIDENCE = 0.5  # below this a read is still reported, flagged for the officer's visual check


@dataclass
class PlateRead:
    """A read plate: characters, state (or None), confidence, and where it is in the image."""

    plate: str
    confidence: float
    box: tuple[int, int, int, int]
    state: str | None = None
    state_confidence: float = 0.0
    raw: str = ""
    crop: np.ndarray | None = field(default=None, repr=False)

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    def as_json(self) -> dict:
        return {"plate": self.plate, "state": self.state, "confidence": round(self.confidence, 3),
                "low_confidence": self.low_confidence, "box": [int(v) for v in self.box]}


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class PlateReader:
    """Reads plates from plate images and whole frames; holds the recogniser (load once, share)."""

    def __init__(self, recognizer: Recognizer | None = None) -> None:
        self.recognizer = recognizer or Recognizer()

    # -- one plate image ------------------------------------------------------------------------------
    def read_plate(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None,
                   with_state: bool = True) -> PlateRead | None:
        """Read a plate image (a crop around one plate)."""
        return self.read_plates([image], [box], with_state)[0]

    def read_plates(self, images: list[np.ndarray], boxes: list | None = None,
                    with_state: bool = True) -> list[PlateRead | None]:
        """Read several plate images with one recogniser batch for all their views."""
        boxes = boxes or [None] * len(images)
        grays, views, owners, rows, glyphs, trims = [], [], [], [], [], []
        for k, image in enumerate(images):
            gray = normalise_height(image)
            v, spans, row = _plate_views(gray)
            grays.append(gray)
            rows.append(row)
            glyphs.append(line_glyphs(gray, row) if row is not None else None)
            views += v
            owners += [k] * len(v)
            # The full-width views' reads lose what lies far beyond a row that holds the whole number.
            number_row = row if row is not None and row.count >= MIN_NUMBER_ROW else None
            trims += [(number_row if i in FULL_WIDTH_VIEWS else None, span) for i, span in enumerate(spans)]
        lines = self.recognizer.read(views)
        by_image: list[list[Line]] = [[] for _ in images]
        for k, line, (number_row, span) in zip(owners, lines, trims, strict=True):
            if number_row is not None:
                line = beside_row(line, number_row, grays[k].shape[1])
            if glyphs[k] is not None:  # every view: stacked letters sit just beside the row, inside the tight crops
                line = without_short_edges(line, rows[k], glyphs[k], span)
            by_image[k].append(Line(line.text, line.probs, line.confidence))
        state_views, state_owner = [], []
        results: list[PlateRead | None] = []
        for k, image in enumerate(images):
            c = consensus(by_image[k])
            if c is None:
                results.append(None)
                continue
            box = boxes[k] or (0, 0, image.shape[1], image.shape[0])
            results.append(PlateRead(c.plate, c.confidence, box, raw=c.raw, crop=image))
            if with_state and image.shape[0] >= 60:
                # State names and slogans sit above and below the number, in smaller letters.
                gray, row = grays[k], rows[k]
                top, bottom = (row.y, row.y + row.h) if row else (int(0.2 * PLATE_HEIGHT), int(0.8 * PLATE_HEIGHT))
                for band in (gray[:top], gray[bottom:]):
                    if band.shape[0] >= 12:
                        state_views.append(band)
                        state_owner.append(k)
        if state_views:
            texts: dict[int, list[str]] = {}
            for k, line in zip(state_owner, self.recognizer.read(state_views, letters_only=True), strict=True):
                texts.setdefault(k, []).append(line.text)
            for k, words in texts.items():
                guess = infer_state(words)
                if guess and results[k] is not None:
                    results[k].state, results[k].state_confidence = guess.state, guess.confidence
        return results

    # -- a whole frame --------------------------------------------------------------------------------
    def read_frame(self, frame: np.ndarray, max_plates: int = 3) -> list[PlateRead]:
        """Find and read the plates in a camera frame, best first."""
        gray = to_gray(frame)
        scale = 1.0
        if gray.shape[1] > 1600:
            # Very large frames: characters stay >8 px at 1600 wide for any plate worth reading.
            scale = 1600 / gray.shape[1]
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        candidates = plate_candidates(gray)
        # First pass: one quick read of each candidate's character line, to rank them.
        quick = self.recognizer.read([crop(gray, r.box, 0.15, 0.15) for r in candidates])
        ranked = sorted(zip(candidates, quick, strict=True),
                        key=lambda rq: -rq[1].confidence * plausible(rq[1].text))
        ranked = [(r, q) for r, q in ranked if plausible(q.text) > 0 and q.confidence > 0.05]
        if ranked:
            # Only candidates near the best one's quick score get the full read (it costs ~10 recogniser views).
            top = ranked[0][1].confidence * plausible(ranked[0][1].text)
            ranked = [(r, q) for r, q in ranked if q.confidence * plausible(q.text) >= 0.4 * top][:max_plates]
        # Second pass: the full multi-view read of the best candidates, on a plate-sized region around each.
        regions, boxes = [], []
        for r, _ in ranked:
            region_box = _plate_box(r, gray.shape)
            x, y, w, h = region_box
            regions.append(gray[y:y + h, x:x + w])
            boxes.append(tuple(int(round(v / scale)) for v in region_box))
        reads = self.read_plates(regions, boxes)
        out = sorted((rd for rd in reads if rd is not None), key=lambda rd: -rd.confidence)
        if not out or out[0].confidence < LOW_CONFIDENCE:
            # No confident read from character rows: plates whose glyphs touch their frame give none.
            out = _distinct(sorted(out + self._read_plate_rects(gray, scale), key=lambda rd: -rd.confidence))
        for rd in out:
            x, y, w, h = rd.box
            rd.crop = frame[y:y + h, x:x + w].copy()
        return out

    def _read_plate_rects(self, gray: np.ndarray, scale: float, max_plates: int = 2) -> list[PlateRead]:
        """Read the bright plate-shaped regions of a frame as whole plates, the likeliest few only."""
        rects = plate_rects(gray)
        if not rects:
            return []
        # A quick read of each region's middle, where the number is, ranks them.
        quick = self.recognizer.read([gray[y + int(0.2 * h):y + int(0.85 * h), x:x + w] for x, y, w, h in rects])
        scored = sorted(((q.confidence * plausible(q.text), r) for q, r in zip(quick, rects, strict=True)),
                        key=lambda sr: -sr[0])
        picked = [r for s, r in scored if s > 0.05][:max_plates]
        regions = [gray[y:y + h, x:x + w] for x, y, w, h in picked]
        boxes = [tuple(int(round(v / scale)) for v in r) for r in picked]
        return [rd for rd in self.read_plates(regions, boxes) if rd is not None]


def _distinct(reads: list[PlateRead]) -> list[PlateRead]:
    """The surest read of each plate: a read whose box mostly lies on a surer read's box is the same plate."""
    kept: list[PlateRead] = []
    for rd in reads:
        if all(overlap(rd.box, k.box) <= 0.5 for k in kept):
            kept.append(rd)
    return kept


# A row of at least this many character blobs is taken for the whole plate number (a shorter one is often a part).
MIN_NUMBER_ROW = 4
# How far beyond such a row a full-width view's character may lie and still count, in character heights.
ROW_MARGIN = 1.0


def beside_row(line: TextRead, row: Row, width: int) -> TextRead:
    """A full-width view's read without characters over a character height beyond the number's row: an emblem, a
    bolt or the plate's edge read as a letter. A character the row missed but that sits next to it is kept."""
    lo, hi = row.x - ROW_MARGIN * row.char_h, row.x + row.w + ROW_MARGIN * row.char_h
    keep = [i for i, at in enumerate(line.positions) if lo <= at * width <= hi]
    if len(keep) == len(line.text):
        return line
    return TextRead("".join(line.text[i] for i in keep), tuple(line.probs[i] for i in keep), line.confidence,
                    tuple(line.positions[i] for i in keep))


def without_short_edges(line: TextRead, row: Row, glyphs: LineGlyphs, span: tuple[int, int]) -> TextRead:
    """A read without its leading and trailing characters that lie beside the number's row on a small glyph: plates
    print stacked letters and small prefixes beside the number, and they are not part of it. `span` is the read
    view's (x, width) in the plate image. Where no small glyph is seen (blur broke it into pieces, or no blob at all)
    or a tall one is, the character is kept."""
    if not glyphs.small:
        return line
    x0, width = span
    at = [x0 + p * width for p in line.positions]
    pad = 0.1 * row.char_h

    def short(x: float) -> bool:
        if row.x - pad <= x <= row.x + row.w + pad:
            return False
        return (any(a - pad <= x <= b + pad for a, b in glyphs.small)
                and not any(a - pad <= x <= b + pad for a, b in glyphs.tall))

    first, last = 0, len(at)
    while first < last and short(at[first]):
        first += 1
    while last > first and short(at[last - 1]):
        last -= 1
    if (first, last) == (0, len(at)):
        return line
    return TextRead(line.text[first:last], line.probs[first:last], line.confidence, line.positions[first:last])


def normalise_height(image: np.ndarray) -> np.ndarray:
    """A grey plate image scaled to PLATE_HEIGHT."""
    gray = to_gray(image)
    scale = PLATE_HEIGHT / max(1, gray.shape[0])
    return cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), PLATE_HEIGHT),
                      interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


def stretch(image: np.ndarray, factor: float) -> np.ndarray:
    """Widen an image: plate fonts are condensed, and the recogniser reads a narrow W as H or N."""
    return cv2.resize(image, (max(1, int(image.shape[1] * factor)), image.shape[0]), interpolation=cv2.INTER_CUBIC)


# With a row found, plate_views gives tight, loose, band, whole, then each widened: these span the plate's width.
FULL_WIDTH_VIEWS = (2, 3, 6, 7)


def plate_views(gray: np.ndarray) -> tuple[list[np.ndarray], Row | None]:
    """Several crops of the plate number's line of a PLATE_HEIGHT plate image, each read and then voted."""
    views, _, row = _plate_views(gray)
    return views, row


def _plate_views(gray: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, int]], Row | None]:
    """plate_views, with each view's horizontal span (x, width) in the plate image."""
    rows = [r for r in text_rows(gray) if r.char_h >= 0.3 * gray.shape[0]]
    h, w = gray.shape[:2]
    if rows:
        row = rows[0]
        band = gray[max(0, int(row.y - 0.2 * row.h)):min(h, int(row.y + 1.2 * row.h))]
        base = [crop(gray, row.box, 0.08, 0.12), crop(gray, row.box, 0.25, 0.2), band]
        spans = [_span(gray.shape, row, 0.08), _span(gray.shape, row, 0.25), (0, w)]
    else:
        # No clean character blobs (dirt, low contrast): the bands where plate numbers sit.
        row = None
        base = [gray[int(h * a):int(h * b)] for a, b in ((0.18, 0.85), (0.25, 0.8), (0.1, 0.9))]
        spans = [(0, w)] * 3
    base.append(gray[int(h * 0.15):int(h * 0.88)])
    spans.append((0, w))
    # A widened view spans the same part of the plate: positions, as fractions of its width, map back alike.
    return [*base, *(stretch(v, 1.3) for v in base)], spans * 2, row


def _span(shape: tuple[int, ...], row: Row, pad_x: float) -> tuple[int, int]:
    """The horizontal span (x, width) of crop(gray, row.box, pad_x, ...)."""
    x0, _, x1, _ = crop_bounds(shape, row.box, pad_x, 0.0)
    return x0, x1 - x0


def _plate_box(row: Row, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The plate around a character line: the number is about half the plate's height, most of its width."""
    # A character height on each side; but a row of fewer than five characters is most likely part of a plate
    # number (a glyph joined to the plate's frame, thin diagonals such as X and K lost to blur): then a whole
    # plate's width, 8 character heights, around it.
    half_w = row.w / 2 + row.char_h
    if row.count < 5:
        half_w = max(half_w, 4.0 * row.char_h)
    centre, pad_y = row.x + row.w / 2, 0.55 * row.char_h
    x0, y0 = max(0, int(centre - half_w)), max(0, int(row.y - pad_y))
    x1, y1 = min(shape[1], int(centre + half_w)), min(shape[0], int(row.y + row.h + pad_y))
    return x0, y0, x1 - x0, y1 - y0
