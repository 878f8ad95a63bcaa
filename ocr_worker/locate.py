"""Finding text: rows of character-shaped blobs in a plate, and plate-like rows in a whole frame (OpenCV)."""

from __future__ import annotations

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


def _components(gray: np.ndarray, dark_text: bool, block: int, c: int = 8) -> np.ndarray:
    """(x, y, w, h, area) of each connected component of the text's polarity, background left out."""
    # Adaptive thresholding copes with shadows and gradients across a plate that defeat one global level.
    block = max(3, block | 1)
    mode = cv2.THRESH_BINARY_INV if dark_text else cv2.THRESH_BINARY
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, block, c)
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=4)
    return stats[1:]


def _blobs(gray: np.ndarray, min_h: int, max_h: int, dark_text: bool, block: int, c: int = 8,
           max_w: float = 3.5) -> np.ndarray:
    """Character-shaped connected components as rows of (x, y, w, h, characters in it)."""
    stats = _components(gray, dark_text, block, c)
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
    parent = list(range(len(b)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    xs, ys, ws, hs = (b[:, k].tolist() for k in range(4))
    n = len(b)
    for i in range(n):
        xi, yi, wi, hi = xs[i], ys[i], ws[i], hs[i]
        right = xi + wi
        # Blobs are in x order, and a linkable neighbour is at most 1.3 times as tall: nothing further right
        # than gap * 1.3 * hi can link to this one.
        reach = right + gap * 1.3 * hi + 1  # + 1: float rounding must never cut a link
        for j in range(i + 1, n):
            xj = xs[j]
            if xj > reach:
                break
            yj, hj = ys[j], hs[j]
            if xj - right > gap * max(hi, hj) or xj < xi + 0.3 * wi:
                continue
            if max(hi, hj) > 1.3 * min(hi, hj):
                continue
            if abs((yi + hi / 2) - (yj + hj / 2)) > 0.3 * max(hi, hj):
                continue
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(b)):
        groups.setdefault(find(i), []).append(i)
    rows = []
    for members in groups.values():
        m = b[members]
        if m[:, 4].sum() < min_count:
            continue
        x0, y0 = m[:, 0].min(), m[:, 1].min()
        x1, y1 = (m[:, 0] + m[:, 2]).max(), (m[:, 1] + m[:, 3]).max()
        rows.append(Row(int(x0), int(y0), int(x1 - x0), int(y1 - y0), int(m[:, 4].sum()),
                        float(np.median(m[:, 3])), dark_text))
    return rows


def join_rows(rows: list[Row], max_gap: float = 2.5) -> list[Row]:
    """Join rows that continue one another on the same line (a plate number split by an emblem or a bolt)."""
    rows = sorted(rows, key=lambda r: r.x)
    out: list[Row] = []
    for r in rows:
        for k, o in enumerate(out):
            # The cheap test first: a frame has dozens of rows and most are far apart.
            gap = r.x - (o.x + o.w)
            if not -0.5 * o.char_h < gap < max_gap * o.char_h:
                continue
            same_line = abs((o.y + o.h / 2) - (r.y + r.h / 2)) < 0.3 * max(o.char_h, r.char_h)
            similar = max(o.char_h, r.char_h) < 1.3 * min(o.char_h, r.char_h)
            if same_line and similar and o.dark_text == r.dark_text:
                x0, y0 = min(o.x, r.x), min(o.y, r.y)
                x1, y1 = max(o.x + o.w, r.x + r.w), max(o.y + o.h, r.y + r.h)
                out[k] = Row(x0, y0, x1 - x0, y1 - y0, o.count + r.count,
                             (o.char_h * o.count + r.char_h * r.count) / (o.count + r.count), o.dark_text)
                break
        else:
            out.append(r)
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


def plate_candidates(gray: np.ndarray, min_char_h: int = 8, max_char_h: int = 80, limit: int = 10) -> list[Row]:
    """Rows of 3-9 similar characters anywhere in a frame: where plate numbers are (and some other text)."""
    rows: list[Row] = []
    for dark in (True, False):
        for block, c, max_w in PASSES:
            blobs = _blobs(gray, min_char_h, max_char_h, dark, block=block, c=c, max_w=max_w)
            # A wide glyph (W, M) the blob filter dropped splits a plate number in two: join the halves.
            joined = join_rows(_rows(blobs, 2, dark, gap=0.9), max_gap=1.5)
            rows += [r for r in joined if 3 <= r.count <= 10 and r.w < 9 * r.char_h and not _overlay(r, gray.shape[0])]
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


def _overlay(row: Row, height: int) -> bool:
    """Light text along the top or bottom edge of a frame: the camera's date and time, not a plate."""
    centre = row.y + row.h / 2
    return not row.dark_text and (centre < 0.08 * height or centre > 0.92 * height)


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
