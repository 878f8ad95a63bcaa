"""Finding text: rows of character-shaped blobs in a plate, and plate-like rows in a whole frame (OpenCV)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Row:
    """A horizontal run of character-shaped blobs: its box (x, y, w, h), blob count and median blob height."""

    x: int
    y: int
    w: int
    h: int
    count: int
    char_h: float
    dark_text: bool

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def _components(gray: np.ndarray, dark_text: bool, block: int, c: int = 8, lines: int = 0) -> np.ndarray:
    """(x, y, w, h, area) of each connected component of the text's polarity, background left out.

    lines: when set, horizontal runs at least this long are cut out first (see without_lines).
    """
    # Adaptive thresholding copes with shadows and gradients across a plate that defeat one global level.
    block = max(3, block | 1)
    mode = cv2.THRESH_BINARY_INV if dark_text else cv2.THRESH_BINARY
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, block, c)
    if lines:
        binary = without_lines(binary, lines)
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    return stats[1:]


def without_lines(binary: np.ndarray, length: int) -> np.ndarray:
    """A binary image without its horizontal runs of `length` pixels or more, and a pixel above and below them.

    A dealer's frame or a plate's border touches the glyphs of many plates: as one connected blob with the glyphs it
    hides them from the blob filter. Cut out, it leaves the glyphs standing alone (glyph strokes are shorter).
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    runs = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    return cv2.subtract(binary, cv2.dilate(runs, np.ones((3, 1), np.uint8)))


def _blobs(gray: np.ndarray, min_h: int, max_h: int, dark_text: bool, block: int, c: int = 8,
           max_w: float = 3.5, lines: int = 0) -> np.ndarray:
    """Character-shaped connected components as rows of (x, y, w, h, characters in it)."""
    stats = _components(gray, dark_text, block, c, lines)
    x, y, w, h, area = stats.T
    fill = area / np.maximum(w * h, 1)
    # Plate glyphs are taller than wide (W and M nearly square), solid strokes fill 15-90% of their box. Small
    # or blurred plates run neighbouring glyphs together: a blob up to 3.5 heights wide counts as several.
    ok = (h >= min_h) & (h <= max_h) & (w <= h * max_w) & (w * 10 >= h) & (fill > 0.12) & (fill < 0.92)
    ok &= (w <= h * 1.15) | (fill > 0.3)
    found = stats[ok][:, :4]
    chars = np.maximum(1, np.round(found[:, 2] / (0.6 * found[:, 3]))).astype(found.dtype)
    return np.column_stack([found, chars]) if len(found) else np.zeros((0, 5), dtype=np.int32)


def _rows(blobs: np.ndarray, min_count: int, dark_text: bool, gap: float = 1.1) -> list[Row]:
    """Group blobs into rows: similar height, same centre line, each near the next."""
    if len(blobs) == 0:
        return []
    order = np.argsort(blobs[:, 0])
    b = blobs[order]
    i, j = _linked_pairs(b[:, :4].astype(np.float64), gap)
    parent = list(range(len(b)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, c in zip(i.tolist(), j.tolist(), strict=True):
        parent[find(c)] = find(a)
    roots = np.array([find(k) for k in range(len(b))])
    # Groups in the order of their leftmost blob; per group its box, characters and median blob height.
    _, first, label = np.unique(roots, return_index=True, return_inverse=True)
    by = np.lexsort((b[:, 3], label))
    starts = np.flatnonzero(np.r_[True, np.diff(label[by]) != 0])
    sizes = np.diff(np.r_[starts, len(b)])
    sb = b[by]
    chars = np.add.reduceat(sb[:, 4], starts)
    x0, y0 = np.minimum.reduceat(sb[:, 0], starts), np.minimum.reduceat(sb[:, 1], starts)
    x1 = np.maximum.reduceat(sb[:, 0] + sb[:, 2], starts)
    y1 = np.maximum.reduceat(sb[:, 1] + sb[:, 3], starts)
    median_h = (sb[starts + (sizes - 1) // 2, 3] + sb[starts + sizes // 2, 3]) / 2
    return [Row(int(x0[g]), int(y0[g]), int(x1[g] - x0[g]), int(y1[g] - y0[g]), int(chars[g]), float(median_h[g]),
                dark_text)
            for g in np.argsort(first, kind="stable") if chars[g] >= min_count]


def _linked_pairs(b: np.ndarray, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of blobs (x, y, w, h; in x order) near enough, alike enough and in line to join a row."""
    xs, ys, ws, hs = b.T
    right = xs + ws
    # A linkable neighbour is at most 1.3 times as tall: nothing further right than gap * 1.3 * h can link to a
    # blob. (+ 1: float rounding must never cut a link.)
    ends = np.searchsorted(xs, right + gap * 1.3 * hs + 1, side="right")
    n = len(b)
    counts = np.maximum(ends - np.arange(1, n + 1), 0)
    i = np.repeat(np.arange(n), counts)
    j = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts) + i + 1
    tall, short = np.maximum(hs[i], hs[j]), np.minimum(hs[i], hs[j])
    ok = (xs[j] - right[i] <= gap * tall) & (xs[j] >= xs[i] + 0.3 * ws[i]) & (tall <= 1.3 * short)
    ok &= np.abs((ys[i] + hs[i] / 2) - (ys[j] + hs[j] / 2)) <= 0.3 * tall
    return i[ok], j[ok]


def join_rows(rows: list[Row], max_gap: float = 2.5) -> list[Row]:
    """Join rows that continue one another on the same line (a plate number split by an emblem or a bolt)."""
    rows = sorted(rows, key=lambda r: r.x)
    out: list[Row] = []
    active: list[int] = []  # rows of `out` that a later row may still continue, in `out` order
    for r in rows:
        still: list[int] = []
        for pos, k in enumerate(active):
            o = out[k]
            gap = r.x - (o.x + o.w)
            if gap >= max_gap * o.char_h:
                continue  # rows come in x order: nothing after r can continue o either
            still.append(k)
            if gap <= -0.5 * o.char_h:
                continue
            same_line = abs((o.y + o.h / 2) - (r.y + r.h / 2)) < 0.3 * max(o.char_h, r.char_h)
            similar = max(o.char_h, r.char_h) < 1.3 * min(o.char_h, r.char_h)
            if same_line and similar and o.dark_text == r.dark_text:
                x0, y0 = min(o.x, r.x), min(o.y, r.y)
                x1, y1 = max(o.x + o.w, r.x + r.w), max(o.y + o.h, r.y + r.h)
                out[k] = Row(x0, y0, x1 - x0, y1 - y0, o.count + r.count,
                             (o.char_h * o.count + r.char_h * r.count) / (o.count + r.count), o.dark_text)
                still += active[pos + 1:]
                break
        else:
            out.append(r)
            still.append(len(out) - 1)
        active = still
    return out


def text_rows(gray: np.ndarray, min_frac: float = 0.18, max_frac: float = 0.85, min_count: int = 1) -> list[Row]:
    """Rows of characters in a plate image, both polarities, the plate number's likeliest row first."""
    height = gray.shape[0]
    rows: list[Row] = []
    for dark in (True, False):
        blobs = _blobs(gray, int(height * min_frac), int(height * max_frac), dark, block=_plate_block(height))
        rows += join_rows(_rows(blobs, min_count, dark))
    # The plate number is the row of the tallest characters, and usually the longest such row.
    return sorted(rows, key=lambda r: (-r.char_h * min(r.count, 7), r.y))


def _plate_block(height: int) -> int:
    """The thresholding window for a plate image: a third of its height, about a glyph's width and a half."""
    return height // 3


@dataclass(frozen=True)
class LineGlyphs:
    """Blobs on the number's line of a plate image: the spans (x0, x1) of those as tall as its glyphs, and of small
    glyph-shaped ones standing apart from it (stacked letters, a prefix)."""

    tall: tuple[tuple[int, int], ...]
    small: tuple[tuple[int, int], ...]


def line_glyphs(gray: np.ndarray, row: Row) -> LineGlyphs:
    """The tall and small blobs of a plate image's number row's polarity on its line (the binarisation text_rows
    uses). Nothing is small unless at least two glyphs of the number stand as blobs of their own to measure against:
    blur and a plate's frame join glyphs into one blob, whose height says nothing."""
    x, y, w, h, _ = _components(gray, row.dark_text, _plate_block(gray.shape[0])).T
    on_line = (y < row.y + row.h) & (y + h > row.y)
    separate = on_line & (h >= 0.75 * row.char_h) & (h <= 1.3 * row.char_h) & (w <= h)
    if separate.sum() < 2:
        return LineGlyphs((), ())
    glyph_h = float(np.median(h[separate]))
    tall = on_line & (h >= 0.75 * glyph_h) & (w <= 2.5 * glyph_h)  # wider: the plate's frame or a band
    # Glyph-shaped and apart from the number: a stacked letter or a small prefix, not a glyph's broken stroke (blur
    # breaks a thin S next to its neighbour), a bolt or a sticker's edge.
    gap = 0.1 * glyph_h
    apart = (x + w <= row.x - gap) | (x >= row.x + row.w + gap)
    small = on_line & apart & (h < 0.7 * glyph_h) & (h >= 0.35 * glyph_h) & (w >= 0.25 * h) & (w <= h)
    return LineGlyphs(tuple((int(a), int(a + b)) for a, b in zip(x[tall], w[tall], strict=True)),
                      tuple((int(a), int(a + b)) for a, b in zip(x[small], w[small], strict=True)))


# Two thresholding passes: a coarse one for clean plates, a fine one for small or low-contrast plates.
PASSES = [(31, 8, 1.15), (15, 4, 1.15)]
# Each frame-wide pass runs twice: as it is, and with horizontal runs of 15 px or more cut out first (without_lines),
# which frees glyphs that touch a dealer's frame (12-25 px tall, their strokes shorter than that). With the cut alone,
# the plate was among the ten candidates read in 107 of the 108 development frames rather than 94; but large glyphs
# lose strokes to it, so the uncut pass stays (bench/README.md).
FRAME_LINES = (0, 15)


def plate_candidates(gray: np.ndarray, min_char_h: int = 8, max_char_h: int = 80, limit: int = 10) -> list[Row]:
    """Rows of 3-9 similar characters anywhere in a frame: where plate numbers are (and some other text)."""
    rows: list[Row] = []
    for dark in (True, False):
        for (block, c, max_w), lines in itertools.product(PASSES, FRAME_LINES):
            blobs = _blobs(gray, min_char_h, max_char_h, dark, block=block, c=c, max_w=max_w, lines=lines)
            # A wide glyph (W, M) the blob filter dropped splits a plate number in two: join the halves.
            joined = join_rows(_rows(blobs, 2, dark, gap=0.9), max_gap=1.5)
            rows += [r for r in joined if 3 <= r.count <= 10 and r.w < 9 * r.char_h
                     and not _overlay(r, gray.shape[0], any_polarity=bool(lines))]
    # Plate numbers are rows of 5-8 characters; prefer those, then larger characters (nearer, more legible).
    rows.sort(key=lambda r: (-(min(r.count, 8) - max(0, r.count - 8) * 2), -r.char_h))
    picked: list[Row] = []
    for r in rows:
        # Dark- and light-text passes often find the same row: keep one.
        if any(overlap(r.box, p.box) > 0.5 for p in picked):
            continue
        picked.append(r)
        if len(picked) == limit:
            break
    return picked


def plate_rects(gray: np.ndarray, limit: int = 8) -> list[tuple[int, int, int, int]]:
    """Bright plate-shaped regions in a frame (x, y, w, h): a plate's background inside a dark frame or bumper.

    Plates whose characters touch a dealer's frame or band give no clean character blobs; their light background
    still shows as one region about twice as wide as tall, holed by the characters.
    """
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, -5)
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    x, y, w, h, area = stats[1:].T
    fill = area / np.maximum(w * h, 1)
    ok = (h >= 18) & (h <= 200) & (w >= 1.5 * h) & (w <= 3.0 * h) & (fill > 0.45) & (fill < 0.97)
    found = sorted((tuple(int(v) for v in box) for box in stats[1:][ok][:, :4]), key=lambda b: -b[2] * b[3])
    return found[:limit]


def _overlay(row: Row, height: int, any_polarity: bool = False) -> bool:
    """Light text along the top or bottom edge of a frame: the camera's date and time, not a plate.

    any_polarity: dark rows there count too. Cutting out lines frees the dark outline drawn around an overlay's
    letters into a row of its own; plates at a frame's very edge are still found by the passes that cut nothing.
    """
    centre = row.y + row.h / 2
    return (any_polarity or not row.dark_text) and (centre < 0.08 * height or centre > 0.92 * height)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """How much two boxes (x, y, w, h) overlap: their intersection over the smaller one's area."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def crop(image: np.ndarray, box: tuple[int, int, int, int], pad_x: float, pad_y: float) -> np.ndarray:
    """The box grown by pad_x/pad_y of its height on each side, clipped to the image."""
    x0, y0, x1, y1 = crop_bounds(image.shape, box, pad_x, pad_y)
    return image[y0:y1, x0:x1]


def crop_bounds(shape: tuple[int, ...], box: tuple[int, int, int, int], pad_x: float,
                pad_y: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of what crop() cuts from an image of this shape."""
    x, y, w, h = box
    px, py = int(round(pad_x * h)), int(round(pad_y * h))
    return max(0, x - px), max(0, y - py), min(shape[1], x + w + px), min(shape[0], y + h + py)
