"""The vehicle's dominant colour around its plate, as an NCIC colour code."""

from __future__ import annotations

import cv2
import numpy as np

# NCIC vehicle colour codes for the colours a camera can tell apart in daylight.
CODES = ("BLK", "WHI", "SIL", "GRY", "RED", "ONG", "BRO", "YEL", "GRN", "BLU", "PLE")


def classify_hsv(hsv: np.ndarray) -> np.ndarray:
    """An index into CODES for each HSV pixel (OpenCV ranges: H 0-179, S and V 0-255)."""
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    out = np.full(h.shape, CODES.index("GRY"), dtype=np.int8)
    grey = s < 50
    out[grey & (v > 185)] = CODES.index("WHI")
    out[grey & (v > 120) & (v <= 185)] = CODES.index("SIL")
    hue = [(h < 8) | (h >= 170), (h >= 8) & (h < 20), (h >= 20) & (h < 34), (h >= 34) & (h < 85),
           (h >= 85) & (h < 130), (h >= 130) & (h < 170)]
    for mask, code in zip(hue, ("RED", "ONG", "YEL", "GRN", "BLU", "PLE"), strict=True):
        out[~grey & mask] = CODES.index(code)
    out[~grey & hue[1] & (v < 150)] = CODES.index("BRO")  # dark orange is brown
    out[v < 50] = CODES.index("BLK")
    return out


def vehicle_box(plate_box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of the vehicle around a plate: a bumper-and-boot region a few plate-widths across."""
    x, y, w, h = plate_box
    x0, x1 = max(0, x - int(1.5 * w)), min(shape[1], x + int(2.5 * w))
    y0, y1 = max(0, y - int(3.0 * h)), min(shape[0], y + int(1.5 * h))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def dominant_color(frame: np.ndarray, plate_box: tuple[int, int, int, int]) -> str | None:
    """The most common colour of the vehicle around the plate (the plate itself excluded), or None."""
    vx, vy, vw, vh = vehicle_box(plate_box, frame.shape)
    if vw < 4 or vh < 4:
        return None
    region = frame[vy:vy + vh, vx:vx + vw]
    mask = np.ones(region.shape[:2], dtype=bool)
    x, y, w, h = plate_box
    mask[max(0, y - vy):max(0, y - vy + h), max(0, x - vx):max(0, x - vx + w)] = False
    labels = classify_hsv(cv2.cvtColor(region, cv2.COLOR_BGR2HSV))[mask]
    if labels.size == 0:
        return None
    counts = np.bincount(labels, minlength=len(CODES))
    # Saturated colours are rarer than greys and blacks (shadow, tyres, glass): a chromatic colour that covers
    # a fair part of the region is the paint.
    chromatic = [CODES.index(c) for c in ("RED", "ONG", "BRO", "YEL", "GRN", "BLU", "PLE")]
    best_chroma = max(chromatic, key=lambda i: counts[i])
    if counts[best_chroma] >= 0.25 * labels.size:
        return CODES[best_chroma]
    return CODES[int(counts.argmax())]
